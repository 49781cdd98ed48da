//! The lab: disposable local Redis topologies of real processes (`redis-server`, Redis Sentinel, HAProxy) on
//! free ports of 127.0.0.1 under one temp dir, and fault scenarios run against them with real fault injection
//! (SIGKILL, SIGSTOP/SIGCONT, CLUSTER FAILOVER, node replacement). Every step is a [`LabEvent`]; a scenario
//! ends with a [`ScenarioReport`] carrying the ground truth the lab observed itself (when writes to the affected
//! shard stopped and when its primary took a write again), on the same [`Clock`] as the probe engine.
//!
//! Topologies:
//! - [`TopologyKind::Cluster`]: N primaries × R replicas, cluster bus on port + 100.
//! - [`TopologyKind::Enterprise`]: one stable HAProxy endpoint (TCP mode, health check `role:master`) in front
//!   of a primary and its replicas, with one Sentinel that promotes a replica when the primary dies.
//! - [`TopologyKind::Standalone`]: one node, optionally with replicas, no proxy.
//!
//! With [`LabOptions::tls`] every endpoint speaks TLS only, as the managed caches do: the lab makes its own CA and
//! one certificate (names `localhost` and `127.0.0.1`) in its dir, every node listens on `tls-port` only (`port 0`)
//! with the cluster bus and replication over TLS too, Sentinel reaches the nodes over TLS, and HAProxy stays a TCP
//! passthrough whose health checks run inside TLS (`check-ssl`). The lab's own admin connections verify the
//! certificates against that CA like any client.
//!
//! Every Redis command goes through the connection [`Factory`]; every process is killed and reaped when the
//! [`Lab`] is dropped (unless it was detached to a state file for `lab up --detach`).

/// Polls a condition (an expression giving a future of `Result<T, Pending>`, evaluated afresh on every turn) every
/// ~10 ms until it holds, or fails after `limit` with the reason and the log of the node it names. A macro rather
/// than a function taking an async closure, so the futures of `Lab::run` stay `Send`.
macro_rules! wait_until {
    ($lab:expr, $what:expr, $limit:expr, $check:expr) => {{
        let limit: std::time::Duration = $limit;
        let until = std::time::Instant::now() + limit;
        loop {
            let outcome: Result<_, $crate::lab::Pending> = $check.await;
            match outcome {
                Ok(v) => break Ok::<_, $crate::error::AppError>(v),
                Err(p) if std::time::Instant::now() >= until => {
                    break Err($lab.fail_at(
                        &format!("{}: not done within {}: {}", $what, $crate::duration::human(limit), p.why),
                        p.port,
                    ));
                }
                Err(_) => tokio::time::sleep($crate::lab::POLL).await,
            }
        }
    }};
}

mod bench;
mod cluster;
mod group;
mod process;
mod proxy;
mod scenario;
mod seed;
mod shard_truth;
mod state;
mod truth;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::prelude::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::certs::{self, TlsFiles};
use crate::cli::Mode;
use crate::clock::{Clock, Stamp};
use crate::connect::{self, Factory};
use crate::error::{AppError, AppResult};
use crate::settings::Target;
use crate::topology::Endpoint;

pub use bench::{bench, BenchFigure, BenchReport};
pub use process::{pid_running, port_accepts, HAPROXY_ENV, REDIS_SERVER_ENV};
pub use scenario::{
    GroundTruth, Scenario, ScenarioKind, ScenarioReport, ScenarioStep, ShardTruth, DEFAULT_DRAIN, DEFAULT_HANG,
};
pub use seed::SeedKind;
pub use state::{LabState, NodeState, ProcState, ProxyState, DEFAULT_STATE_FILE};

/// Which topology a lab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TopologyKind {
    /// OSS cluster: N primaries × R replicas.
    #[default]
    Cluster,
    /// One HAProxy endpoint in front of a primary and replicas, Sentinel promoting on failure.
    Enterprise,
    /// One node, optionally with replicas, no proxy.
    Standalone,
}

