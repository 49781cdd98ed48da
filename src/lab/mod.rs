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

#[macro_use]
mod wait;
mod acts;
mod admin;
mod bench;
mod cluster;
mod event;
mod group;
pub mod keeper;
mod node;
mod options;
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
use tokio::sync::mpsc::UnboundedSender;

use crate::certs::{self, TlsFiles};
use crate::clock::{Clock, Stamp};
use crate::connect::{self, Factory};
use crate::error::{AppError, AppResult};
use crate::mode::Mode;
use crate::settings::Target;
use crate::topology::Endpoint;

pub use bench::{bench, BenchFigure, BenchReport};
pub use event::{LabEvent, LabEventKind};
pub(crate) use node::{local, Aux, Node, Proxy, SENTINEL_NAME};
use options::validate;
pub use options::{LabOptions, TopologyKind};
pub use process::{pid_running, port_accepts, HAPROXY_ENV, REDIS_SERVER_ENV};
pub use scenario::{
    GroundTruth, Scenario, ScenarioKind, ScenarioReport, ScenarioStep, ShardTruth, DEFAULT_DRAIN, DEFAULT_HANG,
};
pub use seed::SeedKind;
pub use state::{LabState, NodeState, ProcState, ProxyState, DEFAULT_STATE_FILE};
pub(crate) use wait::{pending, Pending, POLL};

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

    fn group_primary_port(&self) -> Option<u16> {
        self.primary
    }

    pub(crate) fn node_index(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }

    pub(crate) fn live_ports(&self) -> Vec<u16> {
        self.nodes.iter().filter(|n| !n.proc.gone).map(|n| n.port).collect()
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
