//! The topology watcher: polls the seed and every node it knows, and reports each change the moment it sees
//! it: nodes added or removed, endpoints unreachable or back, promotions, slots moving, epochs, cluster state,
//! and the stale-topology diagnoses. Standalone and enterprise endpoints: role, replication links and
//! reachability. Used by `monitor`, and by `failover-recovery` for its diagnoses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::ClientLike;
use fred::prelude::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc::UnboundedSender, watch};

use crate::clock::Clock;
use crate::connect::{self, Factory};
use crate::diagnose::Diagnoser;
use crate::events::{Event, NoticeEvent, TopologyEvent};
use crate::inspect;
use crate::mode::Mode;
use crate::topology::{self, Endpoint, Topology};

/// What the watcher saw, for the summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WatchResult {
    /// Topology at the first successful poll.
    pub start: Option<Topology>,
    /// Topology at the last successful poll.
    pub end: Option<Topology>,
    /// Replication state of a standalone / enterprise endpoint at start and end.
    pub replication_start: Option<BTreeMap<String, String>>,
    /// Same, at the end.
    pub replication_end: Option<BTreeMap<String, String>>,
    /// Polls made.
    pub polls: u64,
}

/// Keeps one direct connection per node and drops those that fail.
struct Nodes {
    factory: Arc<Factory>,
    clients: BTreeMap<Endpoint, Client>,
}

impl Nodes {
    async fn client(&mut self, ep: &Endpoint) -> Option<Client> {
        if let Some(c) = self.clients.get(ep) {
            if holds_connection(c) {
                return Some(c.clone());
            }
            // The server closed this connection (shut down, killed, restarted). fred is re-establishing it and
            // would hold every command behind that until the timeout: a node that is gone would stall the poll
            // for a whole timeout, and the changes of that second would be seen late or not at all. A fresh
            // connection is refused at once by a dead node and answers at once from a live one.
            self.forget(ep).await;
        }
        let c = self.factory.node(ep).await.ok()?;
        self.clients.insert(ep.clone(), c.clone());
        Some(c)
    }

    /// The connection kept for `ep` if it still holds, else `None` (one that dropped is closed and forgotten).
    async fn cached(&mut self, ep: &Endpoint) -> Option<Client> {
        match self.clients.get(ep) {
            Some(c) if holds_connection(c) => Some(c.clone()),
            Some(_) => {
                self.forget(ep).await;
                None
            }
            None => None,
        }
    }

    /// Takes a ping's verdict: keeps the connection of a node that answered, closes the others. Whether it
    /// answered.
    async fn settle(&mut self, ep: &Endpoint, verdict: Verdict) -> bool {
        match verdict {
            Verdict { answered: true, client: Some(c), fresh } => {
                if fresh {
                    if let Some(old) = self.clients.insert(ep.clone(), c) {
                        tokio::spawn(async move { connect::quit(&old).await });
                    }
                }
                true
            }
            Verdict { client, fresh, .. } => {
                self.forget(ep).await;
                if let (Some(c), true) = (client, fresh) {
                    tokio::spawn(async move { connect::quit(&c).await });
                }
                false
            }
        }
    }

    /// Drops `ep`'s connection from the cache without closing it: a background read still uses it and closes it.
    fn abandon(&mut self, ep: &Endpoint) {
        self.clients.remove(ep);
    }

    async fn forget(&mut self, ep: &Endpoint) {
        if let Some(c) = self.clients.remove(ep) {
            // Closing a connection to a dead node can take as long as the bound of `quit`: not in the poll's time.
            tokio::spawn(async move { connect::quit(&c).await });
        }
    }

    async fn close(&mut self) {
        for (_, c) in std::mem::take(&mut self.clients) {
            connect::quit(&c).await;
        }
    }
}

/// Reads the topology through `c` in a task of its own, bounded by `limit`. The answer comes on the returned
/// channel; when nobody waits for it any more (the poll went on), the task closes `c` itself.
fn read_in_background(c: Client, limit: Duration) -> tokio::sync::oneshot::Receiver<Option<Topology>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let topology = match tokio::time::timeout(limit, inspect::read_topology(&c)).await {
            Ok(Ok((t, _))) => Some(t),
            _ => None,
        };
        if tx.send(topology).is_err() {
            connect::quit(&c).await;
        }
    });
    rx
}