impl TopologyKind {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            TopologyKind::Cluster => "cluster",
            TopologyKind::Enterprise => "enterprise",
            TopologyKind::Standalone => "standalone",
        }
    }

    /// The connection mode a client of this topology uses.
    pub fn mode(self) -> Mode {
        match self {
            TopologyKind::Cluster => Mode::OssCluster,
            TopologyKind::Enterprise => Mode::Enterprise,
            TopologyKind::Standalone => Mode::Standalone,
        }
    }
}

impl std::fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How big a lab is and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Cluster primaries (cluster only).
    pub primaries: usize,
    /// Replicas per primary (cluster), of the primary (standalone, enterprise: at least 1).
    pub replicas: usize,
    /// `cluster-node-timeout` (cluster) and Sentinel's `down-after-milliseconds` (enterprise).
    pub node_timeout: Duration,
    /// Leave the temp dir (configs, logs) in place when the lab ends.
    pub keep_dir: bool,
    /// First port to try; free ports are searched upwards from it.
    pub base_port: Option<u16>,
    /// Cluster: put a stable discovery endpoint (HAProxy forwarding to any live node) in front, as a managed
    /// OSS cluster's public address is; its URL becomes the seed. Node replacement keeps it pointed at live nodes.
    pub seed_proxy: bool,
    /// Cluster without `seed_proxy`: the only seed is the node that owned slot 0 when the lab started (the
    /// default victim of kill-primary), as a client configured with one node's address has; otherwise every node.
    pub seed_node: bool,
    /// TLS only: every node, Sentinel and the HAProxy endpoint take `rediss://` connections, verified against a
    /// CA the lab makes in its dir ([`Lab::tls_ca`]).
    pub tls: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            primaries: 3,
            replicas: 1,
            node_timeout: Duration::from_millis(1000),
            keep_dir: false,
            base_port: None,
            seed_proxy: false,
            seed_node: false,
            tls: false,
        }
    }
}

/// What happened, as a `LabEvent` kind (snake_case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabEventKind {
    /// A Redis node (or Sentinel, HAProxy) process started and answers.
    NodeStarted,
    /// A node is known to every other node (cluster) or attached to its primary.
    NodeJoined,
    /// A replica's link to its primary is up and every node lists it as a replica.
    ReplicaSynced,
    /// The lab asked for a failover (CLUSTER FAILOVER, FAILOVER).
    FailoverRequested,
    /// A replica is primary, as every node sees it.
    ReplicaPromoted,
    /// SIGKILL sent to a node.
    NodeKilled,
    /// SIGSTOP sent to a node.
    NodeStopped,
    /// SIGCONT sent to a node.
    NodeResumed,
    /// A node was shut down (SIGTERM) and reaped.
    NodeShutdown,
    /// CLUSTER FORGET of a retired node sent to every remaining node.
    NodeForgotten,
    /// A demoted primary keeps running (answering MOVED) for the drain before it is shut down.
    NodeDraining,
    /// An endpoint no longer exists.
    EndpointRetired,
    /// HAProxy's admin socket changed a server slot.
    ProxyReconfigured,
    /// Sentinel was pointed at the new primary.
    SentinelReconfigured,
    /// A node that still said it was primary was made a replica of the real one (fencing).
    NodeDemoted,
    /// The affected shard's primary accepted a write again (ground truth).
    WritesResumed,
    /// A topology is ready.
    LabReady,
    /// A scenario began.
    ScenarioStarted,
    /// A scenario ended.
    ScenarioFinished,
}

/// One step of a lab's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabEvent {
    /// When, on the run's clock.
    pub stamp: Stamp,
    /// What.
    pub kind: LabEventKind,
    /// The node it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Endpoint>,
    /// Details for people.
    pub detail: String,
}

/// A Redis node of the lab.
#[derive(Debug)]
pub(crate) struct Node {
    pub port: u16,
    pub cluster: bool,
    pub dir: PathBuf,
    pub proc: process::Proc,
    pub id: Option<String>,
    pub original: bool,
    pub stopped: bool,
}

impl Node {
    pub fn endpoint(&self) -> Endpoint {
        local(self.port)
    }
}

/// An auxiliary process (Sentinel, HAProxy).
#[derive(Debug)]
pub(crate) struct Aux {
    pub port: u16,
    pub dir: PathBuf,
    pub proc: process::Proc,
}

