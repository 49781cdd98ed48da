//! Stale-topology diagnosis: from the topology at the start of a run, at the previous poll and now, plus the
//! endpoints that cannot be reached, name the situations in which a client's cached view of the cluster can no
//! longer heal by itself. Pure logic: the caller polls, probes reachability and puts the results on the timeline.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clock::Stamp;
use crate::events::NoticeEvent;
use crate::topology::{ranges_from_slots, Endpoint, SlotRange, Topology, SLOT_COUNT};

/// A situation a client with a stale topology cannot recover from on its own. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnosis {
    /// Slots whose owner is now unreachable are served by another endpoint.
    DeadOwnerMoved {
        /// The slots, sorted.
        slots: Vec<SlotRange>,
        /// Their former owner, now unreachable.
        dead_endpoint: Endpoint,
        /// The endpoint that serves them now.
        new_owner: Endpoint,
        /// Why this matters, for people.
        explanation: String,
    },
    /// Every endpoint known at the start is gone or unreachable, while the seed answers with a new topology.
    AllKnownEndpointsGone {
        /// The endpoints advertised at the start.
        original: Vec<Endpoint>,
        /// The endpoints advertised now.
        current: Vec<Endpoint>,
        /// Why this matters, for people.
        explanation: String,
    },
}

impl Diagnosis {
    /// The serialised `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Diagnosis::DeadOwnerMoved { .. } => "dead_owner_moved",
            Diagnosis::AllKnownEndpointsGone { .. } => "all_known_endpoints_gone",
        }
    }

    /// The human explanation.
    pub fn explanation(&self) -> &str {
        match self {
            Diagnosis::DeadOwnerMoved { explanation, .. } | Diagnosis::AllKnownEndpointsGone { explanation, .. } => {
                explanation
            }
        }
    }

    /// The endpoint a diagnosis is about, which with the kind makes it unique: the dead owner, or none for the
    /// run-wide loss of every original endpoint.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            Diagnosis::DeadOwnerMoved { dead_endpoint, .. } => Some(dead_endpoint),
            Diagnosis::AllKnownEndpointsGone { .. } => None,
        }
    }

    /// A `diagnosis` notice for the timeline.
    pub fn to_notice(&self, stamp: Stamp) -> NoticeEvent {
        NoticeEvent {
            stamp,
            kind: "diagnosis".to_string(),
            detail: self.explanation().to_string(),
            data: serde_json::to_value(self).ok(),
        }
    }
}

fn list(endpoints: &[Endpoint]) -> String {
    endpoints.iter().map(Endpoint::to_string).collect::<Vec<_>>().join(", ")
}

fn ranges_text(ranges: &[SlotRange]) -> String {
    let count: u32 = ranges.iter().map(SlotRange::len).sum();
    let parts: Vec<String> = ranges.iter().map(SlotRange::to_string).collect();
    format!("{count} slot{} ({})", if count == 1 { "" } else { "s" }, parts.join(","))
}

fn owners(t: &Topology) -> Vec<Option<&Endpoint>> {
    let mut owners = vec![None; usize::from(SLOT_COUNT)];
    for shard in &t.shards {
        for slot in shard.slots.iter().flat_map(SlotRange::slots) {
            if let Some(owner) = owners.get_mut(usize::from(slot)) {
                *owner = Some(&shard.primary.endpoint);
            }
        }
    }
    owners
}

/// Everything that is wrong now, reported or not. `previous` is the topology of the previous poll (the start one
/// at the first poll): a slot counts as the dead endpoint's if it owned it in either. A new owner that is itself
/// unreachable serves nothing, so it raises nothing yet.
pub fn diagnose(
    start: &Topology,
    previous: &Topology,
    current: &Topology,
    unreachable: &BTreeSet<Endpoint>,
) -> Vec<Diagnosis> {
    let mut out = Vec::new();

    let now = owners(current);
    let mut moved: BTreeMap<(&Endpoint, &Endpoint), BTreeSet<u16>> = BTreeMap::new();
    for before in [owners(start), owners(previous)] {
        for (slot, (was, is)) in (0..SLOT_COUNT).zip(before.iter().zip(&now)) {
            if let (Some(dead), Some(new)) = (*was, *is) {
                if dead != new && unreachable.contains(dead) && !unreachable.contains(new) {
                    moved.entry((dead, new)).or_default().insert(slot);
                }
            }
        }
    }
    for ((dead, new), slots) in moved {
        let slots = ranges_from_slots(slots);
        let explanation = format!(
            "{} that {dead} served are now served by {new}, but {dead} is unreachable: a client that refreshes its \
             slot map only when a node answers MOVED or ASK keeps sending them to {dead}, which can never answer, \
             so it never learns the new owner; it recovers only if it also refreshes on connection errors or on a \
             timer",
            ranges_text(&slots)
        );
        out.push(Diagnosis::DeadOwnerMoved { slots, dead_endpoint: dead.clone(), new_owner: new.clone(), explanation });
    }

    let original = start.endpoints();
    let current_eps = current.endpoints();
    let present: BTreeSet<&Endpoint> = current_eps.iter().collect();
    let all_gone = original.iter().all(|e| !present.contains(e) || unreachable.contains(e));
    // "A new topology": some endpoint the start did not know, and that can be reached, which a client that asks
    // the seed again would find.
    let something_new = current_eps.iter().any(|e| !original.contains(e) && !unreachable.contains(e));
    if !original.is_empty() && all_gone && something_new {
        let explanation = format!(
            "every endpoint advertised at the start ({}) is gone or unreachable, while the seed now advertises {}: a \
             client that rediscovers the cluster only through nodes it already knows cannot recover; one that falls \
             back to the seed address can",
            list(&original),
            list(&current_eps)
        );
        out.push(Diagnosis::AllKnownEndpointsGone { original, current: current_eps, explanation });
    }
    out
}