/// What one ping found.
struct Verdict {
    /// PING answered within the timeout.
    answered: bool,
    /// The connection used, if one could be made.
    client: Option<Client>,
    /// Made by this ping (not one kept from an earlier poll).
    fresh: bool,
}

/// PINGs of every known node, running side by side and across polls: at most one per endpoint at a time.
#[derive(Default)]
struct Pings {
    running: tokio::task::JoinSet<Verdict>,
    endpoints: BTreeMap<tokio::task::Id, Endpoint>,
}

impl Pings {
    fn in_flight(&self, ep: &Endpoint) -> bool {
        self.endpoints.values().any(|e| e == ep)
    }

    /// PINGs `ep` on `cached`, or on a new connection when there is none.
    fn start(&mut self, ep: Endpoint, cached: Option<Client>, factory: Arc<Factory>, timeout: Duration) {
        let target = ep.clone();
        let handle = self.running.spawn(async move {
            let fresh = cached.is_none();
            let client = match cached {
                Some(c) => Some(c),
                None => factory.node(&target).await.ok(),
            };
            let answered = match &client {
                Some(c) => matches!(tokio::time::timeout(timeout, connect::command(c, &["PING"])).await, Ok(Ok(_))),
                None => false,
            };
            Verdict { answered, client, fresh }
        });
        self.endpoints.insert(handle.id(), ep);
    }

