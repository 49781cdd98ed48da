//! How each shard came back after it was seen failing: the bookkeeping behind
//! [`EmulatedCluster::recovery`](super::EmulatedCluster::recovery). Pure: times come in as run offsets (ms).

use serde::{Deserialize, Serialize};

use crate::probe::ErrorClass;
use crate::topology::{Endpoint, SlotRange};

/// How a shard recovered, or why it has not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecoveryHow {
    /// The shard never failed.
    NeverFailed,
    /// A node answered MOVED; the map was refreshed and now routes the shard elsewhere.
    RefreshedOnMoved {
        /// The node that answered MOVED.
        from: Endpoint,
        /// When the refreshed map was installed (ms since the run started).
        at_ms: u64,
    },
    /// The routed node failed for `after_ms`, so the map was refreshed (reconnect-refresh).
    RefreshedAfterReconnectFailures {
        /// The failing node.
        endpoint: Endpoint,
        /// How long it had been failing when the refresh was made.
        after_ms: u64,
        /// When the refreshed map was installed.
        at_ms: u64,
    },
    /// A failure (connection error, timeout, CLUSTERDOWN, READONLY, ...) made the client refresh its map at
    /// once, and the new map routes the shard elsewhere (direct).
    RefreshedOnFailure {
        /// The node the failure came from.
        endpoint: Endpoint,
        /// What failed.
        class: ErrorClass,
        /// When the refreshed map was installed.
        at_ms: u64,
    },
    /// Another trigger of the client's habit (a periodic refresh, reconnect attempts, an old map, ...) made it
    /// refresh its map, and the new map routes the shard elsewhere.
    Refreshed {
        /// The trigger in words, e.g. `refresh after 5 reconnect attempts`.
        trigger: String,
        /// The node behind the trigger, if one was.
        endpoint: Option<Endpoint>,
        /// The node the new map was read from.
        map_from: Endpoint,
        /// That node was a seed the map did not name: the client fell back to its seeds.
        from_seed: bool,
        /// When the refreshed map was installed.
        at_ms: u64,
    },
    /// The same node answered again, without any change of route.
    RecoveredInPlace {
        /// The node.
        endpoint: Endpoint,
        /// The first success.
        at_ms: u64,
    },
    /// The client's own routing moved the shard to another node (fred re-syncing by itself).
    Rerouted {
        /// Where the failures were.
        from: Endpoint,
        /// Where the first success was.
        to: Endpoint,
        /// The first success.
        at_ms: u64,
    },
    /// Still failing with connection errors or timeouts, retrying the same node.
    StuckRetrying {
        /// The node being retried.
        endpoint: Endpoint,
        /// The first failure on it.
        since_ms: u64,
    },
    /// Still failing, with a reply from the node (e.g. `CLUSTERDOWN`) rather than a connection error.
    Failing {
        /// The node answering.
        endpoint: Endpoint,
        /// The last failure's class.
        class: ErrorClass,
        /// The first failure on it.
        since_ms: u64,
    },
}

/// One episode of a shard failing (or a shard that never failed), for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecovery {
    /// The shard's slots when it was first seen failing (or now, for a shard that never failed).
    pub slots: Vec<SlotRange>,
    /// The slots as text, e.g. `0-5460`.
    pub label: String,
    /// The first failure (ms since the run started).
    pub first_failure_ms: Option<u64>,
    /// The first success after the failures.
    pub recovered_ms: Option<u64>,
    /// `recovered_ms - first_failure_ms`.
    pub outage_ms: Option<u64>,
    /// Failed operations in the episode (a followed MOVED counts once).
    pub failures: u64,
    /// The class of the last failure.
    pub last_class: Option<ErrorClass>,
    /// How it recovered, or why not.
    pub how: RecoveryHow,
}

/// Connection errors and timeouts: the node did not answer at all.
pub(super) fn is_connection_class(class: ErrorClass) -> bool {
    matches!(class, ErrorClass::Timeout | ErrorClass::ConnectionRefused | ErrorClass::ConnectionClosed)
}

#[derive(Debug, Clone)]
struct Episode {
    slots: Vec<SlotRange>,
    first_failure_ms: u64,
    endpoint: Endpoint,
    endpoint_since_ms: u64,
    last_class: ErrorClass,
    failures: u64,
    how: Option<RecoveryHow>,
    recovered_ms: Option<u64>,
}

impl Episode {
    fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|r| r.contains(slot))
    }
}