/// Runs [`diagnose`] poll after poll, remembering the previous topology and raising each diagnosis once per
/// (kind, endpoint) for the whole run.
#[derive(Debug, Clone)]
pub struct Diagnoser {
    start: Topology,
    previous: Topology,
    reported: BTreeSet<(&'static str, Option<Endpoint>)>,
}

impl Diagnoser {
    /// Starts with the topology the run began with.
    pub fn new(start: Topology) -> Self {
        Diagnoser { previous: start.clone(), start, reported: BTreeSet::new() }
    }

    /// The diagnoses not raised before, for a topology the seed has just answered with and the endpoints that
    /// cannot be reached now. Call it only with a real answer: an empty topology would look like everything gone.
    pub fn observe(&mut self, current: &Topology, unreachable: &BTreeSet<Endpoint>) -> Vec<Diagnosis> {
        let found = diagnose(&self.start, &self.previous, current, unreachable);
        self.previous = current.clone();
        // Judged against what was reported before this poll, so a dead owner whose slots went to several new
        // owners at once is reported whole.
        let fresh: Vec<Diagnosis> =
            found.into_iter().filter(|d| !self.reported.contains(&(d.kind(), d.endpoint().cloned()))).collect();
        self.reported.extend(fresh.iter().map(|d| (d.kind(), d.endpoint().cloned())));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Role, Shard, ShardNode};

    fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    fn node(port: u16, role: Role) -> ShardNode {
        ShardNode {
            id: Some(format!("node{port}")),
            endpoint: ep(port),
            hostname: None,
            role,
            health: Some("online".into()),
            replication_offset: None,
        }
    }

    /// Three shards of 0-5460, 5461-10922, 10923-16383, given as (primary, replica) ports.
    fn cluster(pairs: [(u16, u16); 3]) -> Topology {
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        Topology::from_shards(
            pairs
                .iter()
                .zip(ranges)
                .map(|(&(p, r), (a, b))| Shard {
                    slots: vec![SlotRange::new(a, b)],
                    primary: node(p, Role::Primary),
                    replicas: vec![node(r, Role::Replica)],
                })
                .collect(),
            None,
        )
    }

    fn set(ports: &[u16]) -> BTreeSet<Endpoint> {
        ports.iter().map(|&p| ep(p)).collect()
    }

    const START: [(u16, u16); 3] = [(7000, 7003), (7001, 7004), (7002, 7005)];

    #[test]
    fn killed_primary_whose_slots_moved_is_a_dead_owner() {
        let start = cluster(START);
        // 7000 was killed; its replica 7003 took over.
        let now = cluster([(7003, 7000), (7001, 7004), (7002, 7005)]);
        let found = diagnose(&start, &start, &now, &set(&[7000]));
        assert_eq!(found.len(), 1, "{found:?}");
        let Diagnosis::DeadOwnerMoved { slots, dead_endpoint, new_owner, explanation } = &found[0] else {
            panic!("{found:?}")
        };
        assert_eq!(slots, &vec![SlotRange::new(0, 5460)]);
        assert_eq!((dead_endpoint, new_owner), (&ep(7000), &ep(7003)));
        assert!(explanation.contains("MOVED"), "{explanation}");
        let json = serde_json::to_value(&found[0]).unwrap();
        assert_eq!(json["kind"], "dead_owner_moved");
        assert_eq!(json["dead_endpoint"]["port"], 7000);
        assert_eq!(json["slots"][0]["end"], 5460);
        assert_eq!(found[0].to_notice(crate::clock::Clock::start().now()).kind, "diagnosis");

        // Before the failover is done the slots have not moved: nothing to say yet.
        assert!(diagnose(&start, &start, &start, &set(&[7000])).is_empty());
        // A new owner that is also unreachable serves nothing yet.
        assert!(diagnose(&start, &start, &now, &set(&[7000, 7003])).is_empty());
    }