/// HAProxy and its server slots (`s1`..): the port each slot points at, `None` when free (disabled or maint).
#[derive(Debug)]
pub(crate) struct Proxy {
    pub aux: Aux,
    pub slots: Vec<Option<u16>>,
}

/// The Sentinel name of the monitored primary.
pub(crate) const SENTINEL_NAME: &str = "lab";

/// A running topology. Dropping it kills and reaps every process and removes the temp dir (unless `keep_dir`),
/// except after [`Lab::detach`].
pub struct Lab {
    kind: TopologyKind,
    opts: LabOptions,
    clock: Clock,
    events: Option<UnboundedSender<LabEvent>>,
    recorded: Vec<LabEvent>,
    dir: PathBuf,
    redis_bin: PathBuf,
    ports: process::Ports,
    factory: Factory,
    /// The CA, certificate and key of a TLS lab.
    tls: Option<TlsFiles>,
    clients: Mutex<HashMap<u16, Client>>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) sentinel: Option<Aux>,
    pub(crate) proxy: Option<Proxy>,
    /// The primary of a standalone or enterprise lab, as last observed.
    pub(crate) primary: Option<u16>,
    detached: bool,
    ready_ms: u64,
}

pub(crate) fn local(port: u16) -> Endpoint {
    Endpoint::new("127.0.0.1", port)
}

/// A reason a polled condition does not hold yet, and the node whose log explains it.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub why: String,
    pub port: Option<u16>,
}

pub(crate) fn pending(why: impl Into<String>, port: Option<u16>) -> Pending {
    Pending { why: why.into(), port }
}

/// How often conditions are polled.
pub(crate) const POLL: Duration = Duration::from_millis(10);

impl Lab {
    /// Starts a topology and waits until it is ready. Fails with [`AppError::Lab`] when a binary is missing
    /// (one line saying how to install it) or a node does not come up (with the tail of its log).
    pub async fn start(
        kind: TopologyKind,
        opts: &LabOptions,
        clock: Clock,
        events: Option<UnboundedSender<LabEvent>>,
    ) -> Result<Lab, AppError> {
        let redis_bin = process::find_binary(REDIS_SERVER_ENV, "redis-server")?;
        let needs_haproxy = kind == TopologyKind::Enterprise || (kind == TopologyKind::Cluster && opts.seed_proxy);
        let haproxy_bin = if needs_haproxy { Some(process::find_binary(HAPROXY_ENV, "haproxy")?) } else { None };
        validate(kind, opts)?;
        let dir = tempfile::Builder::new()
            .prefix("rfp-lab-")
            .tempdir()
            .map_err(|e| AppError::Lab(format!("cannot create a temp dir: {e}")))?
            .keep();
        let tls = if opts.tls {
            match certs::make(&dir, &["localhost", "127.0.0.1"]) {
                Ok(files) => Some(files),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            }
        } else {
            None
        };
        let began = Instant::now();
        let mut lab = Lab::empty(kind, opts.clone(), clock, events, dir, redis_bin, tls)?;
        match kind {
            TopologyKind::Cluster => {
                lab.boot_cluster().await?;
                if let Some(haproxy) = haproxy_bin.as_deref() {
                    lab.start_proxy(haproxy, false).await?;
                }
            }
            TopologyKind::Standalone => lab.boot_group(None).await?,
            TopologyKind::Enterprise => lab.boot_group(haproxy_bin.as_deref()).await?,
        }
        lab.ready_ms = began.elapsed().as_millis() as u64;
        lab.emit(
            LabEventKind::LabReady,
            None,
            format!("{kind} ready in {} at {}", crate::duration::human(began.elapsed()), lab.seed_url()),
        );
        Ok(lab)
    }

    fn empty(
        kind: TopologyKind,
        opts: LabOptions,
        clock: Clock,
        events: Option<UnboundedSender<LabEvent>>,
        dir: PathBuf,
        redis_bin: PathBuf,
        tls: Option<TlsFiles>,
    ) -> AppResult<Lab> {
        // No seeds: an admin connection to 127.0.0.1 is verified against the certificate's IP address.
        let target = with_tls(Target::local(vec![], Mode::Standalone), tls.as_ref());
        Ok(Lab {
            kind,
            ports: process::Ports::new(opts.base_port),
            opts,
            clock,
            events,
            recorded: Vec::new(),
            dir,
            redis_bin,
            factory: Factory::new(target)?,
            tls,
            clients: Mutex::new(HashMap::new()),
            nodes: Vec::new(),
            sentinel: None,
            proxy: None,
            primary: None,
            detached: false,
            ready_ms: 0,
        })
    }

