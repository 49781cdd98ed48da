//! One command to one node, as a cluster client sends it: the command itself, `ASKING` first when a slot is
//! being migrated, and the failure as the client sees it (class, message, redirect).

use std::time::Duration;

use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand, Expiration};

use super::redirect::{parse_redirect, Redirect};
use super::router::Router;
use crate::duration::human;
use crate::errfmt::fred_error;
use crate::error::AppError;
use crate::probe::{classify, classify_message, ErrorClass};
use crate::topology::Endpoint;

/// A failed command, as the client sees it.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) class: ErrorClass,
    pub(super) message: String,
    pub(super) redirect: Option<Redirect>,
}

impl Failure {
    pub(super) fn from_fred(err: &fred::error::Error, node: &Endpoint) -> Self {
        Failure { class: classify(err), message: fred_error(err), redirect: parse_redirect(err.details(), node) }
    }

    /// A per-node connection that could not be made.
    pub(super) fn from_connect(err: &AppError) -> Self {
        let message = err.to_string();
        let class = match err {
            AppError::Auth(_) => ErrorClass::Auth,
            _ => match classify_message(&message) {
                ErrorClass::Other if message.contains("did not answer") => ErrorClass::Timeout,
                ErrorClass::Other => ErrorClass::ConnectionClosed,
                class => class,
            },
        };
        Failure { class, message, redirect: None }
    }

    pub(super) fn timed_out(timeout: Duration) -> Self {
        Failure { class: ErrorClass::Timeout, message: format!("no answer within {}", human(timeout)), redirect: None }
    }

    /// The node's connection is down and reconnecting: the command is not queued behind the reconnect.
    pub(super) fn not_connected(ep: &Endpoint) -> Self {
        Failure {
            class: ErrorClass::ConnectionClosed,
            message: format!("{ep}: connection lost, reconnecting"),
            redirect: None,
        }
    }

    /// The slot map names no owner for `slot`.
    pub(super) fn unrouted(slot: u16) -> Self {
        Failure {
            class: ErrorClass::ClusterDown,
            message: format!("slot {slot} has no owner in the client's slot map"),
            redirect: None,
        }
    }
}

/// The two commands of a probe.
pub(super) enum Cmd<'a> {
    Set { key: &'a str, value: &'a str, px: i64 },
    Get { key: &'a str },
}

/// Sends `cmd` to `ep` over the router's connection to it (`ASKING` first when `asking`). With `fail_fast`, a
/// connection that is down fails the command at once instead of queueing it until the reconnect or the timeout.
pub(super) async fn send(
    r: &Router,
    ep: &Endpoint,
    cmd: &Cmd<'_>,
    asking: bool,
    fail_fast: bool,
) -> Result<Option<String>, Failure> {
    let client = r.pool.get(ep).await.map_err(|e| Failure::from_connect(&e))?;
    if fail_fast && !client.is_connected() {
        return Err(Failure::not_connected(ep));
    }
    let result = if asking {
        asking_then(&client, cmd).await
    } else {
        match *cmd {
            Cmd::Set { key, value, px } => {
                client.set::<(), _, _>(key, value, Some(Expiration::PX(px)), None, false).await.map(|()| None)
            }
            Cmd::Get { key } => client.get::<Option<String>, _>(key).await,
        }
    };
    result.map_err(|e| Failure::from_fred(&e, ep))
}

/// `ASKING` and the command, pipelined so no other command of this connection slips in between.
async fn asking_then(client: &Client, cmd: &Cmd<'_>) -> Result<Option<String>, fred::error::Error> {
    let pipeline = client.pipeline();
    let asking = CustomCommand::new_static("ASKING", ClusterHash::FirstKey, false);
    pipeline.custom::<(), Vec<String>>(asking, Vec::new()).await?;
    match *cmd {
        Cmd::Set { key, value, px } => {
            pipeline.set::<(), _, _>(key, value, Some(Expiration::PX(px)), None, false).await?
        }
        Cmd::Get { key } => pipeline.get::<(), _>(key).await?,
    }
    let last = pipeline.try_all::<Value>().await.pop().unwrap_or_else(|| Ok(Value::Null))?;
    match last {
        Value::Null | Value::Queued => Ok(None),
        other => Ok(other.as_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_are_classified() {
        let refused = AppError::Connect("cannot connect to 127.0.0.1:1: connection refused".into());
        assert_eq!(Failure::from_connect(&refused).class, ErrorClass::ConnectionRefused);
        let slow = AppError::Connect("127.0.0.1:1 did not answer within 3.5s".into());
        assert_eq!(Failure::from_connect(&slow).class, ErrorClass::Timeout);
        let auth = AppError::Auth("authentication failed at x".into());
        assert_eq!(Failure::from_connect(&auth).class, ErrorClass::Auth);
        let other = AppError::Connect("cannot connect to x: boom".into());
        assert_eq!(Failure::from_connect(&other).class, ErrorClass::ConnectionClosed);
    }

    #[test]
    fn moved_errors_carry_their_redirect() {
        let err = fred::error::Error::new(fred::error::ErrorKind::Cluster, "MOVED 3999 127.0.0.1:7004");
        let f = Failure::from_fred(&err, &Endpoint::new("127.0.0.1", 7001));
        assert_eq!(f.class, ErrorClass::Moved);
        assert_eq!(f.redirect, Some(Redirect::Moved { slot: 3999, to: Endpoint::new("127.0.0.1", 7004) }));
    }

    #[test]
    fn a_lost_connection_is_a_connection_failure() {
        let f = Failure::not_connected(&Endpoint::new("127.0.0.1", 7001));
        assert_eq!(f.class, ErrorClass::ConnectionClosed);
        assert!(f.message.contains("127.0.0.1:7001"));
        assert_eq!(Failure::unrouted(7).class, ErrorClass::ClusterDown);
    }
}
