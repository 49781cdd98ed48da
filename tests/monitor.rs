//! `monitor` through the binary, against labs of real processes: the binary watches in the background while the
//! test drives the lab, and its `MonitorSummary` must tell each scenario's changes as the right events in the
//! right order (topology changes, reachability notices, stale-topology diagnoses, Azure maintenance notices).
//!
//! Wall-clock boundaries taken by the test around each scenario are compared with the events' wall stamps: both
//! come from this machine's clock, and an effect cannot come before the action that caused it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use redis_failover_probe::clock::{Clock, Stamp};
use redis_failover_probe::commands::monitor::MonitorSummary;
use redis_failover_probe::connect::{self, Factory, CLIENT_NAME};
use redis_failover_probe::diagnose::Diagnosis;
use redis_failover_probe::events::NoticeEvent;
use redis_failover_probe::lab::{Lab, LabEvent, LabEventKind, LabOptions, Scenario, ScenarioReport, TopologyKind};
use redis_failover_probe::mode::Mode;
use redis_failover_probe::notices::azure::{AzureKind, AzureNotice, AZURE_CHANNEL};
use redis_failover_probe::settings::Target;
use redis_failover_probe::topology::{Endpoint, SlotRange, Topology, TopologyChange};
use support::{heavy, Background, Finished};

/// Monitor poll interval in these tests: several polls per scenario step.
const POLL: &str = "100ms";
/// How long the test lets the monitor catch up after a scenario returned (the lab returns once it is settled).
const CATCH_UP: Duration = Duration::from_millis(1500);

// --- driving the binary ---

fn monitor(urls: &[String], mode: Mode, extra: &[&str]) -> Background {
    let mut cmd = support::bin_std();
    cmd.args(["--mode", mode.as_str(), "--output", "json", "--timeout", "1s"]);
    for url in urls {
        cmd.args(["--url", url]);
    }
    cmd.args(["monitor", "--interval", POLL]).args(extra);
    Background::spawn(cmd)
}

fn url(ep: &Endpoint) -> String {
    format!("redis://{ep}")
}

async fn finish(mon: Background, how: impl FnOnce(Background) -> Finished + Send + 'static) -> Finished {
    tokio::task::spawn_blocking(move || how(mon)).await.expect("the waiting thread")
}

fn summary_of(out: &Finished) -> MonitorSummary {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a MonitorSummary ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr))
}

// --- looking at the real servers ---

fn node_factory(ep: &Endpoint) -> Factory {
    Factory::new(Target::local(vec![ep.clone()], Mode::Standalone)).expect("factory")
}

/// This tool's connections on a node (`CLIENT SETNAME redis-failover-probe`), except the one asking, as
/// CLIENT LIST fields.
async fn our_connections(ep: &Endpoint) -> Vec<BTreeMap<String, String>> {
    let Ok(c) = node_factory(ep).node(ep).await else {
        return Vec::new();
    };
    let me = connect::command(&c, &["CLIENT", "ID"]).await.ok().and_then(|v| v.as_i64()).map(|i| i.to_string());
    let list = connect::text_command(&c, &["CLIENT", "LIST"]).await.unwrap_or_default();
    connect::quit(&c).await;
    list.lines()
        .map(|line| {
            line.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
        })
        .filter(|m: &BTreeMap<String, String>| {
            m.get("name").map(String::as_str) == Some(CLIENT_NAME) && m.get("id") != me.as_ref()
        })
        .collect()
}

async fn azure_subscribers(ep: &Endpoint) -> i64 {
    let Ok(c) = node_factory(ep).node(ep).await else {
        return 0;
    };
    let v = connect::command(&c, &["PUBSUB", "NUMSUB", AZURE_CHANNEL]).await;
    connect::quit(&c).await;
    v.ok().and_then(|v| v.into_array().get(1).and_then(|n| n.as_i64())).unwrap_or(0)
}

async fn publish(ep: &Endpoint, message: &str) {
    let c = node_factory(ep).node(ep).await.unwrap_or_else(|e| panic!("connect {ep}: {e}"));
    connect::command(&c, &["PUBLISH", AZURE_CHANNEL, message]).await.unwrap_or_else(|e| panic!("PUBLISH: {e}"));
    connect::quit(&c).await;
}