    /// The topology.
    pub fn kind(&self) -> TopologyKind {
        self.kind
    }

    /// The connection mode for clients of this lab.
    pub fn mode(&self) -> Mode {
        self.kind.mode()
    }

    /// The options it was started with.
    pub fn options(&self) -> &LabOptions {
        &self.opts
    }

    /// The temp dir holding every config and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long `start` took to get the topology ready, ms.
    pub fn ready_ms(&self) -> u64 {
        self.ready_ms
    }

    /// What a client connects to: the HAProxy endpoint (enterprise), the primary (standalone), or every live
    /// cluster node.
    pub fn seeds(&self) -> Vec<Endpoint> {
        match self.kind {
            TopologyKind::Enterprise => self.proxy.as_ref().map(|p| vec![local(p.aux.port)]).unwrap_or_default(),
            TopologyKind::Standalone => self.group_primary_port().map(|p| vec![local(p)]).unwrap_or_default(),
            TopologyKind::Cluster => match &self.proxy {
                Some(p) => vec![local(p.aux.port)],
                // The first original node got slots 0-...; a client keeps its seed even when that node is gone.
                None if self.opts.seed_node => {
                    self.nodes.iter().find(|n| n.original).map(Node::endpoint).into_iter().collect()
                }
                None => self.node_endpoints(),
            },
        }
    }

