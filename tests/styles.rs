//! Client styles against a real local cluster (3 primaries, 3 replicas of redis-server): a SIGKILLed
//! primary strands moved-only but not reconnect-refresh, and a role swap is followed on MOVED.
//!
//! The cluster fixture is local to this file: servers on free ports, readiness polled from real state,
//! everything killed and reaped on Drop. The binary and the one-heavy-test-at-a-time lock are those of
//! tests/support: `RFP_REDIS_SERVER` overrides the binary, and a missing binary fails the tests with the install
//! line instead of skipping them.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_failover_probe::clock::Clock;
use redis_failover_probe::connect::Factory;
use redis_failover_probe::events::Event;
use redis_failover_probe::mode::Mode;
use redis_failover_probe::probe::styles::{ClientSpec, EmulatedCluster, RecoveryHow, ShardRecovery, StyleOptions};
use redis_failover_probe::probe::ErrorClass;
use redis_failover_probe::settings::Target;
use redis_failover_probe::topology::{key_slot, tag_for_slot, tag_in_ranges, Endpoint, SlotRange};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const TIMEOUT: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------- fixture

/// A reply of the tiny RESP client the fixture uses (independent of the code under test).
#[derive(Debug, Clone)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

impl Reply {
    fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Int(i) => i.to_string(),
            Reply::Bulk(b) => b.clone().unwrap_or_default(),
            Reply::Array(a) => a.iter().map(Reply::text).collect::<Vec<_>>().join(" "),
        }
    }
}

/// A probe of `key` as the engine sends it (60 s TTL, the tests' timeout, writes included).
fn probe<'a>(key: &'a str, value: &'a str) -> redis_failover_probe::probe::exec::WriteRead<'a> {
    redis_failover_probe::probe::exec::WriteRead {
        key,
        value,
        ttl: Duration::from_secs(60),
        timeout: TIMEOUT,
        read_only: false,
    }
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() {
        return Err(std::io::Error::other("connection closed"));
    }
    let (kind, rest) = line.split_at(1);
    let num = || rest.parse::<i64>().map_err(std::io::Error::other);
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(num()?),
        "$" => {
            let n = num()?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
            }
        }
        "*" => {
            let n = num()?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply(r)?);
            }
            Reply::Array(items)
        }
        other => return Err(std::io::Error::other(format!("unexpected RESP type {other}"))),
    })
}

/// Sends one command to 127.0.0.1:`port`; a Redis error reply is an `Err`.
fn redis(port: u16, args: &[&str]) -> Result<Reply, String> {
    let stream =
        TcpStream::connect_timeout(&std::net::SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(1))
            .map_err(|e| format!("connect {port}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    (&stream).write_all(out.as_bytes()).map_err(|e| format!("write {port}: {e}"))?;
    match read_reply(&mut BufReader::new(&stream)).map_err(|e| format!("read {port}: {e}"))? {
        Reply::Error(e) => Err(e),
        reply => Ok(reply),
    }
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| l.trim().strip_prefix(&format!("{name}:"))).map(|v| v.trim().to_string())
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// Three primaries (nodes 0..3, slots 0-5460, 5461-10922, 10923-16383) and a replica of each (node i+3
/// replicates node i), cluster-node-timeout 1000 ms.
struct LocalCluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

const RANGES: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

fn server_bin() -> std::ffi::OsString {
    support::redis_server_bin()
}

fn free_base() -> u16 {
    // Ports P..P+6 and their bus ports P+100.. must all be free.
    let seed = (std::process::id() % 200) as u16;
    for attempt in 0..200u16 {
        let base = 21000 + ((seed + attempt * 7) % 200) * 150;
        let all_free = (0..6).all(|i| {
            TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + i + 100)).is_ok()
        });
        if all_free {
            return base;
        }
    }
    panic!("no free range of ports for a local cluster");
}

