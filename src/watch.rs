//! The topology watcher: polls the seed and every node it knows, and reports each change the moment it sees
//! it: nodes added or removed, endpoints unreachable or back, promotions, slots moving, epochs, cluster state,
//! and the stale-topology diagnoses. Standalone and enterprise endpoints: role, replication links and
//! reachability. Used by `monitor`, and by `failover-recovery` for its diagnoses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc::UnboundedSender, watch};

use crate::cli::Mode;
use crate::clock::Clock;
use crate::connect::{self, Factory};
use crate::diagnose::Diagnoser;
use crate::events::{Event, NoticeEvent, TopologyEvent};
use crate::inspect;
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

/// Keeps one direct connection per node and drops those that fail, so a dead node costs one timeout per poll.
struct Nodes {
    factory: Arc<Factory>,
    clients: BTreeMap<Endpoint, Client>,
}

impl Nodes {
    async fn client(&mut self, ep: &Endpoint) -> Option<Client> {
        if let Some(c) = self.clients.get(ep) {
            return Some(c.clone());
        }
        let c = self.factory.node(ep).await.ok()?;
        self.clients.insert(ep.clone(), c.clone());
        Some(c)
    }

    async fn forget(&mut self, ep: &Endpoint) {
        if let Some(c) = self.clients.remove(ep) {
            connect::quit(&c).await;
        }
    }

    async fn close(&mut self) {
        for (_, c) in std::mem::take(&mut self.clients) {
            connect::quit(&c).await;
        }
    }
}

fn notice(clock: &Clock, kind: &str, detail: String) -> Event {
    Event::Notice(NoticeEvent { stamp: clock.now(), kind: kind.to_string(), detail, data: None })
}

/// Polls until `stop` turns true or `duration` has passed; events go to `tx`.
pub async fn run(
    factory: Arc<Factory>,
    mode: Mode,
    interval: Duration,
    duration: Duration,
    clock: Clock,
    tx: UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) -> WatchResult {
    let timeout = factory.target().timeout;
    let seeds = factory.target().seeds.clone();
    let mut nodes = Nodes { factory, clients: BTreeMap::new() };
    let mut result = WatchResult::default();
    let mut reachable: BTreeMap<Endpoint, bool> = BTreeMap::new();
    let mut diagnoser: Option<Diagnoser> = None;
    let mut previous: Option<Topology> = None;
    let origin = clock.origin();
    let mut n: u32 = 0;
    loop {
        let due = origin + interval * n;
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
        n += 1;
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
        // The seed's view is the topology a client that falls back to its seed would get.
        // When every seed is gone, any node it knew will do: a monitor must not go blind with its seed.
        let mut current = None;
        let fallbacks: Vec<Endpoint> =
            previous.iter().flat_map(|t| t.endpoints()).filter(|e| !seeds.contains(e)).collect();
        for ep in seeds.iter().chain(fallbacks.iter()) {
            if let Some(c) = nodes.client(ep).await {
                match tokio::time::timeout(timeout * 3, inspect::read_topology(&c)).await {
                    Ok(Ok((t, _))) => {
                        current = Some(t);
                        break;
                    }
                    _ => nodes.forget(ep).await,
                }
            }
        }
        let known: BTreeSet<Endpoint> = previous
            .iter()
            .chain(current.iter())
            .flat_map(|t| t.endpoints())
            .chain(reachable.keys().cloned())
            .collect();
        let mut probes = Vec::new();
        for ep in &known {
            let client = nodes.client(ep).await;
            probes.push((ep.clone(), client));
        }
        let mut unreachable = BTreeSet::new();
        for (ep, client) in probes {
            let ok = match client {
                Some(c) => matches!(tokio::time::timeout(timeout, connect::command(&c, &["PING"])).await, Ok(Ok(_))),
                None => false,
            };
            if !ok {
                nodes.forget(&ep).await;
                unreachable.insert(ep.clone());
            }
            track_reachability(&clock, &tx, &mut reachable, &ep, ok);
        }
        // Nodes that left the topology and stay unreachable are not watched forever.
        if let Some(cur) = &current {
            let advertised: BTreeSet<Endpoint> = cur.endpoints().into_iter().collect();
            reachable.retain(|ep, up| *up || advertised.contains(ep) || seeds.contains(ep));
        }
        let Some(current) = current else { continue };
        if let Some(prev) = &previous {
            let changes = topology::diff(prev, &current);
            if !changes.is_empty() {
                let _ = tx.send(Event::Topology(TopologyEvent { stamp: clock.now(), source: String::new(), changes }));
            }
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
    nodes.close().await;
    result
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