/// Failure episodes per shard, in the order they started.
#[derive(Debug, Default)]
pub(super) struct RecoveryBook {
    episodes: Vec<Episode>,
}

impl RecoveryBook {
    fn open_mut(&mut self, slot: u16) -> Option<&mut Episode> {
        self.episodes.iter_mut().find(|e| e.recovered_ms.is_none() && e.owns(slot))
    }

    /// An operation on `slot`, started at `started_ms`, failed at `endpoint`; `shard` is the slots of its
    /// shard in the current map. An operation started before the shard's last recovery is a straggler (it
    /// was sent before the client moved on) and opens no new episode.
    pub(super) fn failure(
        &mut self,
        slot: u16,
        shard: &[SlotRange],
        endpoint: &Endpoint,
        class: ErrorClass,
        at_ms: u64,
        started_ms: u64,
    ) {
        let straggler = self.episodes.iter().any(|e| e.owns(slot) && e.recovered_ms.is_some_and(|r| r > started_ms));
        if let Some(ep) = self.open_mut(slot) {
            if ep.endpoint != *endpoint {
                ep.endpoint = endpoint.clone();
                ep.endpoint_since_ms = at_ms;
            }
            ep.last_class = class;
            ep.failures += 1;
            return;
        }
        if straggler {
            return;
        }
        let slots = if shard.is_empty() { vec![SlotRange::single(slot)] } else { shard.to_vec() };
        self.episodes.push(Episode {
            slots,
            first_failure_ms: at_ms,
            endpoint: endpoint.clone(),
            endpoint_since_ms: at_ms,
            last_class: class,
            failures: 1,
            how: None,
            recovered_ms: None,
        });
    }

    /// An operation on `slot` succeeded at `endpoint`: closes the shard's open episode.
    pub(super) fn success(&mut self, slot: u16, endpoint: &Endpoint, at_ms: u64) {
        let Some(ep) = self.open_mut(slot) else {
            return;
        };
        ep.recovered_ms = Some(at_ms);
        if ep.how.is_none() {
            ep.how = Some(if ep.endpoint == *endpoint {
                RecoveryHow::RecoveredInPlace { endpoint: endpoint.clone(), at_ms }
            } else {
                RecoveryHow::Rerouted { from: ep.endpoint.clone(), to: endpoint.clone(), at_ms }
            });
        }
    }

    /// The open episodes: a slot of each (to look its route up) and the endpoint its failures were on.
    pub(super) fn open(&self) -> Vec<(u16, Endpoint)> {
        self.episodes
            .iter()
            .filter(|e| e.recovered_ms.is_none())
            .filter_map(|e| e.slots.first().map(|r| (r.start, e.endpoint.clone())))
            .collect()
    }

    /// A map refresh re-routed the open episode of `slot`: this is how it is going to recover.
    pub(super) fn rerouted_by(&mut self, slot: u16, how: RecoveryHow) {
        if let Some(ep) = self.open_mut(slot) {
            ep.how = Some(how);
        }
    }

    /// Every episode, plus a `NeverFailed` entry for each of `shards` (current slot sets) that never had
    /// one; sorted by first slot, then by start.
    pub(super) fn snapshot(&self, shards: &[Vec<SlotRange>]) -> Vec<ShardRecovery> {
        let mut out: Vec<ShardRecovery> = self.episodes.iter().map(report).collect();
        for slots in shards {
            let Some(first) = slots.first() else { continue };
            if !self.episodes.iter().any(|e| e.owns(first.start)) {
                out.push(ShardRecovery {
                    slots: slots.clone(),
                    label: label(slots),
                    first_failure_ms: None,
                    recovered_ms: None,
                    outage_ms: None,
                    failures: 0,
                    last_class: None,
                    how: RecoveryHow::NeverFailed,
                });
            }
        }
        out.sort_by_key(|r| (r.slots.first().map(|s| s.start), r.first_failure_ms.unwrap_or(0)));
        out
    }
}

fn report(e: &Episode) -> ShardRecovery {
    let how = match (&e.how, e.recovered_ms) {
        (Some(how), _) => how.clone(),
        (None, _) if is_connection_class(e.last_class) => {
            RecoveryHow::StuckRetrying { endpoint: e.endpoint.clone(), since_ms: e.endpoint_since_ms }
        }
        (None, _) => {
            RecoveryHow::Failing { endpoint: e.endpoint.clone(), class: e.last_class, since_ms: e.endpoint_since_ms }
        }
    };
    ShardRecovery {
        slots: e.slots.clone(),
        label: label(&e.slots),
        first_failure_ms: Some(e.first_failure_ms),
        recovered_ms: e.recovered_ms,
        outage_ms: e.recovered_ms.map(|r| r.saturating_sub(e.first_failure_ms)),
        failures: e.failures,
        last_class: Some(e.last_class),
        how,
    }
}

