//! `direct`: the cluster's own availability. On any sign of a wrong route or a gone node it reads the map again
//! at once from everyone it knows, in parallel, and follows a redirect the map does not yet reflect; a
//! connection that is down fails at once. No client habit, so a shard's outage is what its servers did.

use std::sync::Arc;

use super::cluster::{Call, Inner};
use super::policy::{refreshes_direct, Cause};
use super::recovery::is_connection_class;
use super::redirect::Redirect;
use super::refresh::Asked;
use super::send::Failure;
use crate::topology::Endpoint;

impl Inner {
    pub(super) async fn run_direct(
        self: &Arc<Self>,
        call: &Call<'_>,
        in_flight: &mut Option<(Endpoint, std::time::Instant)>,
    ) -> Result<Option<String>, Failure> {
        let r = &self.router;
        let ep = r.route(call.slot).ok_or_else(|| Failure::unrouted(call.slot))?;
        let failure = match self.attempt(call, &ep, false, true, in_flight).await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        if let Some(Redirect::Ask { to, .. }) = &failure.redirect {
            return self.attempt(call, to, true, true, in_flight).await;
        }
        let cause = match &failure.redirect {
            Some(Redirect::Moved { .. }) => Cause::Moved { from: ep.clone() },
            None if refreshes_direct(failure.class) => Cause::Failure { endpoint: ep.clone(), class: failure.class },
            _ => return Err(failure),
        };
        let away = is_connection_class(failure.class).then(|| (ep.clone(), call.slot));
        // direct acts on what it saw just now: a map installed while this command waited (a refresh for another
        // shard) does not stand in for the refresh this failure asks for.
        let seen = r.generation();
        // In a task of its own: a refresh cut short by this probe's timeout still completes for the next one.
        let inner = Arc::clone(self);
        let asked = Asked { away, ..Asked::default() };
        let _ = tokio::spawn(async move { inner.refresh(cause, seen, &asked).await }).await;
        let next = r.route(call.slot).ok_or_else(|| Failure::unrouted(call.slot))?;
        match failure.redirect {
            // A map still behind the node that redirected: follow the redirect itself, as clients do.
            Some(Redirect::Moved { to, .. }) if next == ep => self.attempt(call, &to, false, true, in_flight).await,
            Some(Redirect::Moved { .. }) => self.attempt(call, &next, false, true, in_flight).await,
            _ if next != ep => self.attempt(call, &next, false, true, in_flight).await,
            _ => Err(failure),
        }
    }
}
