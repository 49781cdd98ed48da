//! The state file of a detached lab (`lab up --detach`): kind, pids, ports, node ids and dir, as JSON. Later
//! runs (`lab status`, `lab run`, `lab down`) rebuild a [`Lab`] from it and act only on what it lists: every pid
//! is checked against its config file in `/proc/<pid>/cmdline` before it is signalled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use super::{process, Aux, Lab, LabEvent, LabOptions, Node, Proxy, TopologyKind};
use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use crate::mode::Mode;

/// Where `lab up --detach` writes its state unless `--state` says otherwise.
pub const DEFAULT_STATE_FILE: &str = ".redis-failover-probe-lab.json";

/// Everything needed to act on a detached lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// The topology.
    pub kind: TopologyKind,
    /// The connection mode for clients.
    pub mode: Mode,
    /// `redis://` URL of the first seed.
    pub seed_url: String,
    /// The temp dir with every config and log.
    pub dir: PathBuf,
    /// Keep the dir on `lab down`.
    pub keep_dir: bool,
    /// Cluster node timeout / Sentinel down-after, ms.
    pub node_timeout_ms: u64,
    /// Cluster primaries asked for.
    pub primaries: usize,
    /// Replicas asked for.
    pub replicas: usize,
    /// Every Redis node the lab started, live or not.
    pub nodes: Vec<NodeState>,
    /// Sentinel (enterprise).
    pub sentinel: Option<ProcState>,
    /// HAProxy (enterprise).
    pub proxy: Option<ProxyState>,
    /// The primary of a standalone or enterprise lab.
    pub primary: Option<u16>,
    /// Every endpoint speaks TLS only (`lab up --tls`); clients pass `--tls-ca` with `tls_ca`.
    #[serde(default)]
    pub tls: bool,
    /// The lab's CA certificate, for `--tls-ca` (TLS labs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// The keeper that is the parent of every process (`lab up --detach`; see `lab::keeper`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keeper_pid: Option<u32>,
}

/// One Redis node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// Client port.
    pub port: u16,
    /// Cluster node (bus on port + 100).
    pub cluster: bool,
    /// Process id.
    pub pid: u32,
    /// Cluster node id.
    pub id: Option<String>,
    /// Started with the lab (not by a replacement).
    pub original: bool,
    /// Still running when the state was written.
    pub alive: bool,
    /// Its directory (redis.conf, redis.log).
    pub dir: PathBuf,
}

/// Sentinel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcState {
    /// Port.
    pub port: u16,
    /// Process id.
    pub pid: u32,
    /// Its directory.
    pub dir: PathBuf,
}

/// HAProxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyState {
    /// The endpoint's port.
    pub port: u16,
    /// Process id.
    pub pid: u32,
    /// Its directory (haproxy.cfg, haproxy.sock).
    pub dir: PathBuf,
    /// Port each server slot (`s1`, ...) points at; `null` for spare or retired slots.
    pub slots: Vec<Option<u16>>,
}

impl LabState {
    /// Reads a state file.
    pub fn read(path: &Path) -> AppResult<LabState> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AppError::BadInput(format!(
                "cannot read the lab state file {}: {e} (start one with `lab up --detach`)",
                path.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| AppError::BadInput(format!("{} is not a lab state file: {e}", path.display())))
    }

    /// Writes it (pretty JSON).
    pub fn write(&self, path: &Path) -> AppResult<()> {
        let text = serde_json::to_string_pretty(self).expect("state serialises");
        std::fs::write(path, text + "\n")
            .map_err(|e| AppError::BadInput(format!("cannot write the lab state file {}: {e}", path.display())))
    }

    /// Every pid in the file.
    pub fn pids(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.nodes.iter().map(|n| n.pid).collect();
        out.extend(self.sentinel.iter().map(|s| s.pid));
        out.extend(self.proxy.iter().map(|p| p.pid));
        out
    }
}

fn inside(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir)
}