    #[test]
    fn slots_owned_at_the_previous_poll_count_too() {
        let start = cluster(START);
        // A manual failover made 7003 the owner, then 7003 died and 7000 took the slots back.
        let previous = cluster([(7003, 7000), (7001, 7004), (7002, 7005)]);
        let now = start.clone();
        let found = diagnose(&start, &previous, &now, &set(&[7003]));
        assert!(
            matches!(&found[..], [Diagnosis::DeadOwnerMoved { dead_endpoint, new_owner, .. }]
                if *dead_endpoint == ep(7003) && *new_owner == ep(7000)),
            "{found:?}"
        );
    }

    #[test]
    fn role_swap_with_a_live_demoted_node_raises_nothing() {
        let start = cluster(START);
        let now = cluster([(7003, 7000), (7001, 7004), (7002, 7005)]);
        assert!(diagnose(&start, &start, &now, &BTreeSet::new()).is_empty());
        // An unrelated unreachable replica is no dead owner either.
        assert!(diagnose(&start, &start, &now, &set(&[7004])).is_empty());
    }

    #[test]
    fn rolling_replacement_loses_every_known_endpoint() {
        let start = cluster(START);
        let now = cluster([(7100, 7103), (7101, 7104), (7102, 7105)]);
        // The old nodes are gone from the topology; whether they still answer does not matter.
        let found = diagnose(&start, &start, &now, &BTreeSet::new());
        assert_eq!(found.len(), 1, "{found:?}");
        let Diagnosis::AllKnownEndpointsGone { original, current, explanation } = &found[0] else {
            panic!("{found:?}")
        };
        assert_eq!(original.len(), 6);
        assert_eq!(current[0], ep(7100));
        assert!(explanation.contains("seed"), "{explanation}");
        assert_eq!(serde_json::to_value(&found[0]).unwrap()["kind"], "all_known_endpoints_gone");

        // Shut down as well: every old primary is also a dead owner whose slots moved.
        let dead = set(&[7000, 7001, 7002, 7003, 7004, 7005]);
        let found = diagnose(&start, &start, &now, &dead);
        let kinds: Vec<&str> = found.iter().map(Diagnosis::kind).collect();
        assert_eq!(kinds, ["dead_owner_moved", "dead_owner_moved", "dead_owner_moved", "all_known_endpoints_gone"]);

        // Half-way through, one original node is still listed and reachable: a client can still learn from it.
        let halfway = cluster([(7100, 7103), (7101, 7104), (7002, 7105)]);
        assert!(diagnose(&start, &start, &halfway, &BTreeSet::new()).is_empty());
        // Everything unreachable and nothing new: the seed has nothing better to offer.
        assert!(diagnose(&start, &start, &start, &dead).iter().all(|d| d.kind() != "all_known_endpoints_gone"));
    }

    #[test]
    fn each_diagnosis_is_raised_once() {
        let start = cluster(START);
        let mut diagnoser = Diagnoser::new(start.clone());
        let failed_over = cluster([(7003, 7000), (7001, 7004), (7002, 7005)]);
        assert!(diagnoser.observe(&start, &set(&[7000])).is_empty());
        assert_eq!(diagnoser.observe(&failed_over, &set(&[7000])).len(), 1);
        assert!(diagnoser.observe(&failed_over, &set(&[7000])).is_empty());
        // Another dead owner is news; 7000 again is not.
        let second = cluster([(7003, 7000), (7004, 7001), (7002, 7005)]);
        let found = diagnoser.observe(&second, &set(&[7000, 7001]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].endpoint(), Some(&ep(7001)));
        // Replacement finishes: all-gone is raised once, and only the dead owners not yet named (7002 from the
        // start, 7003 and 7004 from the previous poll).
        let replaced = cluster([(7100, 7103), (7101, 7104), (7102, 7105)]);
        let everything = set(&[7000, 7001, 7002, 7003, 7004, 7005]);
        let found = diagnoser.observe(&replaced, &everything);
        let named: Vec<(&str, Option<u16>)> = found.iter().map(|d| (d.kind(), d.endpoint().map(|e| e.port))).collect();
        assert_eq!(
            named,
            [
                ("dead_owner_moved", Some(7002)),
                ("dead_owner_moved", Some(7003)),
                ("dead_owner_moved", Some(7004)),
                ("all_known_endpoints_gone", None)
            ],
            "{found:?}"
        );
        assert!(diagnoser.observe(&replaced, &everything).is_empty());
    }
}