/// Polls `check` every 50 ms until it holds; fails the test with `what` (and the monitor's liveness) after
/// `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mon: &mut Background, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(mon.running(), "the monitor ended before {what}");
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A cluster monitor has made its first poll once every node holds one of its connections: the watcher
/// connects to every endpoint the topology lists (replicas get no other connection of the tool's), then pings
/// them all. A few polls more for good measure.
async fn cluster_watched(mon: &mut Background, nodes: &[Endpoint]) {
    for ep in nodes {
        eventually(&format!("a monitor connection on {ep}"), Duration::from_secs(15), mon, || async {
            !our_connections(ep).await.is_empty()
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
}

/// A standalone / enterprise monitor has polled once the endpoint's node holds two of its connections whose last
/// command is INFO: the one `connect` checks the mode with, and the watcher's (INFO replication every poll).
async fn endpoint_watched(mon: &mut Background, node: &Endpoint) {
    eventually(&format!("the watcher's INFO on {node}"), Duration::from_secs(15), mon, || async {
        our_connections(node).await.iter().filter(|c| c.get("cmd").map(String::as_str) == Some("info")).count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn replication_role(ep: &Endpoint) -> String {
    let c = node_factory(ep).node(ep).await.unwrap_or_else(|e| panic!("connect {ep}: {e}"));
    let info = connect::info_section(&c, "replication").await.unwrap_or_default();
    connect::quit(&c).await;
    info.get("role").cloned().unwrap_or_default()
}

// --- reading the timeline ---

fn wall(stamp: &Stamp) -> SystemTime {
    humantime::parse_rfc3339(&stamp.wall).unwrap_or_else(|e| panic!("stamp {stamp:?}: {e}"))
}

/// The summary's changes and notices in one list, in time order, for searching and for failure messages.
struct Timeline {
    entries: Vec<(SystemTime, u64, Entry)>,
}

#[derive(Debug, Clone)]
enum Entry {
    Change(TopologyChange),
    Notice(NoticeEvent),
}

impl Timeline {
    fn of(s: &MonitorSummary) -> Timeline {
        let mut entries: Vec<(SystemTime, u64, Entry)> = s
            .changes
            .iter()
            .map(|c| (wall(&c.stamp), c.stamp.offset_ms, Entry::Change(c.change.clone())))
            .chain(s.notices.iter().map(|n| (wall(&n.stamp), n.stamp.offset_ms, Entry::Notice(n.clone()))))
            .collect();
        entries.sort_by_key(|e| e.1);
        Timeline { entries }
    }

    /// The monitor's timeline with the lab's own events of `reports` woven in, by wall time.
    fn dump_with(&self, reports: &[&ScenarioReport]) -> String {
        let mut lines: Vec<(SystemTime, String)> = self
            .entries
            .iter()
            .map(|(wall, at, e)| {
                let what = match e {
                    Entry::Change(c) => format!("change  {c}"),
                    Entry::Notice(n) => format!("{}: {}", n.kind, n.detail),
                };
                (*wall, format!("+{:.3}s {what}", *at as f64 / 1000.0))
            })
            .collect();
        for r in reports {
            for e in &r.events {
                lines.push((wall(&e.stamp), format!("   lab {:?}: {}", e.kind, e.detail)));
            }
        }
        lines.sort_by_key(|l| l.0);
        let text: Vec<String> = lines
            .iter()
            .map(|(w, l)| format!("  {} {l}", &humantime::format_rfc3339_millis(*w).to_string()[11..23]))
            .collect();
        format!("monitor timeline (and lab events):\n{}", text.join("\n"))
    }

    fn dump(&self) -> String {
        self.dump_with(&[])
    }

    /// The first change in `[from, to)` that matches.
    fn change(&self, from: SystemTime, to: SystemTime, pred: impl Fn(&TopologyChange) -> bool) -> Option<SystemTime> {
        self.entries.iter().find_map(|(at, _, e)| match e {
            Entry::Change(c) if *at >= from && *at < to && pred(c) => Some(*at),
            _ => None,
        })
    }

    /// The first notice in `[from, to)` that matches.
    fn notice(&self, from: SystemTime, to: SystemTime, pred: impl Fn(&NoticeEvent) -> bool) -> Option<SystemTime> {
        self.entries.iter().find_map(|(at, _, e)| match e {
            Entry::Notice(n) if *at >= from && *at < to && pred(n) => Some(*at),
            _ => None,
        })
    }

    /// Every diagnosis, with its time.
    fn diagnoses(&self) -> Vec<(SystemTime, Diagnosis)> {
        self.entries
            .iter()
            .filter_map(|(at, _, e)| match e {
                Entry::Notice(n) if n.kind == "diagnosis" => {
                    let data = n.data.clone().unwrap_or_else(|| panic!("diagnosis without data: {n:?}"));
                    let d: Diagnosis = serde_json::from_value(data).unwrap_or_else(|e| panic!("{e}: {n:?}"));
                    Some((*at, d))
                }
                _ => None,
            })
            .collect()
    }
}

fn is_promoted(ep: &Endpoint) -> impl Fn(&TopologyChange) -> bool + '_ {
    move |c| matches!(c, TopologyChange::Promoted { endpoint, .. } if endpoint == ep)
}

fn takes_over(ep: &Endpoint) -> impl Fn(&TopologyChange) -> bool + '_ {
    move |c| match c {
        TopologyChange::Promoted { endpoint, .. } => endpoint == ep,
        TopologyChange::SlotsMoved { to, .. } => to == ep,
        _ => false,
    }
}

fn is_demoted(ep: &Endpoint) -> impl Fn(&TopologyChange) -> bool + '_ {
    move |c| matches!(c, TopologyChange::Demoted { endpoint, .. } if endpoint == ep)
}

fn is_added(ep: &Endpoint) -> impl Fn(&TopologyChange) -> bool + '_ {
    move |c| matches!(c, TopologyChange::NodeAdded { endpoint, .. } if endpoint == ep)
}

fn is_removed(ep: &Endpoint) -> impl Fn(&TopologyChange) -> bool + '_ {
    move |c| matches!(c, TopologyChange::NodeRemoved { endpoint, .. } if endpoint == ep)
}

fn is_unreachable(ep: &Endpoint) -> impl Fn(&NoticeEvent) -> bool + '_ {
    move |n| n.kind == "endpoint_unreachable" && n.detail == format!("{ep} does not answer")
}