impl Lab {
    /// The facts of this lab for a state file.
    pub fn state(&self) -> LabState {
        LabState {
            kind: self.kind,
            mode: self.mode(),
            seed_url: self.seed_url(),
            dir: self.dir.clone(),
            keep_dir: self.opts.keep_dir,
            node_timeout_ms: self.opts.node_timeout.as_millis() as u64,
            primaries: self.opts.primaries,
            replicas: self.opts.replicas,
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeState {
                    port: n.port,
                    cluster: n.cluster,
                    pid: n.proc.pid,
                    id: n.id.clone(),
                    original: n.original,
                    alive: !n.proc.gone,
                    dir: n.dir.clone(),
                })
                .collect(),
            sentinel: self.sentinel.as_ref().map(|s| ProcState { port: s.port, pid: s.proc.pid, dir: s.dir.clone() }),
            proxy: self.proxy.as_ref().map(|p| ProxyState {
                port: p.aux.port,
                pid: p.aux.proc.pid,
                dir: p.aux.dir.clone(),
                slots: p.slots.clone(),
            }),
            primary: self.primary,
            tls: self.tls.is_some(),
            tls_ca: self.tls_ca().map(Path::to_path_buf),
            keeper_pid: None,
        }
    }

    /// Rebuilds a lab from a state file. Its processes are left running when the value is dropped; use
    /// [`Lab::shutdown`] to stop them. Refuses a file whose dir is not a lab dir or whose paths lie outside it.
    pub fn attach(state: &LabState, clock: Clock, events: Option<UnboundedSender<LabEvent>>) -> AppResult<Lab> {
        let is_lab_dir = state.dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rfp-lab-"));
        let all_inside = state.nodes.iter().all(|n| inside(&state.dir, &n.dir))
            && state.sentinel.iter().all(|s| inside(&state.dir, &s.dir))
            && state.proxy.iter().all(|p| inside(&state.dir, &p.dir));
        if !is_lab_dir || !all_inside {
            return Err(AppError::BadInput(format!(
                "the state file does not describe a lab dir (rfp-lab-*): refusing to act on {}",
                state.dir.display()
            )));
        }
        let redis_bin = process::find_binary(super::REDIS_SERVER_ENV, "redis-server")?;
        let opts = LabOptions {
            primaries: state.primaries,
            replicas: state.replicas,
            node_timeout: std::time::Duration::from_millis(state.node_timeout_ms),
            keep_dir: state.keep_dir,
            base_port: None,
            seed_proxy: state.kind == TopologyKind::Cluster && state.proxy.is_some(),
            seed_node: false,
            tls: state.tls,
        };
        // The certificates are where `lab up` made them, inside the lab dir (never a path from the file).
        let tls = state.tls.then(|| crate::certs::in_dir(&state.dir));
        let mut lab = Lab::empty(state.kind, opts, clock, events, state.dir.clone(), redis_bin, tls)?;
        lab.detached = true;
        lab.clients = Mutex::new(HashMap::new());
        for n in &state.nodes {
            let dir = n.dir.clone();
            let marker = dir.join("redis.conf").display().to_string();
            let mut proc = process::Proc::adopt(n.pid, &marker);
            if !n.alive || !proc.is_running() {
                proc.gone = true;
            }
            lab.ports.reserve(n.port);
            if n.cluster {
                lab.ports.reserve(n.port + 100);
            }
            lab.nodes.push(Node {
                port: n.port,
                cluster: n.cluster,
                dir,
                proc,
                id: n.id.clone(),
                original: n.original,
                stopped: false,
            });
        }
        if let Some(s) = &state.sentinel {
            let marker = s.dir.join("sentinel.conf").display().to_string();
            lab.ports.reserve(s.port);
            lab.sentinel = Some(Aux { port: s.port, dir: s.dir.clone(), proc: process::Proc::adopt(s.pid, &marker) });
        }
        if let Some(p) = &state.proxy {
            let marker = p.dir.join("haproxy.cfg").display().to_string();
            lab.ports.reserve(p.port);
            lab.proxy = Some(Proxy {
                aux: Aux { port: p.port, dir: p.dir.clone(), proc: process::Proc::adopt(p.pid, &marker) },
                slots: p.slots.clone(),
            });
        }
        lab.primary = state.primary;
        Ok(lab)
    }

    /// For each process of the lab: what it is, its port, pid, and whether it runs.
    pub fn processes(&mut self) -> Vec<(String, u16, u32, bool)> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            let running = n.proc.is_running();
            out.push(("redis-server".to_string(), n.port, n.proc.pid, running));
        }
        if let Some(s) = &mut self.sentinel {
            let running = s.proc.is_running();
            out.push(("sentinel".to_string(), s.port, s.proc.pid, running));
        }
        if let Some(p) = &mut self.proxy {
            let running = p.aux.proc.is_running();
            out.push(("haproxy".to_string(), p.aux.port, p.aux.proc.pid, running));
        }
        out
    }
}