    /// `redis://` (or, TLS, `rediss://`) URL of the first seed.
    pub fn seed_url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        self.seeds().first().map(|e| format!("{scheme}://{e}")).unwrap_or_default()
    }

    /// A target for [`Factory::new`], with this lab's seeds and mode; TLS with the lab's CA for a TLS lab.
    pub fn target(&self) -> Target {
        with_tls(Target::local(self.seeds(), self.mode()), self.tls.as_ref())
    }

    /// The CA certificate a client of a TLS lab verifies against (`--tls-ca`); `None` for a plaintext lab.
    pub fn tls_ca(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca.as_path())
    }

    /// The redis.conf lines that make a node (or Sentinel) TLS-only on `port`, or plain `port P` without TLS.
    /// The cluster bus (`tls-cluster`) and replication, and Sentinel's links to the nodes, use TLS as well.
    pub(crate) fn listen_conf(&self, port: u16, cluster: bool) -> Vec<String> {
        let Some(t) = &self.tls else {
            return vec![format!("port {port}")];
        };
        let mut conf = vec![
            "port 0".to_string(),
            format!("tls-port {port}"),
            format!("tls-cert-file {}", t.cert.display()),
            format!("tls-key-file {}", t.key.display()),
            format!("tls-ca-cert-file {}", t.ca.display()),
            // Clients prove nothing: like the managed caches, TLS is for encryption and server identity.
            "tls-auth-clients no".to_string(),
            "tls-replication yes".to_string(),
        ];
        if cluster {
            conf.push("tls-cluster yes".to_string());
        }
        conf
    }

    /// Every Redis node that is still running (not Sentinel or HAProxy).
    pub fn node_endpoints(&self) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self.nodes.iter().filter(|n| !n.proc.gone).map(Node::endpoint).collect();
        out.sort();
        out
    }

    /// Every process id of the lab that may still run (nodes, Sentinel, HAProxy).
    pub fn pids(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.nodes.iter().filter(|n| !n.proc.gone).map(|n| n.proc.pid).collect();
        out.extend(self.sentinel.iter().map(|s| s.proc.pid));
        out.extend(self.proxy.iter().map(|p| p.aux.proc.pid));
        out
    }

    /// Every port of the lab in use now (nodes, cluster bus ports, Sentinel, HAProxy).
    pub fn ports(&self) -> Vec<u16> {
        let mut out = Vec::new();
        for n in self.nodes.iter().filter(|n| !n.proc.gone) {
            out.push(n.port);
            if n.cluster {
                out.push(n.port + 100);
            }
        }
        out.extend(self.sentinel.iter().map(|s| s.port));
        out.extend(self.proxy.iter().map(|p| p.aux.port));
        out
    }

    /// Runs a scenario to completion and returns what happened. The lab is left settled (every live node agrees on
    /// the topology, replicas in sync) so that the next scenario can start at once.
    pub async fn run(&mut self, scenario: &Scenario) -> Result<ScenarioReport, AppError> {
        self.recorded.clear();
        let began = Instant::now();
        self.emit(LabEventKind::ScenarioStarted, None, format!("{} on {}", scenario.kind(), self.kind));
        let (shard, steps, shards) = match self.kind {
            TopologyKind::Cluster => self.cluster_scenario(scenario).await?,
            _ => {
                let (shard, steps) = self.group_scenario(scenario).await?;
                (shard, steps, vec![])
            }
        };
        self.emit(
            LabEventKind::ScenarioFinished,
            None,
            format!("{} finished in {}", scenario.kind(), crate::duration::human(began.elapsed())),
        );
        Ok(ScenarioReport::assemble(
            scenario,
            self.kind,
            shard,
            steps,
            shards,
            began.elapsed().as_millis() as u64,
            std::mem::take(&mut self.recorded),
        ))
    }

    /// Re-bases the lab's events on another clock and channel: a rehearsal starts its probing clock once the lab
    /// is ready, and the lab's offsets must line up with the probes'.
    pub fn rebase(&mut self, clock: Clock, events: Option<UnboundedSender<LabEvent>>) {
        self.clock = clock;
        self.events = events;
        self.recorded.clear();
    }

    /// Stops everything now: every process killed and reaped, clients closed, the temp dir removed unless
    /// `keep_dir`. Also for a lab attached from a state file (`lab down`).
    pub async fn shutdown(mut self) {
        self.close_clients().await;
        self.detached = false;
        self.kill_all();
        // Drop does the rest (nothing left to kill, removes the dir).
    }

    /// Leaves every process running and returns the facts needed to act on them later (`lab up --detach`).
    pub async fn detach(mut self) -> LabState {
        self.close_clients().await;
        self.detached = true;
        self.state()
    }

    async fn close_clients(&self) {
        let clients: Vec<Client> = self.clients.lock().expect("clients lock").drain().map(|(_, c)| c).collect();
        for c in clients {
            connect::quit(&c).await;
        }
    }

    fn kill_all(&mut self) {
        if let Some(p) = &mut self.proxy {
            p.aux.proc.kill_now();
        }
        if let Some(s) = &mut self.sentinel {
            s.proc.kill_now();
        }
        for n in &mut self.nodes {
            n.proc.kill_now();
        }
    }

    /// Records an event and sends it to the channel, if any.
    pub(crate) fn emit(&mut self, kind: LabEventKind, node: Option<Endpoint>, detail: String) {
        self.emit_at(self.clock.now(), kind, node, detail);
    }

    pub(crate) fn emit_at(&mut self, stamp: Stamp, kind: LabEventKind, node: Option<Endpoint>, detail: String) {
        let event = LabEvent { stamp, kind, node, detail };
        if let Some(tx) = &self.events {
            let _ = tx.send(event.clone());
        }
        self.recorded.push(event);
    }

    /// A cached direct client to one node, made by the factory.
    pub(crate) async fn client(&self, port: u16) -> Result<Client, String> {
        if let Some(c) = self.clients.lock().expect("clients lock").get(&port) {
            return Ok(c.clone());
        }
        let c = self.factory.node(&local(port)).await.map_err(|e| e.to_string())?;
        let old = self.clients.lock().expect("clients lock").insert(port, c.clone());
        if let Some(old) = old {
            connect::quit(&old).await;
        }
        Ok(c)
    }

    /// Closes the cached client of a node that goes away.
    pub(crate) async fn drop_client(&self, port: u16) {
        let c = self.clients.lock().expect("clients lock").remove(&port);
        if let Some(c) = c {
            connect::quit(&c).await;
        }
    }

    /// Sends a command to one node and returns its reply as text, or the error as text.
    pub(crate) async fn cmd(&self, port: u16, parts: &[&str]) -> Result<String, String> {
        let c = self.client(port).await?;
        connect::text_command(&c, parts)
            .await
            .map_err(|e| format!("{} on 127.0.0.1:{port}: {}", parts.join(" "), crate::errfmt::fred_error(&e)))
    }

    /// Sends a command whose reply must be OK.
    pub(crate) async fn cmd_ok(&self, port: u16, parts: &[&str]) -> AppResult<()> {
        match self.cmd(port, parts).await {
            Ok(r) if r == "OK" => Ok(()),
            Ok(other) => {
                Err(self
                    .fail_at(&format!("{} on 127.0.0.1:{port} replied {other:?}, not OK", parts.join(" ")), Some(port)))
            }
            Err(e) => Err(self.fail_at(&e, Some(port))),
        }
    }

    /// `INFO replication` of one node.
    pub(crate) async fn replication(&self, port: u16) -> Result<std::collections::BTreeMap<String, String>, String> {
        Ok(crate::topology::parse_info(&self.cmd(port, &["INFO", "replication"]).await?))
    }

    /// The primary on `primary` lists the replica on `replica` as `state=online` (with diskless sync that comes
    /// a moment after the replica reports its link up; FAILOVER refuses a replica that is not online yet).
    pub(crate) async fn online_at(&self, primary: u16, replica: u16) -> Result<(), Pending> {
        let info = self.replication(primary).await.map_err(|e| pending(e, Some(primary)))?;
        let online = info
            .iter()
            .filter(|(k, _)| k.starts_with("slave") && k[5..].parse::<u32>().is_ok())
            .map(|(_, v)| crate::topology::parse_info_subfields(v))
            .any(|f| {
                f.get("port").map(String::as_str) == Some(replica.to_string().as_str())
                    && f.get("state").map(String::as_str) == Some("online")
            });
        if online {
            Ok(())
        } else {
            Err(pending(format!("127.0.0.1:{primary} does not list 127.0.0.1:{replica} online yet"), Some(primary)))
        }
    }

    /// An error with the tail of the log of the node on `port` (or of the whole lab dir).
    pub(crate) fn fail_at(&self, what: &str, port: Option<u16>) -> AppError {
        let dir = port.and_then(|p| self.nodes.iter().find(|n| n.port == p).map(|n| &n.dir)).or_else(|| {
            port.and_then(|p| {
                self.sentinel.iter().find(|s| s.port == p).map(|s| &s.dir).or(self
                    .proxy
                    .iter()
                    .find(|x| x.aux.port == p)
                    .map(|x| &x.aux.dir))
            })
        });
        let tail = dir.map(|d| process::log_tail(d, 15)).unwrap_or_default();
        AppError::Lab(format!("{what}{tail}"))
    }

    fn group_primary_port(&self) -> Option<u16> {
        self.primary
    }

    pub(crate) fn node_index(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }

    pub(crate) fn live_ports(&self) -> Vec<u16> {
        self.nodes.iter().filter(|n| !n.proc.gone).map(|n| n.port).collect()
    }

    /// Writes a redis.conf for a new node in its own directory, starts it and waits until it answers PING.
    pub(crate) async fn start_node(&mut self, cluster: bool, extra: &[String]) -> AppResult<u16> {
        for attempt in 0..3 {
            let port = self.ports.take(cluster)?;
            let dir = self.dir.join(format!("node-{port}"));
            std::fs::create_dir_all(&dir)
                .map_err(|e| AppError::Lab(format!("cannot create {}: {e}", dir.display())))?;
            let mut conf = self.listen_conf(port, cluster);
            conf.extend([
                "bind 127.0.0.1".into(),
                "protected-mode no".into(),
                "daemonize no".into(),
                format!("dir {}", dir.display()),
                format!("logfile {}", dir.join("redis.log").display()),
                "save \"\"".into(),
                "appendonly no".into(),
                "repl-diskless-sync yes".into(),
                "repl-diskless-sync-delay 0".into(),
                // A retired primary must not hold its shutdown for 10 s waiting on replicas.
                "shutdown-timeout 2".into(),
            ]);
            if cluster {
                conf.extend([
                    "cluster-enabled yes".into(),
                    format!("cluster-port {}", port + 100),
                    format!("cluster-config-file {}", dir.join("nodes.conf").display()),
                    format!("cluster-node-timeout {}", self.opts.node_timeout.as_millis()),
                    // Keeps each shard's membership what the scenarios made it.
                    "cluster-allow-replica-migration no".into(),
                ]);
            }
            conf.extend(extra.iter().cloned());
            let conf_path = dir.join("redis.conf");
            std::fs::write(&conf_path, conf.join("\n") + "\n")
                .map_err(|e| AppError::Lab(format!("cannot write {}: {e}", conf_path.display())))?;
            let marker = conf_path.display().to_string();
            let proc = process::Proc::spawn(&self.redis_bin, &[&marker], &dir, &marker)?;
            self.nodes.push(Node { port, cluster, dir: dir.clone(), proc, id: None, original: false, stopped: false });
            match self.await_ping(port, Duration::from_secs(10)).await {
                Ok(()) => {
                    let pid = self.nodes.last().map(|n| n.proc.pid).unwrap_or(0);
                    self.emit(
                        LabEventKind::NodeStarted,
                        Some(local(port)),
                        format!("redis-server pid {pid} on 127.0.0.1:{port}"),
                    );
                    return Ok(port);
                }
                Err(e) => {
                    let lost_race = process::log_tail(&dir, 15).contains("Address already in use");
                    let idx = self.nodes.len() - 1;
                    self.nodes[idx].proc.kill_now();
                    if lost_race && attempt < 2 {
                        self.nodes.pop();
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(AppError::Lab("could not start a node".into()))
    }

    /// Waits until the process on `port` answers PING, failing early (with its log) if it exits.
    pub(crate) async fn await_ping(&mut self, port: u16, limit: Duration) -> AppResult<()> {
        let until = Instant::now() + limit;
        loop {
            let running = self
                .nodes
                .iter_mut()
                .find(|n| n.port == port)
                .map(|n| n.proc.is_running())
                .or_else(|| self.sentinel.as_mut().filter(|s| s.port == port).map(|s| s.proc.is_running()))
                .unwrap_or(true);
            if !running {
                return Err(
                    self.fail_at(&format!("the process for 127.0.0.1:{port} exited while starting"), Some(port))
                );
            }
            if process::port_accepts(port) {
                if let Ok(reply) = self.cmd(port, &["PING"]).await {
                    if reply == "PONG" {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= until {
                return Err(self.fail_at(
                    &format!("127.0.0.1:{port} did not answer PING within {}", crate::duration::human(limit)),
                    Some(port),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The stamp of an instant on the run's clock.
    pub(crate) fn stamp(&self, at: Instant) -> Stamp {
        self.clock.stamp_at(at)
    }

    pub(crate) fn factory(&self) -> &Factory {
        &self.factory
    }

    pub(crate) fn node_timeout(&self) -> Duration {
        self.opts.node_timeout
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        // Clients are closed in the background when a runtime is still there; their sockets die with the nodes.
        let clients: Vec<Client> = match self.clients.lock() {
            Ok(mut m) => m.drain().map(|(_, c)| c).collect(),
            Err(_) => vec![],
        };
        if !clients.is_empty() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    for c in clients {
                        connect::quit(&c).await;
                    }
                });
            }
        }
        self.kill_all();
        if !self.opts.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn validate(kind: TopologyKind, opts: &LabOptions) -> AppResult<()> {
    let bad = |m: String| Err(AppError::BadInput(m));
    match kind {
        TopologyKind::Cluster if opts.primaries == 0 || opts.primaries > 50 => {
            bad(format!("--primaries {}: use 1 to 50", opts.primaries))
        }
        TopologyKind::Enterprise if opts.replicas == 0 => {
            bad("enterprise needs at least one replica (--replicas 1 or more)".into())
        }
        TopologyKind::Cluster if opts.seed_proxy && opts.seed_node => {
            bad("a cluster lab has one kind of seed: the proxy or the first node, not both".into())
        }
        _ if opts.replicas > 5 => bad(format!("--replicas {}: use 0 to 5", opts.replicas)),
        _ if opts.node_timeout < Duration::from_millis(100) => {
            bad(format!("--node-timeout {}: use at least 100ms", crate::duration::human(opts.node_timeout)))
        }
        _ => Ok(()),
    }
}

/// `target` made TLS with the lab's CA (verification on), when the lab is TLS.
fn with_tls(target: Target, tls: Option<&TlsFiles>) -> Target {
    match tls {
        Some(t) => Target { tls: true, tls_ca: Some(t.ca.clone()), ..target },
        None => target,
    }
}

/// A key in `slot` under the lab's prefix.
pub(crate) fn key_for_slot(slot: u16) -> String {
    format!("rfp:lab:{{{}}}:w", crate::topology::tag_for_slot(slot))
}

/// Compile-time checks: a lab and its futures can move between tasks of a multi-threaded runtime.
#[cfg(test)]
#[allow(dead_code)]
mod send_check {
    fn assert_send<T: Send>(_: &T) {}
    fn lab_and_futures_are_send(lab: &mut super::Lab, s: &super::Scenario) {
        assert_send(lab);
        assert_send(&super::Lab::start(
            super::TopologyKind::Cluster,
            &super::LabOptions::default(),
            crate::clock::Clock::start(),
            None,
        ));
        assert_send(&lab.run(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_from_their_names() {
        let s = Scenario::from_kind(ScenarioKind::HangPrimary, Some(2), None, false, None);
        assert_eq!(s, Scenario::HangPrimary { shard: Some(2), duration: DEFAULT_HANG });
        assert_eq!(s.shard(), 2);
        let s = Scenario::from_kind(ScenarioKind::ReplaceNode, None, None, true, None);
        assert_eq!(s, Scenario::ReplaceNode { shard: None, replica: true, drain: DEFAULT_DRAIN });
        assert_eq!(s.drain(), DEFAULT_DRAIN);
        let s = Scenario::from_kind(ScenarioKind::RollingReplace, None, None, false, Some(Duration::ZERO));
        assert_eq!(s, Scenario::RollingReplace { drain: Duration::ZERO });
        assert_eq!(s.shard(), 0, "the default target is the shard owning slot 0");
        for k in [
            ScenarioKind::RoleSwap,
            ScenarioKind::KillPrimary,
            ScenarioKind::ReplaceNode,
            ScenarioKind::RollingReplace,
            ScenarioKind::HangPrimary,
        ] {
            assert_eq!(Scenario::from_kind(k, None, None, false, None).kind(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
            use clap::ValueEnum;
            assert_eq!(k.to_possible_value().unwrap().get_name(), k.as_str());
        }
    }

    #[test]
    fn event_kinds_are_snake_case() {
        assert_eq!(serde_json::to_string(&LabEventKind::NodeForgotten).unwrap(), "\"node_forgotten\"");
        assert_eq!(serde_json::to_string(&LabEventKind::ScenarioStarted).unwrap(), "\"scenario_started\"");
        assert_eq!(serde_json::to_string(&TopologyKind::Enterprise).unwrap(), "\"enterprise\"");
    }

    #[test]
    fn topologies_map_to_modes() {
        assert_eq!(TopologyKind::Cluster.mode(), Mode::OssCluster);
        assert_eq!(TopologyKind::Enterprise.mode(), Mode::Enterprise);
        assert_eq!(TopologyKind::Standalone.mode(), Mode::Standalone);
    }

    #[test]
    fn options_are_checked() {
        let mut o = LabOptions::default();
        assert!(validate(TopologyKind::Cluster, &o).is_ok());
        o.primaries = 0;
        assert!(validate(TopologyKind::Cluster, &o).unwrap_err().to_string().contains("--primaries 0"));
        o = LabOptions { replicas: 0, ..LabOptions::default() };
        assert!(validate(TopologyKind::Enterprise, &o).is_err());
        assert!(validate(TopologyKind::Standalone, &o).is_ok());
        o.node_timeout = Duration::from_millis(10);
        assert!(validate(TopologyKind::Standalone, &o).is_err());
    }

    #[test]
    fn lab_keys_land_in_their_slot() {
        for slot in [0u16, 5461, 16383] {
            let k = key_for_slot(slot);
            assert!(k.starts_with("rfp:lab:"));
            assert_eq!(crate::topology::key_slot(k.as_bytes()), slot);
        }
    }
}