/// The slots a topology gives to a primary.
fn slots_of(t: &Topology, primary: &Endpoint) -> Vec<SlotRange> {
    t.shards.iter().filter(|s| &s.primary.endpoint == primary).flat_map(|s| s.slots.iter().copied()).collect()
}

/// A real replacement syncs a real data set, for seconds; an empty lab node syncs in milliseconds, and the
/// successor's replica phase can end before a poll sees it (a monitor cannot report a state shorter than its
/// interval). A one-second diskless-sync delay on the original nodes stands in for the data.
async fn sync_like_real_data(lab: &Lab) {
    for ep in lab.node_endpoints() {
        support::admin_ok(lab, &ep, &["CONFIG", "SET", "repl-diskless-sync-delay", "1"]).await;
    }
}

const FAR: Duration = Duration::from_secs(3600);

const AZURE_MESSAGE: &str = "NotificationType|NodeMaintenanceStarting|StartTimeInUTC|2024-05-01T10:00:00|\
                             IsReplica|False|IPAddress|127.0.0.1|SSLPort|15000|NonSSLPort|13000";

/// One cluster, three scenarios in a row while one monitor watches it through every node as a seed (several
/// `--url`: the seeds that survive keep answering, as a client configured with all of them would see). Each
/// scenario's events must fall between its start and the next one's, in the order the scenario makes them.
#[test]
fn cluster_scenarios_show_up_in_order_on_the_monitor_timeline() {
    heavy(|| async {
        let mut lab = support::start_cluster(3, 1).await;
        sync_like_real_data(&lab).await;
        let nodes = lab.node_endpoints();
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("monitor.jsonl");
        let urls: Vec<String> = nodes.iter().map(url).collect();
        let mut mon = monitor(&urls, Mode::OssCluster, &["--duration", "120s", "--events", events.to_str().unwrap()]);
        cluster_watched(&mut mon, &nodes).await;
        eventually("the AzureRedisEvents subscription", Duration::from_secs(10), &mut mon, || async {
            let mut n = 0;
            for ep in &nodes {
                n += azure_subscribers(ep).await;
            }
            n >= 1
        })
        .await;

        // A cluster node relays PUBLISH to every node: the subscriber gets it wherever it is.
        let published = SystemTime::now();
        publish(&nodes[nodes.len() - 1], AZURE_MESSAGE).await;

        let swap_at = SystemTime::now();
        let swap = lab.run(&Scenario::RoleSwap { shard: Some(0) }).await.expect("role-swap");
        tokio::time::sleep(CATCH_UP).await;

        let kill_at = SystemTime::now();
        let kill = lab.run(&Scenario::KillPrimary { shard: Some(1) }).await.expect("kill-primary");
        tokio::time::sleep(CATCH_UP).await;

        let replace_at = SystemTime::now();
        let replace = lab
            .run(&Scenario::ReplaceNode { shard: Some(2), replica: false, drain: Duration::ZERO })
            .await
            .expect("replace-node");
        tokio::time::sleep(CATCH_UP).await;
        let end = SystemTime::now();

        let out = finish(mon, |m| m.terminate(Duration::from_secs(15))).await;
        lab.shutdown().await;
        assert_eq!(out.code, Some(130), "SIGTERM ends a monitor with 130; stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        let t = Timeline::of(&s);
        let dump = t.dump_with(&[&swap, &kill, &replace]);

        assert!(s.interrupted);
        assert_eq!(s.mode, Mode::OssCluster);
        assert_eq!(s.endpoints, urls);
        // One poll per 100 ms, never more; a dead or dying node must not hold them up (at least half are made).
        let scheduled = s.elapsed_ms / 100;
        assert!(s.polls <= scheduled + 1 && s.polls * 2 >= scheduled, "{} polls in {} ms", s.polls, s.elapsed_ms);
        let start = s.topology_start.as_ref().expect("topology at the start");
        let end_topo = s.topology_end.as_ref().expect("topology at the end");
        assert_eq!(start.shards.len(), 3);
        assert_eq!(start.endpoints().len(), 6);
        assert!(start.all_covered() && end_topo.all_covered());

        // The Azure notice, parsed.
        let azure = s.notices.iter().find(|n| n.kind == "azure_maintenance").unwrap_or_else(|| panic!("{dump}"));
        assert!(wall(&azure.stamp) >= published - Duration::from_millis(5), "{dump}");
        let parsed: AzureNotice = serde_json::from_value(azure.data.clone().expect("parsed fields")).unwrap();
        assert_eq!(parsed.kind, AzureKind::NodeMaintenanceStarting);
        assert_eq!(parsed.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!((parsed.ssl_port, parsed.non_ssl_port), (Some(15000), Some(13000)));
        assert_eq!(parsed.is_replica, Some(false));
        assert_eq!(parsed.start_time_utc.as_deref(), Some("2024-05-01T10:00:00"));

        // role-swap: promotion and demotion, no endpoint lost, nothing to diagnose.
        let (old, new) = (swap.old_primary.clone().unwrap(), swap.new_primary.clone().unwrap());
        assert_ne!(old, new);
        t.change(swap_at, kill_at, is_promoted(&new)).unwrap_or_else(|| panic!("role-swap: {new} promoted?\n{dump}"));
        t.change(swap_at, kill_at, is_demoted(&old)).unwrap_or_else(|| panic!("role-swap: {old} demoted?\n{dump}"));
        assert!(t.notice(swap_at, kill_at, |n| n.kind == "diagnosis").is_none(), "role-swap diagnosed:\n{dump}");
        assert!(t.notice(swap_at, kill_at, |n| n.kind == "endpoint_unreachable").is_none(), "{dump}");

        // kill-primary: the node stops answering, its replica is promoted, and the dead owner is diagnosed with
        // exactly the slots it served.
        let (killed, heir) = (kill.old_primary.clone().unwrap(), kill.new_primary.clone().unwrap());
        let lost = t
            .notice(kill_at, replace_at, is_unreachable(&killed))
            .unwrap_or_else(|| panic!("kill-primary: {killed} unreachable?\n{dump}"));
        let promoted = t
            .change(kill_at, replace_at, is_promoted(&heir))
            .unwrap_or_else(|| panic!("kill-primary: {heir} promoted?\n{dump}"));
        assert!(lost < promoted, "the kill must be seen before the promotion it causes:\n{dump}");
        let killed_slots = slots_of(start, &killed);
        assert_eq!(killed_slots, vec![SlotRange::new(5461, 10922)], "the second shard was killed");
        let diagnoses = t.diagnoses();
        let dead_owner = diagnoses
            .iter()
            .find(|(_, d)| matches!(d, Diagnosis::DeadOwnerMoved { dead_endpoint, .. } if *dead_endpoint == killed))
            .unwrap_or_else(|| panic!("no dead_owner_moved for {killed}:\n{dump}"));
        let Diagnosis::DeadOwnerMoved { slots, new_owner, explanation, .. } = &dead_owner.1 else { unreachable!() };
        assert_eq!(slots, &killed_slots, "{dump}");
        assert_eq!(new_owner, &heir);
        assert!(explanation.contains(&killed.to_string()) && explanation.contains("MOVED"), "{explanation}");
        assert!(dead_owner.0 >= promoted && dead_owner.0 < replace_at, "{dump}");

        // replace-node: the new node joins, takes over, and the old one leaves the topology, in that order.
        let (retired, successor) = (replace.old_primary.clone().unwrap(), replace.new_primary.clone().unwrap());
        assert_eq!(replace.retired_endpoints, vec![retired.clone()]);
        let added = t
            .change(replace_at, end, is_added(&successor))
            .unwrap_or_else(|| panic!("replace-node: {successor} added?\n{dump}"));
        // Taking over is a promotion, or only its slots moving: the lab fails over as soon as every node lists
        // the new replica, and the seed may be the last to do so, a few milliseconds before the failover, so a
        // monitor polling every 100 ms can see a primary without slots become the shard's primary directly.
        let took_over = t
            .change(replace_at, end, takes_over(&successor))
            .unwrap_or_else(|| panic!("replace-node: {successor} promoted or given the slots?\n{dump}"));
        let left = t
            .change(replace_at, end, is_removed(&retired))
            .unwrap_or_else(|| panic!("replace-node: {retired} removed?\n{dump}"));
        assert!(added < took_over && took_over <= left, "added, promoted, removed:\n{dump}");
        assert_eq!(slots_of(end_topo, &successor), slots_of(start, &retired));
        assert!(!end_topo.endpoints().contains(&retired));

        // Diagnoses: only dead owners (the killed node, and the replaced one once it was shut down), never
        // before the kill; no node set was ever entirely gone.
        for (at, d) in &diagnoses {
            match d {
                Diagnosis::DeadOwnerMoved { dead_endpoint, .. } => {
                    assert!(*at >= kill_at, "{dump}");
                    assert!(*dead_endpoint == killed || *dead_endpoint == retired, "{d:?}\n{dump}");
                }
                Diagnosis::AllKnownEndpointsGone { .. } => {
                    panic!("all_known_endpoints_gone without a rolling replace:\n{dump}")
                }
            }
        }

        // The events file has every notice and every topology change of the summary, as JSON lines.
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let of_type = |ty: &str| lines.iter().filter(|l| l["type"] == ty).count();
        assert_eq!(of_type("notice"), s.notices.len());
        let changes: usize =
            lines.iter().filter(|l| l["type"] == "topology").map(|l| l["changes"].as_array().unwrap().len()).sum();
        assert_eq!(changes, s.changes.len());
    });
}

/// A stable seed address in front of a cluster whose every node gets replaced, as a cloud cache's seed host name
/// is: each new connection goes to the oldest lab node that accepts one. The lab's own events keep its list (a
/// started node is appended, a shut-down, killed or retired one removed), so it never hands out a node that has
/// not joined the cluster while an older one still runs.
struct StableSeed {
    port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl StableSeed {
    async fn start(mut lab_events: tokio::sync::mpsc::UnboundedReceiver<LabEvent>) -> StableSeed {
        let nodes: Arc<Mutex<Vec<u16>>> = Arc::default();
        let follow = {
            let nodes = Arc::clone(&nodes);
            tokio::spawn(async move {
                while let Some(ev) = lab_events.recv().await {
                    let Some(port) = ev.node.as_ref().map(|e| e.port) else { continue };
                    let mut nodes = nodes.lock().unwrap();
                    match ev.kind {
                        LabEventKind::NodeStarted if !nodes.contains(&port) => nodes.push(port),
                        LabEventKind::NodeShutdown | LabEventKind::NodeKilled | LabEventKind::EndpointRetired => {
                            nodes.retain(|p| *p != port)
                        }
                        _ => {}
                    }
                }
            })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let candidates = nodes.lock().unwrap().clone();
                tokio::spawn(async move {
                    for p in candidates {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        StableSeed { port, tasks: vec![follow, serve] }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new("127.0.0.1", self.port)
    }
}

impl Drop for StableSeed {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// rolling-replace, watched through a seed address that survives the replacement (see [`StableSeed`]): a monitor
/// given the original node addresses would have no seed left to ask once the last one is retired, and
/// `all_known_endpoints_gone` is precisely "every original endpoint is gone while the seed answers with a new
/// topology". For every node: its successor added, promoted if it replaced a primary, then the node removed; each
/// original primary diagnosed as a dead owner; and, once the last original endpoint is gone, one
/// `all_known_endpoints_gone` naming the six original and the six new endpoints.
#[test]
fn rolling_replace_ends_with_every_known_endpoint_gone() {
    heavy(|| async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let seed = StableSeed::start(rx).await;
        let opts = LabOptions { primaries: 3, replicas: 1, ..LabOptions::default() };
        let mut lab = Lab::start(TopologyKind::Cluster, &opts, Clock::start(), Some(tx))
            .await
            .unwrap_or_else(|e| panic!("cluster lab did not start: {e}"));
        sync_like_real_data(&lab).await;
        let originals = lab.node_endpoints();
        let seed_url = url(&seed.endpoint());
        let mut mon = monitor(std::slice::from_ref(&seed_url), Mode::OssCluster, &["--duration", "180s"]);
        cluster_watched(&mut mon, &originals).await;

        let began = SystemTime::now();
        let r = lab.run(&Scenario::RollingReplace { drain: Duration::ZERO }).await.expect("rolling-replace");
        tokio::time::sleep(CATCH_UP).await;
        let end = SystemTime::now();
        let out = finish(mon, |m| m.terminate(Duration::from_secs(15))).await;
        let now_nodes = lab.node_endpoints();
        lab.shutdown().await;
        assert_eq!(out.code, Some(130), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        let t = Timeline::of(&s);
        let dump = t.dump_with(&[&r]);
        assert_eq!(s.endpoints, vec![seed_url]);

        // Which new node replaced which: each step's node joined, then the old one was retired.
        assert_eq!(r.steps.len(), 6);
        let joined: Vec<Endpoint> =
            r.events.iter().filter(|e| e.kind == LabEventKind::NodeJoined).filter_map(|e| e.node.clone()).collect();
        let retired: Vec<Endpoint> = r.steps.iter().map(|st| st.retired.clone().expect("a retired node")).collect();
        assert_eq!(joined.len(), 6, "{:?}", r.events);
        assert_eq!(retired.iter().collect::<BTreeSet<_>>(), originals.iter().collect::<BTreeSet<_>>());
        assert_eq!(joined.iter().collect::<BTreeSet<_>>(), now_nodes.iter().collect::<BTreeSet<_>>());

        // A joining node is listed under a temporary id during its handshake: that is no node of its own.
        for new in &joined {
            let added = s.changes.iter().filter(|c| is_added(new)(&c.change)).count();
            assert_eq!(added, 1, "{new} added once:\n{dump}");
            assert!(t.change(began, end, is_removed(new)).is_none(), "{new} never left:\n{dump}");
        }
        let start = s.topology_start.as_ref().expect("topology at the start");
        for (step, (new, old)) in r.steps.iter().zip(joined.iter().zip(&retired)) {
            let added = t.change(began, end, is_added(new)).unwrap_or_else(|| panic!("{new} added?\n{dump}"));
            let removed = t.change(began, end, is_removed(old)).unwrap_or_else(|| panic!("{old} removed?\n{dump}"));
            assert!(added < removed, "{new} must join before {old} leaves:\n{dump}");
            if step.ground_truth.is_some() {
                // A primary's step: its successor takes over first.
                assert_eq!(step.new_primary.as_ref(), Some(new), "{step:?}");
                let promoted =
                    t.change(began, end, is_promoted(new)).unwrap_or_else(|| panic!("{new} promoted?\n{dump}"));
                assert!(added < promoted && promoted <= removed, "{new} for {old}:\n{dump}");
                let dead = t.diagnoses().into_iter().find_map(|(_, d)| match d {
                    Diagnosis::DeadOwnerMoved { dead_endpoint, slots, new_owner, .. } if dead_endpoint == *old => {
                        Some((slots, new_owner))
                    }
                    _ => None,
                });
                assert_eq!(dead, Some((slots_of(start, old), new.clone())), "{old} as a dead owner:\n{dump}");
            }
        }
        assert_eq!(r.steps.iter().filter(|st| st.ground_truth.is_some()).count(), 3);

        // Gone = unreachable or removed, whichever the monitor saw first.
        let last_gone = originals
            .iter()
            .map(|ep| {
                let unreachable = t.notice(began, end, is_unreachable(ep));
                let removed = t.change(began, end, is_removed(ep));
                unreachable.into_iter().chain(removed).min().unwrap_or_else(|| panic!("{ep} never gone?\n{dump}"))
            })
            .max()
            .unwrap();
        let all_gone: Vec<(SystemTime, Diagnosis)> =
            t.diagnoses().into_iter().filter(|(_, d)| matches!(d, Diagnosis::AllKnownEndpointsGone { .. })).collect();
        assert_eq!(all_gone.len(), 1, "all_known_endpoints_gone once:\n{dump}");
        let (at, Diagnosis::AllKnownEndpointsGone { original, current, explanation }) = &all_gone[0] else {
            unreachable!()
        };
        assert!(*at >= last_gone, "raised before the last original endpoint was gone:\n{dump}");
        assert_eq!(original.iter().collect::<BTreeSet<_>>(), originals.iter().collect::<BTreeSet<_>>());
        // The new nodes are all listed; a retired node that the polled node had not forgotten yet may be too.
        let current: BTreeSet<_> = current.iter().collect();
        assert!(now_nodes.iter().all(|n| current.contains(n)), "{current:?} lacks a new node:\n{dump}");
        assert!(
            current.iter().all(|c| now_nodes.contains(c) || originals.contains(c)),
            "{current:?} names a node that is neither new nor retired:\n{dump}"
        );
        assert!(explanation.contains("seed"), "{explanation}");
        let end_topo = s.topology_end.as_ref().expect("topology at the end");
        assert_eq!(end_topo.endpoints().iter().collect::<BTreeSet<_>>(), now_nodes.iter().collect::<BTreeSet<_>>());
        assert!(end_topo.all_covered());
        drop(seed);
    });
}

/// Standalone, with `--maint-notifications` against Redis 7.0 (which has no CLIENT MAINT_NOTIFICATIONS): one
/// warning line saying the handshake was refused, and monitoring goes on to the end with exit 0. The lab's
/// role-swap turns the watched primary into a replica, which the monitor reports as a replication change.
#[test]
fn standalone_role_change_and_refused_maintenance_notices() {
    heavy(|| async {
        let mut lab = support::start_standalone_with(1).await;
        let primary = lab.seeds()[0].clone();
        let mut mon = monitor(&[url(&primary)], Mode::Standalone, &["--duration", "6s", "--maint-notifications"]);
        endpoint_watched(&mut mon, &primary).await;
        let swap_at = SystemTime::now();
        let swap = lab.run(&Scenario::RoleSwap { shard: None }).await.expect("role-swap");
        assert!(mon.running(), "the role-swap outlasted the monitor's 6 s: the test cannot see its effect");
        let out = finish(mon, |m| m.wait(Duration::from_secs(20))).await;
        assert_eq!(replication_role(&primary).await, "slave");
        lab.shutdown().await;

        assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        let t = Timeline::of(&s);
        let dump = t.dump();
        assert!(!s.interrupted);
        assert_eq!(s.mode, Mode::Standalone);
        assert!(s.polls >= 30, "{} polls in 6 s at 100 ms", s.polls);
        assert!(s.topology_start.is_none() && s.changes.is_empty());

        // The refusal: one notice, one line on stderr, nothing else about it.
        let warnings: Vec<&NoticeEvent> = s.notices.iter().filter(|n| n.kind == "warning").collect();
        assert_eq!(warnings.len(), 1, "{dump}");
        let w = &warnings[0].detail;
        assert!(w.contains("maintenance notifications not available"), "{w}");
        assert!(w.contains(&format!("{primary} does not send maintenance notices")), "{w}");
        assert!(w.contains("carrying on") && !w.contains('\n'), "{w}");
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("maintenance")).collect();
        assert_eq!(lines.len(), 1, "stderr:\n{}", out.stderr);
        assert!(lines[0].ends_with(w.as_str()), "{}", lines[0]);
        assert!(!s.notices.iter().any(|n| n.kind == "maint_notification"), "{dump}");

        // The role change of the watched endpoint, after the swap started.
        assert_eq!(swap.old_primary.as_ref(), Some(&primary));
        let role_changed = format!("{primary} role: master -> slave");
        let at = t
            .notice(swap_at, swap_at + FAR, |n| n.kind == "replication_changed" && n.detail == role_changed)
            .unwrap_or_else(|| panic!("no `{role_changed}`:\n{dump}"));
        assert!(at >= swap_at);
        let new = swap.new_primary.clone().unwrap();
        let host = t.notice(swap_at, swap_at + FAR, |n| {
            n.kind == "replication_changed" && n.detail == format!("{primary} master_port: - -> {}", new.port)
        });
        assert!(host.is_some(), "the new primary's port:\n{dump}");
        let start = s.replication_start.as_ref().expect("replication at the start");
        let end = s.replication_end.as_ref().expect("replication at the end");
        assert_eq!(start.get("role").map(String::as_str), Some("master"), "{start:?}");
        assert_eq!(start.get("connected_slaves").map(String::as_str), Some("1"), "{start:?}");
        assert_eq!(end.get("role").map(String::as_str), Some("slave"), "{end:?}");
        assert_eq!(end.get("master_port"), Some(&new.port.to_string()), "{end:?}");
    });
}

/// Enterprise (HAProxy in front, Sentinel promoting): after kill-primary the endpoint is the same address, still a
/// primary, but another node with no replica left: the monitor reports the endpoint's replication change.
#[test]
fn enterprise_kill_primary_changes_the_endpoints_replication() {
    heavy(|| async {
        let mut lab = support::start_enterprise().await;
        let endpoint = lab.seeds()[0].clone();
        let mut primary = None;
        for n in lab.node_endpoints() {
            if replication_role(&n).await == "master" {
                primary = Some(n);
            }
        }
        let primary = primary.expect("one node is primary");
        let mut mon = monitor(&[url(&endpoint)], Mode::Enterprise, &["--duration", "120s"]);
        endpoint_watched(&mut mon, &primary).await;
        let kill_at = SystemTime::now();
        let kill = lab.run(&Scenario::KillPrimary { shard: None }).await.expect("kill-primary");
        tokio::time::sleep(CATCH_UP).await;
        let out = finish(mon, |m| m.terminate(Duration::from_secs(15))).await;
        assert_eq!(lab.seeds(), vec![endpoint.clone()], "the enterprise endpoint does not move");
        lab.shutdown().await;

        assert_eq!(out.code, Some(130), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        let t = Timeline::of(&s);
        let dump = t.dump();
        assert_eq!(s.mode, Mode::Enterprise);
        assert_eq!(kill.old_primary.as_ref(), Some(&primary));
        assert_ne!(kill.new_primary.as_ref(), Some(&primary));
        let start = s.replication_start.as_ref().expect("replication at the start");
        let end = s.replication_end.as_ref().expect("replication at the end");
        assert_eq!(start.get("role").map(String::as_str), Some("master"), "{start:?}");
        assert_eq!(start.get("connected_slaves").map(String::as_str), Some("1"), "{start:?}");
        assert_eq!(end.get("role").map(String::as_str), Some("master"), "{end:?}");
        assert_eq!(end.get("connected_slaves").map(String::as_str), Some("0"), "{end:?}");
        let changed = format!("{endpoint} connected_slaves: 1 -> 0");
        let at = t
            .notice(kill_at, kill_at + FAR, |n| n.kind == "replication_changed" && n.detail == changed)
            .unwrap_or_else(|| panic!("no `{changed}`:\n{dump}"));
        // If the endpoint stopped answering in between, it answered again before the new state was read.
        if let Some(lost) = t.notice(kill_at, at, |n| n.kind == "endpoint_unreachable") {
            let back = t
                .notice(lost, at + Duration::from_millis(1), |n| n.kind == "endpoint_reachable")
                .unwrap_or_else(|| panic!("unreachable, then a new state without coming back?\n{dump}"));
            assert!(lost <= back && back <= at, "{dump}");
        }
        assert!(t.notice(kill_at - FAR, kill_at, |n| n.kind.starts_with("replication")).is_none(), "{dump}");
    });
}

/// An ACL user without access to the AzureRedisEvents channel (Redis 7 gives new users no channel unless told):
/// the server refuses the subscription, and monitor must say so in one warning and go on, as it does for a
/// refused maintenance-notice handshake. Otherwise the timeline silently lacks every maintenance notice.
#[test]
fn a_refused_azure_subscription_is_one_warning() {
    heavy(|| async {
        let lab = support::start_standalone().await;
        let ep = lab.seeds()[0].clone();
        support::admin_ok(&lab, &ep, &["ACL", "SETUSER", "probe", "on", ">probe-pw-7c1d", "~rfp:*", "+@all"]).await;
        let mut cmd = support::bin_std();
        cmd.env("REDIS_ACCESS_KEY", "probe-pw-7c1d")
            .args(["--url", &url(&ep), "--user", "probe", "--output", "json"])
            .args(["monitor", "--duration", "2s", "--interval", POLL]);
        let out = finish(Background::spawn(cmd), |m| m.wait(Duration::from_secs(20))).await;
        // The server's own record that it refused the subscription.
        let c = node_factory(&ep).node(&ep).await.unwrap();
        let acl_log = connect::command(&c, &["ACL", "LOG"]).await.unwrap();
        connect::quit(&c).await;
        lab.shutdown().await;
        let denied: Vec<Vec<String>> = acl_log
            .into_array()
            .into_iter()
            .map(|e| e.into_array().into_iter().map(|f| f.as_string().unwrap_or_default()).collect())
            .filter(|fields: &Vec<String>| fields.windows(2).any(|w| w[0] == "object" && w[1] == AZURE_CHANNEL))
            .collect();
        assert_eq!(denied.len(), 1, "the server refused the subscription once: {denied:?}");

        assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        assert!(s.polls >= 10, "monitoring went on: {} polls", s.polls);
        let warnings: Vec<&NoticeEvent> =
            s.notices.iter().filter(|n| n.kind == "warning" && n.detail.contains(AZURE_CHANNEL)).collect();
        assert_eq!(warnings.len(), 1, "one warning about {AZURE_CHANNEL}; notices: {:?}", s.notices);
        assert!(!warnings[0].detail.contains('\n'));
    });
}
