//! When a client style refreshes its slot map, whom it asks, and how a refresh is described: the rules, apart from
//! the connections they act on.

use std::time::Duration;

use super::habit::Trigger;
use super::recovery::{is_connection_class, RecoveryHow};
use crate::duration::human;
use crate::probe::ErrorClass;
use crate::topology::Endpoint;

/// Why a refresh was made.
#[derive(Clone)]
pub(super) enum Cause {
    /// A MOVED from `from` (every MOVED, or the n-th).
    Moved { from: Endpoint },
    /// `endpoint` had been reconnecting (failing) for `after`.
    ReconnectFailures { endpoint: Endpoint, after: Duration },
    /// direct: a failure of class `class` at `endpoint`.
    Failure { endpoint: Endpoint, class: ErrorClass },
    /// Any other trigger of a habit, with the node behind it if there was one.
    Habit { trigger: Trigger, endpoint: Option<Endpoint> },
}

impl Cause {
    /// The cause of a refresh `trigger` asked for, `endpoint` the node behind it, failing for `failing_for`.
    pub(super) fn of(trigger: Trigger, endpoint: Option<&Endpoint>, failing_for: Duration) -> Cause {
        match (trigger, endpoint) {
            (Trigger::Moved | Trigger::MovedNth(_), Some(from)) => Cause::Moved { from: from.clone() },
            (Trigger::ReconnectingFor(_) | Trigger::ReconnectAttempts(_), Some(ep)) => {
                Cause::ReconnectFailures { endpoint: ep.clone(), after: failing_for }
            }
            (trigger, endpoint) => Cause::Habit { trigger, endpoint: endpoint.cloned() },
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Cause::Moved { from } => format!("refreshed on MOVED from {from}"),
            Cause::ReconnectFailures { endpoint, after } => {
                format!("refreshed after {endpoint} failed for {}", human(*after))
            }
            Cause::Failure { endpoint, class } => format!("refreshed after {class} from {endpoint}"),
            Cause::Habit { trigger, endpoint } => {
                let what = trigger.describe();
                match endpoint {
                    Some(ep) => format!("{what} ({ep})"),
                    None => what,
                }
            }
        }
    }

    /// How a shard that this refresh moved recovered; `map_from` answered, `from_seed` if it was a seed only.
    pub(super) fn how(&self, at_ms: u64, map_from: &Endpoint, from_seed: bool) -> RecoveryHow {
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
            Cause::Habit { trigger, endpoint } => RecoveryHow::Refreshed {
                trigger: trigger.describe(),
                endpoint: endpoint.clone(),
                map_from: map_from.clone(),
                from_seed,
                at_ms,
            },
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
            f.how(5, &ep(1), false),
            RecoveryHow::RefreshedOnFailure { endpoint: ep(7003), class: ErrorClass::ClusterDown, at_ms: 5 }
        );
        let p = Cause::of(Trigger::Periodic(Duration::from_secs(60)), None, Duration::ZERO);
        assert_eq!(p.describe(), "periodic refresh (every 60s)");
        let a = Cause::of(Trigger::Age(Duration::from_secs(10)), Some(&ep(7001)), Duration::ZERO);
        assert_eq!(a.describe(), "reload of a map older than 10s (127.0.0.1:7001)");
        assert!(matches!(
            Cause::of(Trigger::ReconnectAttempts(5), Some(&ep(7)), Duration::from_secs(1)),
            Cause::ReconnectFailures { .. }
        ));
        assert!(matches!(Cause::of(Trigger::MovedNth(5), Some(&ep(7)), Duration::ZERO), Cause::Moved { .. }));
        match p.how(9, &ep(9), true) {
            RecoveryHow::Refreshed { from_seed, map_from, .. } => assert!(from_seed && map_from == ep(9)),
            other => panic!("{other:?}"),
        }
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
    fn direct_asks_everyone() {
        let known = [ep(1), ep(2), ep(3)];
        let seeds = [ep(9), ep(1)];
        assert_eq!(direct_candidates(None, &known, &seeds), [ep(1), ep(2), ep(3), ep(9)]);
        assert_eq!(direct_candidates(Some(&ep(3)), &known, &seeds), [ep(3), ep(1), ep(2), ep(9)]);
    }
}
