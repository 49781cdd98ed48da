//! The lab's processes: Redis nodes and auxiliary processes (Sentinel, HAProxy), how a node is configured,
//! started and awaited.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::process;
use super::wait::POLL;
use super::{Lab, LabEventKind};
use crate::error::{AppError, AppResult};
use crate::topology::Endpoint;

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

/// The endpoint of a lab port.
pub(crate) fn local(port: u16) -> Endpoint {
    Endpoint::new("127.0.0.1", port)
}

impl Lab {
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
}