    /// The verdicts that come before `until`, sorted by endpoint.
    async fn collect(&mut self, until: std::time::Instant) -> Vec<(Endpoint, Verdict)> {
        let mut out = Vec::new();
        while !self.running.is_empty() {
            let Ok(Some(joined)) = tokio::time::timeout_at(until.into(), self.running.join_next_with_id()).await else {
                break;
            };
            let (id, verdict) = match joined {
                Ok((id, v)) => (id, v),
                Err(e) => (e.id(), Verdict { answered: false, client: None, fresh: false }),
            };
            if let Some(ep) = self.endpoints.remove(&id) {
                out.push((ep, verdict));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn abort(&mut self) {
        self.running.abort_all();
        self.endpoints.clear();
    }
}

/// Whether fred holds a working connection. Right after the server closes it, fred drops it from its active
/// connections and waits out its first reconnection delay while its state still says connected.
fn holds_connection(c: &Client) -> bool {
    c.is_connected() && !c.active_connections().is_empty()
}

fn notice(clock: &Clock, kind: &str, detail: String) -> Event {
    Event::Notice(NoticeEvent { stamp: clock.now(), kind: kind.to_string(), detail, data: None })
}

/// What to watch and for how long.
pub struct WatchPlan {
    /// The connection mode of the target.
    pub mode: Mode,
    /// Time between polls.
    pub interval: Duration,
    /// How long to watch.
    pub duration: Duration,
    /// Where every topology read is published (oss-cluster), for the probe engines to re-plan from: one
    /// topology source per run.
    pub publish: Option<watch::Sender<Option<Topology>>>,
}

/// Polls until `stop` turns true or `duration` has passed; events go to `tx`.
pub async fn run(
    factory: Arc<Factory>,
    plan: WatchPlan,
    clock: Clock,
    tx: UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) -> WatchResult {
    let WatchPlan { mode, interval, duration, publish } = plan;
    let timeout = factory.target().timeout;
    let seeds = factory.target().seeds.clone();
    let mut nodes = Nodes { factory, clients: BTreeMap::new() };
    let mut pings = Pings::default();
    let mut result = WatchResult::default();
    let mut reachable: BTreeMap<Endpoint, bool> = BTreeMap::new();
    let mut diagnoser: Option<Diagnoser> = None;
    let mut previous: Option<Topology> = None;
    let origin = clock.origin();
    // A running sum, not interval × a counter: a watcher left for months never overflows a poll count.
    let mut offset = Duration::ZERO;
    loop {
        let due = origin + offset;
        if *stop.borrow() {
            break;
        }
        if due.duration_since(origin) >= duration {
            // Watch until the end of the duration, not just until the last poll.
            tokio::select! {
                _ = tokio::time::sleep_until((origin + duration).into()) => {}
                _ = stop.changed() => {}
            }
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        offset += interval;
        result.polls += 1;
        if mode != Mode::OssCluster {
            let info = match nodes.client(&seeds[0]).await {
                Some(c) => match tokio::time::timeout(timeout * 2, connect::info_section(&c, "replication")).await {
                    Ok(Ok(i)) => Some(i),
                    _ => None,
                },
                None => None,
            };
            if info.is_none() {
                nodes.forget(&seeds[0]).await;
            }
            track_reachability(&clock, &tx, &mut reachable, &seeds[0], info.is_some());
            if let Some(info) = info {
                let keep: BTreeMap<String, String> = info
                    .into_iter()
                    .filter(|(k, _)| {
                        matches!(
                            k.as_str(),
                            "role" | "connected_slaves" | "master_host" | "master_port" | "master_link_status"
                        )
                    })
                    .collect();
                if let Some(prev) = &result.replication_end {
                    for (k, v) in &keep {
                        if prev.get(k) != Some(v) {
                            let was = prev.get(k).cloned().unwrap_or_else(|| "-".into());
                            let _ = tx.send(notice(
                                &clock,
                                "replication_changed",
                                format!("{} {k}: {was} -> {v}", seeds[0]),
                            ));
                        }
                    }
                }
                if result.replication_start.is_none() {
                    result.replication_start = Some(keep.clone());
                }
                result.replication_end = Some(keep);
            }
            continue;
        }
        // The seed's view is the topology a client that falls back to its seed would get. A seed that is being
        // shut down takes commands and never answers them: its read is left to end by its own timeout, and the
        // next poll asks on a fresh connection (refused by a dead node; through a seed address, another node).
        // When every seed is gone, any node it knew will do: a monitor must not go blind with its seed.
        let mut current = None;
        let patience = interval.max(timeout / 4).min(timeout * 3);
        let fallbacks: Vec<Endpoint> =
            previous.iter().flat_map(|t| t.endpoints()).filter(|e| !seeds.contains(e)).collect();
        for seed in seeds.iter().chain(fallbacks.iter()) {
            let Some(c) = nodes.client(seed).await else { continue };
            match tokio::time::timeout(patience, read_in_background(c, timeout * 3)).await {
                // CLUSTER NODES failed after CLUSTER SHARDS answered (the seed went away between the two): diffed
                // against full reads, the half read would show nodes leaving and coming back.
                Ok(Ok(Some(t))) if t.nodes.is_empty() && previous.as_ref().is_some_and(|p| !p.nodes.is_empty()) => {
                    nodes.forget(seed).await
                }
                Ok(Ok(Some(t))) => {
                    current = Some(without_handshakes(t));
                    break;
                }
                Ok(_) => nodes.forget(seed).await,
                Err(_) => {
                    nodes.abandon(seed);
                    break;
                }
            }
        }
        // Changes as soon as they are read; reachability (below) can take until the next poll.
        if let (None, Some(cur)) = (&previous, &current) {
            crate::known_nodes::remember(&seeds, cur, &clock.now().wall);
        }
        if let (Some(prev), Some(cur)) = (&previous, &current) {
            let changes = topology::diff(prev, cur);
            if !changes.is_empty() {
                crate::known_nodes::remember(&seeds, cur, &clock.now().wall);
                let _ = tx.send(Event::Topology(TopologyEvent { stamp: clock.now(), source: String::new(), changes }));
            }
        }
        let known: BTreeSet<Endpoint> = previous
            .iter()
            .chain(current.iter())
            .flat_map(|t| t.endpoints())
            .chain(reachable.keys().cloned())
            .collect();
        for ep in &known {
            if !pings.in_flight(ep) {
                let cached = nodes.cached(ep).await;
                pings.start(ep.clone(), cached, Arc::clone(&nodes.factory), timeout);
            }
        }
        // Verdicts until the next poll is due; a node that takes its whole timeout to answer (dying, hung) is
        // judged at a later poll instead of holding up the topology reads of every node in between.
        for (ep, verdict) in pings.collect(origin + offset).await {
            let ok = nodes.settle(&ep, verdict).await;
            track_reachability(&clock, &tx, &mut reachable, &ep, ok);
        }
        let unreachable: BTreeSet<Endpoint> =
            reachable.iter().filter(|(ep, up)| !**up && known.contains(*ep)).map(|(ep, _)| ep.clone()).collect();
        // Nodes that left the topology and stay unreachable are not watched forever.
        if let Some(cur) = &current {
            let advertised: BTreeSet<Endpoint> = cur.endpoints().into_iter().collect();
            reachable.retain(|ep, up| *up || advertised.contains(ep) || seeds.contains(ep));
        }
        let Some(current) = current else { continue };
        if let Some(p) = &publish {
            p.send_replace(Some(current.clone()));
        }
        let _ = tx.send(Event::Snapshot(snapshot_lines(&current, &unreachable)));
        let d = diagnoser.get_or_insert_with(|| Diagnoser::new(current.clone()));
        for diagnosis in d.observe(&current, &unreachable) {
            let _ = tx.send(Event::Notice(diagnosis.to_notice(clock.now())));
        }
        if result.start.is_none() {
            result.start = Some(current.clone());
        }
        result.end = Some(current.clone());
        previous = Some(current);
    }
    pings.abort();
    nodes.close().await;
    result
}

/// The topology without the nodes still in the cluster-bus handshake. A node being met is listed under a random
/// temporary id until the handshake completes, then under its own id: counted, it would show a joining node as
/// added, removed and added again, and a seed answering with only that entry as a new node.
fn without_handshakes(mut t: Topology) -> Topology {
    let temporary: BTreeSet<String> =
        t.nodes.iter().filter(|n| n.has_flag("handshake")).map(|n| n.id.clone()).collect();
    if temporary.is_empty() {
        return t;
    }
    let is_temporary = |id: &Option<String>| id.as_ref().is_some_and(|id| temporary.contains(id));
    t.nodes.retain(|n| !temporary.contains(&n.id));
    t.shards.retain(|s| !is_temporary(&s.primary.id));
    for shard in &mut t.shards {
        shard.replicas.retain(|r| !is_temporary(&r.id));
    }
    t
}

fn track_reachability(
    clock: &Clock,
    tx: &UnboundedSender<Event>,
    reachable: &mut BTreeMap<Endpoint, bool>,
    ep: &Endpoint,
    ok: bool,
) {
    match reachable.insert(ep.clone(), ok) {
        Some(true) if !ok => {
            let _ = tx.send(notice(clock, "endpoint_unreachable", format!("{ep} does not answer")));
        }
        Some(false) if ok => {
            let _ = tx.send(notice(clock, "endpoint_reachable", format!("{ep} answers again")));
        }
        _ => {}
    }
}

/// The current topology as a compact table: one line per shard, unreachable endpoints marked.
pub fn snapshot_lines(t: &Topology, unreachable: &BTreeSet<Endpoint>) -> Vec<String> {
    let mark = |e: &Endpoint| if unreachable.contains(e) { format!("{e} (unreachable)") } else { e.to_string() };
    let mut out = vec![format!(
        "{:<22} {:<34} replicas",
        format!("cluster {}", t.info.as_ref().map(|i| i.state.as_str()).unwrap_or("?")),
        "primary"
    )];
    for s in t.shards.iter().filter(|s| !s.slots.is_empty()) {
        let slots: Vec<String> = s.slots.iter().map(|r| r.to_string()).collect();
        let replicas: Vec<String> = s.replicas.iter().map(|r| mark(&r.endpoint)).collect();
        out.push(format!("{:<22} {:<34} {}", slots.join(" "), mark(&s.primary.endpoint), replicas.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::parse_cluster_nodes;

    #[test]
    fn nodes_in_handshake_are_left_out() {
        // 127.0.0.1:7006 is being met: the node answering lists it under a temporary id, in handshake.
        let text = "\
a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 127.0.0.1:7000@7100 myself,master - 0 0 1 connected 0-16383
b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2 127.0.0.1:7001@7101 slave a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 0 1 1 connected
c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3 127.0.0.1:7006@7106 handshake - 1700000000000 0 0 disconnected
";
        let with = Topology::from_nodes(parse_cluster_nodes(text).unwrap(), None);
        assert_eq!(with.endpoints().len(), 3);
        let without = without_handshakes(with.clone());
        assert_eq!(without.nodes.len(), 2);
        assert_eq!(without.endpoints(), vec![Endpoint::new("127.0.0.1", 7000), Endpoint::new("127.0.0.1", 7001)]);
        assert_eq!(without.shards.len(), 1);
        assert!(topology::diff(&without, &without_handshakes(with)).is_empty());
        // Nothing in handshake: unchanged.
        let settled =
            Topology::from_nodes(parse_cluster_nodes(&text.replace(" handshake ", " master ")).unwrap(), None);
        assert_eq!(without_handshakes(settled.clone()), settled);
    }
}