/// `0-5460` or `0-10,20-30`.
pub(super) fn label(slots: &[SlotRange]) -> String {
    slots.iter().map(SlotRange::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    fn shards() -> Vec<Vec<SlotRange>> {
        vec![vec![SlotRange::new(0, 5460)], vec![SlotRange::new(5461, 10922)], vec![SlotRange::new(10923, 16383)]]
    }

    #[test]
    fn a_dead_node_retried_is_stuck_and_others_never_failed() {
        let mut book = RecoveryBook::default();
        let s = shards();
        book.failure(100, &s[0], &ep(7000), ErrorClass::ConnectionClosed, 1000, 1000);
        book.failure(100, &s[0], &ep(7000), ErrorClass::Timeout, 2100, 2100);
        let snap = book.snapshot(&s);
        assert_eq!(snap.len(), 3);
        assert_eq!(snap[0].how, RecoveryHow::StuckRetrying { endpoint: ep(7000), since_ms: 1000 });
        assert_eq!(snap[0].failures, 2);
        assert_eq!(snap[0].label, "0-5460");
        assert_eq!(snap[0].recovered_ms, None);
        assert_eq!(snap[1].how, RecoveryHow::NeverFailed);
        assert_eq!(snap[2].how, RecoveryHow::NeverFailed);
    }

    #[test]
    fn a_refresh_then_success_closes_with_the_refresh() {
        let mut book = RecoveryBook::default();
        let s = shards();
        book.failure(6000, &s[1], &ep(7001), ErrorClass::Moved, 500, 500);
        assert_eq!(book.open(), vec![(5461, ep(7001))]);
        book.rerouted_by(5461, RecoveryHow::RefreshedOnMoved { from: ep(7001), at_ms: 510 });
        book.success(6000, &ep(7004), 515);
        assert!(book.open().is_empty());
        let snap = book.snapshot(&s);
        let r = &snap[1];
        assert_eq!(r.how, RecoveryHow::RefreshedOnMoved { from: ep(7001), at_ms: 510 });
        assert_eq!((r.recovered_ms, r.outage_ms), (Some(515), Some(15)));
        // A straggler sent before the recovery opens nothing; a later failure is a new episode.
        book.failure(6000, &s[1], &ep(7001), ErrorClass::Timeout, 1500, 505);
        assert_eq!(book.snapshot(&s).len(), 3);
        book.failure(6000, &s[1], &ep(7004), ErrorClass::ClusterDown, 900, 900);
        let snap = book.snapshot(&s);
        assert_eq!(snap.len(), 4);
        assert!(matches!(snap[2].how, RecoveryHow::Failing { class: ErrorClass::ClusterDown, since_ms: 900, .. }));
    }

    #[test]
    fn success_without_refresh_is_in_place_or_rerouted() {
        let mut book = RecoveryBook::default();
        let s = shards();
        book.failure(1, &s[0], &ep(7000), ErrorClass::ClusterDown, 10, 10);
        book.success(1, &ep(7000), 20);
        book.failure(11000, &s[2], &ep(7002), ErrorClass::Timeout, 30, 30);
        book.success(11000, &ep(7005), 40);
        let snap = book.snapshot(&s);
        assert_eq!(snap[0].how, RecoveryHow::RecoveredInPlace { endpoint: ep(7000), at_ms: 20 });
        assert_eq!(snap[2].how, RecoveryHow::Rerouted { from: ep(7002), to: ep(7005), at_ms: 40 });
    }

    #[test]
    fn serialises_with_a_kind_tag() {
        let how = RecoveryHow::RefreshedAfterReconnectFailures { endpoint: ep(7000), after_ms: 2000, at_ms: 3000 };
        assert_eq!(
            serde_json::to_string(&how).unwrap(),
            r#"{"kind":"refreshed_after_reconnect_failures","endpoint":{"host":"127.0.0.1","port":7000},"after_ms":2000,"at_ms":3000}"#
        );
        let back: RecoveryHow = serde_json::from_str(&serde_json::to_string(&how).unwrap()).unwrap();
        assert_eq!(back, how);
    }
}
