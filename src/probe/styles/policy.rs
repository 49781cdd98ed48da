//! When a client style refreshes its slot map, whom it asks, and how a refresh is described: the rules, apart from
//! the connections they act on.

use std::collections::BTreeSet;
use std::time::Duration;

use super::habit::{self, Habit};
use super::recovery::{is_connection_class, RecoveryHow};
use crate::duration::human;
use crate::probe::ErrorClass;
use crate::topology::Endpoint;

/// Why a refresh was made.
#[derive(Clone)]
pub(super) enum Cause {
    Moved { from: Endpoint },
    ReconnectFailures { endpoint: Endpoint, after: Duration },
    Failure { endpoint: Endpoint, class: ErrorClass },
}

impl Cause {
    pub(super) fn describe(&self) -> String {
        match self {
            Cause::Moved { from } => format!("refreshed on MOVED from {from}"),
            Cause::ReconnectFailures { endpoint, after } => {
                format!("refreshed after {endpoint} failed for {}", human(*after))
            }
            Cause::Failure { endpoint, class } => format!("refreshed after {class} from {endpoint}"),
        }
    }

    pub(super) fn how(&self, at_ms: u64) -> RecoveryHow {
        match self {
            Cause::Moved { from } => RecoveryHow::RefreshedOnMoved { from: from.clone(), at_ms },
            Cause::ReconnectFailures { endpoint, after } => RecoveryHow::RefreshedAfterReconnectFailures {
                endpoint: endpoint.clone(),
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                at_ms,
            },
            Cause::Failure { endpoint, class } => {
                RecoveryHow::RefreshedOnFailure { endpoint: endpoint.clone(), class: *class, at_ms }
            }
        }
    }
}

/// The failures after which direct refreshes its map: anything that says the route may be wrong or the node gone.
pub(super) fn refreshes_direct(class: ErrorClass) -> bool {
    is_connection_class(class)
        || matches!(
            class,
            ErrorClass::ClusterDown
                | ErrorClass::ReadOnly
                | ErrorClass::TryAgain
                | ErrorClass::Loading
                | ErrorClass::MasterDown
        )
}

/// Who direct's refresh asks (at once): `first` if given, every known node and every seed. The other styles
/// ask whom their habit names ([`habit_candidates`]).
pub(super) fn direct_candidates(first: Option<&Endpoint>, known: &[Endpoint], seeds: &[Endpoint]) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    let mut push = |ep: &Endpoint| {
        if !out.contains(ep) {
            out.push(ep.clone());
        }
    };
    if let Some(ep) = first {
        push(ep);
    }
    for ep in known.iter().chain(seeds) {
        push(ep);
    }
    out
}

/// Who a refresh of `habit` asks, in order: its [`sources`](habit::sources()) with `first` as the node that
/// redirected. The emulated styles keep no retired connections and never shuffle, so neither is passed.
pub(super) fn habit_candidates(
    habit: &Habit,
    first: Option<&Endpoint>,
    known: &[Endpoint],
    failing: &BTreeSet<Endpoint>,
    seeds: &[Endpoint],
) -> Vec<Endpoint> {
    let view = habit::View { redirector: first, ..habit::View::of(known, failing, seeds, 0) };
    habit::sources(habit, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    #[test]
    fn causes_describe_themselves() {
        let moved = Cause::Moved { from: ep(7001) };
        assert_eq!(moved.describe(), "refreshed on MOVED from 127.0.0.1:7001");
        let rr = Cause::ReconnectFailures { endpoint: ep(7002), after: Duration::from_millis(2100) };
        assert!(rr.describe().starts_with("refreshed after 127.0.0.1:7002 failed for "));
        let f = Cause::Failure { endpoint: ep(7003), class: ErrorClass::ClusterDown };
        assert_eq!(f.describe(), "refreshed after cluster_down from 127.0.0.1:7003");
        assert_eq!(
            f.how(5),
            RecoveryHow::RefreshedOnFailure { endpoint: ep(7003), class: ErrorClass::ClusterDown, at_ms: 5 }
        );
    }

    #[test]
    fn direct_refreshes_on_every_sign_of_a_wrong_route() {
        for class in [
            ErrorClass::Timeout,
            ErrorClass::ConnectionRefused,
            ErrorClass::ConnectionClosed,
            ErrorClass::ClusterDown,
            ErrorClass::ReadOnly,
            ErrorClass::TryAgain,
        ] {
            assert!(refreshes_direct(class), "{class}");
        }
        for class in [ErrorClass::Auth, ErrorClass::NoPerm, ErrorClass::WrongValue, ErrorClass::Other] {
            assert!(!refreshes_direct(class), "{class}");
        }
    }

    #[test]
    fn candidates_follow_each_style() {
        use crate::probe::styles::ClientStyle;
        let known = [ep(1), ep(2), ep(3)];
        let failing: BTreeSet<Endpoint> = [ep(2)].into_iter().collect();
        let seeds = [ep(9), ep(1)];
        let moved_only = ClientStyle::MovedOnly.habit().unwrap();
        let rr = ClientStyle::ReconnectRefresh.habit().unwrap();
        // moved-only: the MOVED sender, every other known node, the seeds.
        assert_eq!(habit_candidates(&moved_only, Some(&ep(3)), &known, &failing, &seeds), [ep(3), ep(1), ep(2), ep(9)]);
        // reconnect-refresh: the known nodes that are not failing, the seeds (after a MOVED, its sender first).
        assert_eq!(habit_candidates(&rr, None, &known, &failing, &seeds), [ep(1), ep(3), ep(9)]);
        assert_eq!(habit_candidates(&rr, Some(&ep(2)), &known, &failing, &seeds), [ep(2), ep(1), ep(3), ep(9)]);
        assert_eq!(direct_candidates(None, &known, &seeds), [ep(1), ep(2), ep(3), ep(9)]);
    }
}