impl LocalCluster {
    fn start() -> LocalCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = free_base();
        let mut cluster = LocalCluster { dir, nodes: Vec::new() };
        for i in 0..6 {
            let port = base + i;
            let spawned = Command::new(server_bin())
                .args(["--port", &port.to_string()])
                .args(["--cluster-port", &(port + 100).to_string()])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", "1000"])
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--daemonize", "no"])
                .args(["--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(cluster.dir.path())
                .args(["--logfile", &format!("{port}.log")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match spawned {
                Ok(child) => cluster.nodes.push(Node { port, child: Some(child) }),
                Err(e) => panic!(
                    "cannot start {:?} ({e}): these tests need redis-server 7 installed (or RFP_REDIS_SERVER set)",
                    server_bin()
                ),
            }
        }
        for n in 0..6 {
            cluster.wait(&format!("node {n} answering PING"), Duration::from_secs(10), |c| {
                redis(c.port(n), &["PING"]).is_ok()
            });
        }
        for n in 1..6 {
            let port = cluster.port(n);
            redis(cluster.port(0), &["CLUSTER", "MEET", "127.0.0.1", &port.to_string(), &(port + 100).to_string()])
                .expect("CLUSTER MEET");
        }
        for (n, (start, end)) in RANGES.iter().enumerate() {
            redis(cluster.port(n), &["CLUSTER", "ADDSLOTSRANGE", &start.to_string(), &end.to_string()])
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        cluster.wait("every node knowing 6 nodes", Duration::from_secs(15), |c| {
            (0..6).all(|n| {
                redis(c.port(n), &["CLUSTER", "INFO"])
                    .ok()
                    .and_then(|r| field(&r.text(), "cluster_known_nodes"))
                    .as_deref()
                    == Some("6")
            })
        });
        for n in 0..3 {
            let id = redis(cluster.port(n), &["CLUSTER", "MYID"]).expect("CLUSTER MYID").text();
            cluster.wait(&format!("node {} replicating node {n}", n + 3), Duration::from_secs(10), |c| {
                redis(c.port(n + 3), &["CLUSTER", "REPLICATE", &id]).is_ok()
            });
        }
        cluster.wait("cluster_state:ok everywhere, replica links up, roles agreed", Duration::from_secs(30), |c| {
            (0..6).all(|n| {
                let ok = redis(c.port(n), &["CLUSTER", "INFO"])
                    .ok()
                    .and_then(|r| field(&r.text(), "cluster_state"))
                    .as_deref()
                    == Some("ok");
                let replicas_known = redis(c.port(n), &["CLUSTER", "NODES"])
                    .map(|r| {
                        r.text()
                            .lines()
                            .filter(|l| {
                                l.split_whitespace().nth(2).is_some_and(|flags| flags.split(',').any(|f| f == "slave"))
                            })
                            .count()
                            == 3
                    })
                    .unwrap_or(false);
                let link = n < 3
                    || redis(c.port(n), &["INFO", "replication"])
                        .ok()
                        .and_then(|r| field(&r.text(), "master_link_status"))
                        .as_deref()
                        == Some("up");
                ok && replicas_known && link
            })
        });
        cluster
    }

    fn port(&self, n: usize) -> u16 {
        self.nodes[n].port
    }

    fn endpoint(&self, n: usize) -> Endpoint {
        Endpoint::new("127.0.0.1", self.port(n))
    }

    fn log(&self, n: usize) -> String {
        let path: PathBuf = self.dir.path().join(format!("{}.log", self.port(n)));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Polls `ready` every 100 ms until it holds; panics with every server's log tail after `limit`.
    fn wait(&self, what: &str, limit: Duration, ready: impl Fn(&LocalCluster) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let logs: String = (0..self.nodes.len())
            .map(|n| {
                let log = self.log(n);
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- node {n} ({}) ---\n{}\n", self.port(n), tail.join("\n"))
            })
            .collect();
        panic!("timed out after {limit:?} waiting for {what}\n{logs}");
    }

    fn sigkill(&mut self, n: usize) {
        if let Some(mut child) = self.nodes[n].child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
            let _ = child.wait();
        }
    }

    fn role(&self, n: usize) -> Option<String> {
        match redis(self.port(n), &["ROLE"]).ok()? {
            Reply::Array(items) => items.first().map(Reply::text),
            _ => None,
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------- probing

#[derive(Debug, Clone)]
struct Sample {
    /// When the probe was scheduled.
    at: Instant,
    class: Option<ErrorClass>,
}

/// One probe per TICK on `key` until `until`, overlapping like the engine; returns results by schedule.
async fn probe_loop(client: EmulatedCluster, key: String, until: Instant) -> Vec<Sample> {
    let mut ticker = tokio::time::interval(TICK);
    let mut tasks = tokio::task::JoinSet::new();
    let mut seq = 0u64;
    while Instant::now() < until {
        ticker.tick().await;
        seq += 1;
        let client = client.clone();
        let key = key.clone();
        tasks.spawn(async move {
            let at = Instant::now();
            let value = format!("styles:{seq}");
            let r = client.write_read(&probe(&key, &value)).await;
            Sample { at, class: r.outcome.class() }
        });
    }
    let mut out = Vec::new();
    while let Some(s) = tasks.join_next().await {
        out.push(s.expect("probe task"));
    }
    out.sort_by_key(|s| s.at);
    out
}

/// The first success after the last failure scheduled after `from` (stable recovery), as an offset from
/// `from`; `Some(ZERO)` if nothing failed.
fn recovered_after(samples: &[Sample], from: Instant) -> Option<Duration> {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= from).collect();
    let last_failure = after.iter().rposition(|s| s.class.is_some());
    match last_failure {
        None => Some(Duration::ZERO),
        Some(i) => after.get(i + 1).map(|s| s.at - from),
    }
}

fn failures_after(samples: &[Sample], from: Instant) -> usize {
    samples.iter().filter(|s| s.at >= from && s.class.is_some()).count()
}

fn keys_per_shard(client: &EmulatedCluster) -> Vec<(Vec<SlotRange>, String)> {
    client
        .topology()
        .shards
        .iter()
        .map(|s| {
            let tag = tag_in_ranges(&s.slots).expect("shard with slots");
            (s.slots.clone(), format!("styles:{{{tag}}}:probe"))
        })
        .collect()
}

/// The latest recovery episode of the shard owning `slot`.
fn episode_for(recovery: &[ShardRecovery], slot: u16) -> ShardRecovery {
    recovery
        .iter()
        .filter(|r| r.slots.iter().any(|s| s.contains(slot)))
        .max_by_key(|r| r.first_failure_ms)
        .cloned()
        .unwrap_or_else(|| panic!("no recovery entry for slot {slot}: {recovery:#?}"))
}

fn drain(rx: &mut UnboundedReceiver<Event>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::Client(c) = ev {
            out.push((c.kind.as_str().to_string(), c.detail));
        }
    }
    out
}

async fn connect(
    cluster: &LocalCluster,
    style: &str,
    refresh_after: Duration,
    clock: Clock,
) -> (EmulatedCluster, UnboundedReceiver<Event>) {
    let spec = ClientSpec::parse(style).unwrap_or_else(|e| panic!("{e}"));
    let mut target = Target::local(vec![cluster.endpoint(0)], Mode::OssCluster);
    target.timeout = TIMEOUT;
    let factory = Arc::new(Factory::new(target).expect("factory"));
    let (tx, rx) = unbounded_channel();
    let options = StyleOptions { refresh_after, events: Some(tx), source: style.to_string() };
    let client = EmulatedCluster::connect_with(factory, &spec, clock, options)
        .await
        .unwrap_or_else(|e| panic!("connecting {style}: {e}"));
    (client, rx)
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

// ---------------------------------------------------------------- tests

/// Runs one heavy test body under the lock every heavy test of every test binary shares (tests/support).
fn heavy<F: std::future::Future<Output = ()>>(body: F) {
    support::heavy(|| body);
}

#[test]
fn killed_primary_strands_moved_only_while_reconnect_refresh_recovers() {
    heavy(killed_primary());
}

#[test]
fn role_swap_is_followed_on_moved() {
    heavy(role_swap());
}

async fn killed_primary() {
    let mut cluster = LocalCluster::start();
    let clock = Clock::start();
    let (moved_only, mut mo_events) = connect(&cluster, "moved-only", Duration::from_secs(5), clock).await;
    let (reconnect, mut rr_events) = connect(&cluster, "reconnect-refresh", Duration::from_secs(2), clock).await;

    let victim = 1; // primary of 5461-10922; node 4 is its replica
    let victim_ep = cluster.endpoint(victim);
    let keys = keys_per_shard(&moved_only);
    assert_eq!(keys.len(), 3);
    assert_eq!(moved_only.route(RANGES[victim].0), Some(victim_ep.clone()), "the map routes the victim's slots to it");

    let warm_up = Duration::from_millis(1500);
    let kill_offset = Duration::from_secs(10);
    let until = Instant::now() + warm_up + kill_offset;
    let mut loops = Vec::new();
    for client in [&moved_only, &reconnect] {
        for (_, key) in &keys {
            loops.push(tokio::spawn(probe_loop(client.clone(), key.clone(), until)));
        }
    }

    tokio::time::sleep(warm_up).await;
    let killed_at = Instant::now();
    cluster.sigkill(victim);
    let promoted = tokio::task::spawn_blocking({
        let port = cluster.port(victim + 3);
        move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(9) {
                let role = match redis(port, &["ROLE"]) {
                    Ok(Reply::Array(items)) => items.first().map(Reply::text),
                    _ => None,
                };
                if role.as_deref() == Some("master") {
                    return Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        }
    })
    .await
    .unwrap()
    .expect("the replica of the killed primary was promoted within 9 s");
    let promotion = promoted - killed_at;

    let mut results = Vec::new();
    for l in loops {
        results.push(l.await.unwrap());
    }
    let (mo_results, rr_results) = results.split_at(3);
    let victim_slot = key_slot(keys[victim].1.as_bytes());

    // moved-only: the victim's key never comes back; the others do.
    let mo_victim = &mo_results[victim];
    let recovered_ok =
        mo_victim.iter().filter(|s| s.at >= killed_at + Duration::from_millis(200) && s.class.is_none()).count();
    let timeouts = mo_victim.iter().filter(|s| s.at >= killed_at && s.class == Some(ErrorClass::Timeout)).count();
    assert_eq!(recovered_ok, 0, "moved-only must not recover the killed primary's key");
    assert!(timeouts > 10, "moved-only kept retrying: {timeouts} timeouts");
    let mo_recovery = moved_only.recovery();
    let victim_episode = episode_for(&mo_recovery, victim_slot);
    match &victim_episode.how {
        RecoveryHow::StuckRetrying { endpoint, .. } => assert_eq!(endpoint, &victim_ep),
        other => panic!("moved-only should be stuck retrying {victim_ep}, got {other:?}"),
    }
    assert_eq!(moved_only.route(victim_slot), Some(victim_ep.clone()));
    let mut others = Vec::new();
    for (i, samples) in mo_results.iter().enumerate() {
        if i == victim {
            continue;
        }
        let back =
            recovered_after(samples, killed_at).unwrap_or_else(|| panic!("moved-only shard {i} never recovered"));
        assert!(
            back <= promotion + Duration::from_secs(3),
            "moved-only shard {i} back {} after the kill (promotion {})",
            secs(back),
            secs(promotion)
        );
        others.push(back);
    }
    let mo_events = drain(&mut mo_events);
    assert!(
        mo_events.iter().any(|(k, d)| k == "stuck" && d.contains(&victim_ep.to_string())),
        "moved-only reports the dead endpoint as stuck: {mo_events:?}"
    );
    assert!(
        !mo_events.iter().any(|(k, _)| k == "topology_resync"),
        "moved-only never refreshes without MOVED: {mo_events:?}"
    );

    // reconnect-refresh (2 s): the victim's key comes back after ~2 s (+ a re-arm if not yet promoted).
    let rr_back =
        recovered_after(&rr_results[victim], killed_at).expect("reconnect-refresh recovered the killed primary's key");
    assert!(
        rr_back >= Duration::from_millis(1900),
        "reconnect-refresh cannot recover before refresh_after: {}",
        secs(rr_back)
    );
    assert!(
        rr_back <= promotion + Duration::from_millis(3500),
        "reconnect-refresh back {} after the kill (promotion {})",
        secs(rr_back),
        secs(promotion)
    );
    let rr_recovery = reconnect.recovery();
    let rr_episode = episode_for(&rr_recovery, victim_slot);
    match &rr_episode.how {
        RecoveryHow::RefreshedAfterReconnectFailures { endpoint, after_ms, .. } => {
            assert_eq!(endpoint, &victim_ep);
            assert!(*after_ms >= 2000, "refreshed after {after_ms} ms");
        }
        other => panic!("reconnect-refresh should recover by refresh, got {other:?}"),
    }
    assert_eq!(reconnect.route(victim_slot), Some(cluster.endpoint(victim + 3)));
    let rr_events = drain(&mut rr_events);
    assert!(
        rr_events.iter().any(|(k, d)| k == "topology_resync" && d.contains(&victim_ep.to_string())),
        "{rr_events:?}"
    );

    eprintln!(
        "kill: promotion {} after SIGKILL; moved-only: killed shard stuck ({} timeouts in 10 s, {}), other shards back at {}; \
         reconnect-refresh(2s): killed shard back at {} ({:?}); events mo={:?} rr={:?}",
        secs(promotion),
        timeouts,
        victim_episode.label,
        others.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(", "),
        secs(rr_back),
        rr_episode.how,
        mo_events,
        rr_events,
    );
    moved_only.close().await;
    reconnect.close().await;
    assert_eq!(cluster.role(victim + 3).as_deref(), Some("master"));
}

async fn role_swap() {
    let cluster = LocalCluster::start();
    let clock = Clock::start();
    let (moved_only, mut mo_events) = connect(&cluster, "moved-only", Duration::from_secs(5), clock).await;
    let (direct, _direct_events) = connect(&cluster, "direct", Duration::from_secs(5), clock).await;

    let shard = 0; // node 3 replicates node 0
    let keys = keys_per_shard(&moved_only);
    let slot = key_slot(keys[shard].1.as_bytes());
    assert_eq!(direct.route(slot), Some(cluster.endpoint(shard)));
    let warm_up = Duration::from_millis(1000);
    let until = Instant::now() + warm_up + Duration::from_secs(4);
    let mut loops = Vec::new();
    for client in [&moved_only, &direct] {
        for (_, key) in &keys {
            loops.push(tokio::spawn(probe_loop(client.clone(), key.clone(), until)));
        }
    }
    tokio::time::sleep(warm_up).await;
    let swap_at = Instant::now();
    redis(cluster.port(shard + 3), &["CLUSTER", "FAILOVER"]).expect("CLUSTER FAILOVER");
    let swapped = tokio::task::spawn_blocking({
        let port = cluster.port(shard + 3);
        move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) {
                if let Ok(Reply::Array(items)) = redis(port, &["ROLE"]) {
                    if items.first().map(Reply::text).as_deref() == Some("master") {
                        return Some(Instant::now());
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            None
        }
    })
    .await
    .unwrap()
    .expect("the replica took over within 3 s");

    let mut results = Vec::new();
    for l in loops {
        results.push(l.await.unwrap());
    }
    let (mo_results, direct_results) = results.split_at(3);
    let mo_failures = failures_after(&mo_results[shard], swap_at);
    let mo_back = recovered_after(&mo_results[shard], swap_at).expect("moved-only recovered");
    assert!(
        mo_back <= (swapped - swap_at) + Duration::from_secs(1),
        "moved-only back {} after CLUSTER FAILOVER",
        secs(mo_back)
    );
    assert_eq!(moved_only.route(slot), Some(cluster.endpoint(shard + 3)));
    let episode = episode_for(&moved_only.recovery(), slot);
    match &episode.how {
        RecoveryHow::RefreshedOnMoved { from, .. } => assert_eq!(from, &cluster.endpoint(shard)),
        other => panic!("moved-only should refresh on MOVED from the demoted node, got {other:?}"),
    }
    let events = drain(&mut mo_events);
    let wanted = format!("refreshed on MOVED from {}", cluster.endpoint(shard));
    assert!(events.iter().any(|(k, d)| k == "topology_resync" && d.starts_with(&wanted)), "{events:?}");
    for (i, samples) in mo_results.iter().enumerate() {
        if i != shard {
            assert_eq!(failures_after(samples, swap_at), 0, "moved-only shard {i} is not touched by the swap");
        }
    }

    let direct_back = recovered_after(&direct_results[shard], swap_at).expect("direct recovered");
    assert!(direct_back <= (swapped - swap_at) + Duration::from_secs(2));
    assert_eq!(direct.route(slot), Some(cluster.endpoint(shard + 3)));

    eprintln!(
        "swap: replica promoted {} after CLUSTER FAILOVER; moved-only back at {} with {} failed probe(s), {:?}; \
         direct back at {} with {} failed probe(s); events {:?}",
        secs(swapped - swap_at),
        secs(mo_back),
        mo_failures,
        episode.how,
        secs(direct_back),
        failures_after(&direct_results[shard], swap_at),
        events
    );

    // ASK during a slot migration (shard 1 -> shard 2) is followed once, without touching the map.
    let migrating = 6000;
    let id = |n: usize| redis(cluster.port(n), &["CLUSTER", "MYID"]).expect("MYID").text();
    let (from, to) = (1, 2);
    let slot_arg = migrating.to_string();
    redis(cluster.port(to), &["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &id(from)]).expect("IMPORTING");
    redis(cluster.port(from), &["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &id(to)]).expect("MIGRATING");
    let key = format!("styles:{{{}}}:ask", tag_for_slot(migrating));
    let asked = moved_only.write_read(&probe(&key, "ask:1")).await;
    assert!(asked.outcome.is_ok(), "ASK followed: {:?}", asked.outcome);
    let stored = redis(cluster.port(to), &["CLUSTER", "COUNTKEYSINSLOT", &slot_arg]).expect("COUNTKEYSINSLOT").text();
    assert_eq!(stored, "1", "the key was written to the importing node");
    assert_eq!(moved_only.route(migrating), Some(cluster.endpoint(from)));
    assert!(
        moved_only
            .recovery()
            .iter()
            .all(|r| !r.slots.iter().any(|s| s.contains(migrating)) || r.how == RecoveryHow::NeverFailed),
        "ASK is not a failure"
    );

    moved_only.close().await;
    direct.close().await;
}
