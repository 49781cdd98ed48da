//! Replication groups: the standalone topology (a primary and optional replicas) and the enterprise one (the same
//! behind HAProxy, with one Sentinel). Scenarios act on the nodes; on enterprise the endpoint stays put.
//!
//! How the enterprise scenarios promote:
//! - role-swap and replace-node use the `FAILOVER` command on the primary (writes paused until the replica has
//!   caught up, then the roles swap), like a planned maintenance; Sentinel is then re-pointed at the new primary
//!   with `SENTINEL REMOVE` + `SENTINEL MONITOR` (Sentinel would otherwise take the demoted primary for a failed
//!   one and start a failover of its own about 20 s later).
//! - kill-primary leaves the promotion to Sentinel (down-after = the lab's node timeout, quorum 1).
//! - hang-primary: if Sentinel promoted a replica while the primary was stopped, the resumed old primary still
//!   says `role:master` and HAProxy would route to both; the lab fences it at once with `REPLICAOF` to the
//!   primary Sentinel names (Sentinel itself would wait 8 s), once Sentinel's failover has finished.
//! - standalone has no failure detector, so kill-primary is refused there.

mod faults;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fred::prelude::Value;

use super::{local, pending, process, proxy, Aux, Lab, LabEventKind, Pending, Proxy, POLL, SENTINEL_NAME};
use crate::connect;
use crate::error::{AppError, AppResult};

/// The key whose writes show when the group takes writes again.
const GROUP_KEY: &str = "rfp:lab:group:w";
const GROUP_LABEL: &str = "replication group";

/// Who is primary and who replicates it.
#[derive(Debug, Clone)]
pub(crate) struct GroupView {
    pub primary: u16,
    pub replicas: Vec<u16>,
}

fn flat_map(v: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    match v {
        Value::Array(items) => {
            for pair in items.chunks(2) {
                if let [k, v] = pair {
                    if let (Some(k), Some(v)) = (k.as_string(), v.as_string()) {
                        out.insert(k, v);
                    }
                }
            }
        }
        Value::Map(m) => {
            for (k, v) in m.clone().inner().iter() {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_string()) {
                    out.insert(k.to_string(), v);
                }
            }
        }
        _ => {}
    }
    out
}

impl Lab {
    pub(crate) async fn boot_group(&mut self, haproxy: Option<&std::path::Path>) -> AppResult<()> {
        let primary = self.start_node(false, &[]).await?;
        self.primary = Some(primary);
        let mut replicas = Vec::new();
        for _ in 0..self.opts.replicas {
            let port = self.start_node(false, &[format!("replicaof 127.0.0.1 {primary}")]).await?;
            replicas.push(port);
        }
        for n in &mut self.nodes {
            n.original = true;
        }
        let limit = self.group_limit();
        wait_until!(self, "replicas sync", limit, async { self.group_view().await.map(|_| ()) })?;
        for &r in &replicas {
            self.emit(
                LabEventKind::ReplicaSynced,
                Some(local(r)),
                format!("127.0.0.1:{r} replicates 127.0.0.1:{primary}, link up"),
            );
        }
        if let Some(haproxy) = haproxy {
            self.start_sentinel(primary, &replicas).await?;
            self.start_proxy(haproxy, true).await?;
            wait_until!(self, "enterprise ready", limit, async { self.group_settled().await.map(|_| ()) })?;
        }
        Ok(())
    }

    fn group_limit(&self) -> Duration {
        Duration::from_secs(15) + self.node_timeout() * 5
    }

    fn failover_timeout_ms(&self) -> u128 {
        (self.node_timeout() * 3).as_millis().max(3000)
    }

    async fn start_sentinel(&mut self, primary: u16, replicas: &[u16]) -> AppResult<()> {
        let port = self.ports.take(false)?;
        let dir = self.dir.join(format!("sentinel-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| AppError::Lab(format!("cannot create {}: {e}", dir.display())))?;
        // With TLS, `tls-replication yes` makes Sentinel reach the nodes over TLS too.
        let mut conf = self.listen_conf(port, false);
        conf.extend([
            "bind 127.0.0.1".into(),
            "protected-mode no".into(),
            "daemonize no".into(),
            format!("dir {}", dir.display()),
            format!("logfile {}", dir.join("sentinel.log").display()),
            format!("sentinel monitor {SENTINEL_NAME} 127.0.0.1 {primary} 1"),
            format!("sentinel down-after-milliseconds {SENTINEL_NAME} {}", self.node_timeout().as_millis()),
            format!("sentinel failover-timeout {SENTINEL_NAME} {}", self.failover_timeout_ms()),
            format!("sentinel parallel-syncs {SENTINEL_NAME} 1"),
        ]);
        // Known up front, so Sentinel need not wait for its first INFO round to find them.
        conf.extend(replicas.iter().map(|r| format!("sentinel known-replica {SENTINEL_NAME} 127.0.0.1 {r}")));
        let path = dir.join("sentinel.conf");
        std::fs::write(&path, conf.join("\n") + "\n")
            .map_err(|e| AppError::Lab(format!("cannot write {}: {e}", path.display())))?;
        let marker = path.display().to_string();
        let proc = process::Proc::spawn(&self.redis_bin, &[&marker, "--sentinel"], &dir, &marker)?;
        let pid = proc.pid;
        self.sentinel = Some(Aux { port, dir, proc });
        self.await_ping(port, Duration::from_secs(10)).await?;
        self.emit(
            LabEventKind::NodeStarted,
            Some(local(port)),
            format!("sentinel pid {pid} on 127.0.0.1:{port}, monitoring 127.0.0.1:{primary}"),
        );
        Ok(())
    }

    /// Starts HAProxy in front of every live node: checking the role (enterprise: only the primary gets
    /// traffic) or only PING (a cluster's stable discovery endpoint, like a managed cluster's public address).
    pub(crate) async fn start_proxy(&mut self, haproxy: &std::path::Path, role_check: bool) -> AppResult<()> {
        let port = self.ports.take(false)?;
        let dir = self.dir.join(format!("haproxy-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| AppError::Lab(format!("cannot create {}: {e}", dir.display())))?;
        let mut slots: Vec<Option<u16>> = self.live_ports().into_iter().map(Some).collect();
        // Spare slots for replacements; a retired slot becomes a spare again.
        slots.extend([None, None]);
        while slots.len() < 4 {
            slots.push(None);
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, proxy::config(&dir, port, &slots, role_check, self.tls.is_some()))
            .map_err(|e| AppError::Lab(format!("cannot write {}: {e}", path.display())))?;
        let marker = path.display().to_string();
        let proc = process::Proc::spawn(haproxy, &["-f", &marker, "-db"], &dir, &marker)?;
        let pid = proc.pid;
        self.proxy = Some(Proxy { aux: Aux { port, dir, proc }, slots });
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let p = self.proxy.as_mut().expect("proxy just set");
            if !p.aux.proc.is_running() {
                return Err(self.fail_at("haproxy exited while starting", Some(port)));
            }
            if process::port_accepts(port) && self.proxy_socket_ok().await {
                break;
            }
            if Instant::now() > until {
                return Err(self.fail_at("haproxy did not come up within 10s", Some(port)));
            }
            tokio::time::sleep(POLL).await;
        }
        self.emit(LabEventKind::NodeStarted, Some(local(port)), format!("haproxy pid {pid} on 127.0.0.1:{port}"));
        Ok(())
    }

    /// Retires a node for good: out of the proxy, shut down (SIGTERM) and reaped; its endpoint no longer exists.
    pub(crate) async fn shut_down_endpoint(&mut self, port: u16) -> AppResult<()> {
        self.proxy_remove(port).await?;
        let idx = self.node_index(port).expect("a lab node");
        self.drop_client(port).await;
        self.nodes[idx].proc.terminate(Duration::from_secs(5));
        self.emit(
            LabEventKind::NodeShutdown,
            Some(local(port)),
            format!("127.0.0.1:{port} shut down (SIGTERM) and reaped"),
        );
        self.emit(LabEventKind::EndpointRetired, Some(local(port)), format!("127.0.0.1:{port} no longer exists"));
        Ok(())
    }

    /// Points a spare HAProxy slot at a new node (no-op without a proxy).
    pub(crate) async fn proxy_add(&mut self, new: u16) -> AppResult<()> {
        if let Some(socket) = self.proxy_socket() {
            let p = self.proxy.as_mut().expect("proxy");
            let free = match p.slots.iter().position(Option::is_none) {
                Some(i) => i,
                None => return Err(AppError::Lab("no spare HAProxy slot left".into())),
            };
            p.slots[free] = Some(new);
            proxy::enable_slot(&socket, free, new).await?;
            self.emit(
                LabEventKind::ProxyReconfigured,
                Some(local(new)),
                format!("haproxy be/s{} -> 127.0.0.1:{new}, state ready", free + 1),
            );
        }
        Ok(())
    }

    /// Takes a retired node's HAProxy slot out of service; the slot becomes a spare again.
    pub(crate) async fn proxy_remove(&mut self, old: u16) -> AppResult<()> {
        if let Some(socket) = self.proxy_socket() {
            let p = self.proxy.as_mut().expect("proxy");
            if let Some(i) = p.slots.iter().position(|s| *s == Some(old)) {
                p.slots[i] = None;
                proxy::retire_slot(&socket, i).await?;
                self.emit(
                    LabEventKind::ProxyReconfigured,
                    Some(local(old)),
                    format!("haproxy be/s{} (127.0.0.1:{old}) state maint", i + 1),
                );
            }
        }
        Ok(())
    }

    async fn proxy_socket_ok(&self) -> bool {
        match &self.proxy {
            Some(p) => proxy::server_status(&p.aux.dir.join("haproxy.sock")).await.is_ok(),
            None => false,
        }
    }

    fn proxy_socket(&self) -> Option<std::path::PathBuf> {
        self.proxy.as_ref().map(|p| p.aux.dir.join("haproxy.sock"))
    }

    /// Exactly one running node is primary and every other running node replicates it with its link up.
    pub(crate) async fn group_view(&self) -> Result<GroupView, Pending> {
        let mut primaries = Vec::new();
        let mut replicas = Vec::new();
        for n in self.nodes.iter().filter(|n| !n.proc.gone && !n.stopped) {
            let r = self.replication(n.port).await.map_err(|e| pending(e, Some(n.port)))?;
            match r.get("role").map(String::as_str) {
                Some("master") => primaries.push(n.port),
                Some("slave") => replicas.push((n.port, r)),
                other => return Err(pending(format!("127.0.0.1:{} reports role {other:?}", n.port), Some(n.port))),
            }
        }
        let primary = match primaries.as_slice() {
            [one] => *one,
            [] => return Err(pending("no node is primary", None)),
            many => return Err(pending(format!("{} nodes say they are primary", many.len()), None)),
        };
        for (port, r) in &replicas {
            if r.get("master_port").map(String::as_str) != Some(primary.to_string().as_str()) {
                return Err(pending(format!("127.0.0.1:{port} does not replicate 127.0.0.1:{primary}"), Some(*port)));
            }
            if r.get("master_link_status").map(String::as_str) != Some("up") {
                return Err(pending(format!("127.0.0.1:{port} link to 127.0.0.1:{primary} is not up"), Some(*port)));
            }
            self.online_at(primary, *port).await?;
        }
        Ok(GroupView { primary, replicas: replicas.into_iter().map(|(p, _)| p).collect() })
    }

    async fn sentinel_cmd(&self, parts: &[&str]) -> Result<Value, Pending> {
        let s = self.sentinel.as_ref().ok_or_else(|| pending("no sentinel", None))?;
        let c = self.client(s.port).await.map_err(|e| pending(e, Some(s.port)))?;
        connect::command(&c, parts)
            .await
            .map_err(|e| pending(format!("{}: {}", parts.join(" "), crate::errfmt::fred_error(&e)), Some(s.port)))
    }

    /// The primary Sentinel names, and whether a failover of its is in progress.
    async fn sentinel_master(&self) -> Result<(u16, bool), Pending> {
        let v = self.sentinel_cmd(&["SENTINEL", "MASTER", SENTINEL_NAME]).await?;
        let m = flat_map(&v);
        let port =
            m.get("port").and_then(|p| p.parse().ok()).ok_or_else(|| pending("sentinel names no primary", None))?;
        let busy = m.get("flags").is_some_and(|f| f.contains("failover_in_progress"));
        Ok((port, busy))
    }

    /// The whole group agrees: one primary, replicas in sync; on enterprise Sentinel names that primary and
    /// knows every replica, HAProxy has exactly the primary's slot UP, and the endpoint takes a write.
    pub(crate) async fn group_settled(&self) -> Result<GroupView, Pending> {
        let view = self.group_view().await?;
        if self.sentinel.is_some() {
            let (port, busy) = self.sentinel_master().await?;
            if port != view.primary || busy {
                return Err(pending(
                    format!("sentinel names 127.0.0.1:{port} (failover in progress: {busy})"),
                    self.sentinel.as_ref().map(|s| s.port),
                ));
            }
            let v = self.sentinel_cmd(&["SENTINEL", "REPLICAS", SENTINEL_NAME]).await?;
            let known: Vec<u16> = match &v {
                Value::Array(items) => items
                    .iter()
                    .map(flat_map)
                    .filter(|m| !m.get("flags").is_some_and(|f| f.contains("s_down") || f.contains("disconnected")))
                    .filter_map(|m| m.get("port").and_then(|p| p.parse().ok()))
                    .collect(),
                _ => vec![],
            };
            if let Some(r) = view.replicas.iter().find(|r| !known.contains(r)) {
                return Err(pending(
                    format!("sentinel does not know the replica 127.0.0.1:{r} yet"),
                    self.sentinel.as_ref().map(|s| s.port),
                ));
            }
        }
        if let (Some(p), Some(socket)) = (&self.proxy, self.proxy_socket()) {
            let status = proxy::server_status(&socket).await.map_err(|e| pending(e, Some(p.aux.port)))?;
            for (i, slot) in p.slots.iter().enumerate() {
                let name = format!("s{}", i + 1);
                let st = status.get(&name).map(String::as_str).unwrap_or("?");
                let up = st.starts_with("UP");
                match slot {
                    Some(port) if *port == view.primary && !up => {
                        return Err(pending(format!("haproxy has the primary's slot {name} {st}"), Some(p.aux.port)))
                    }
                    Some(port) if *port != view.primary && up => {
                        return Err(pending(
                            format!("haproxy still has {name} (127.0.0.1:{port}) UP"),
                            Some(p.aux.port),
                        ))
                    }
                    _ => {}
                }
            }
            let c = self.client(p.aux.port).await.map_err(|e| pending(e, Some(p.aux.port)))?;
            let r = connect::command(&c, &["SET", "rfp:lab:endpoint", "1", "PX", "60000"]).await;
            if !matches!(&r, Ok(v) if v.as_str().as_deref() == Some("OK")) {
                return Err(pending(format!("the endpoint does not take a write yet: {r:?}"), Some(p.aux.port)));
            }
        }
        Ok(view)
    }

    /// Waits for the group to settle, fencing a resumed old primary that Sentinel replaced meanwhile.
    async fn settle_group(&mut self) -> AppResult<GroupView> {
        let limit = self.group_limit();
        let until = Instant::now() + limit;
        loop {
            match self.group_settled().await {
                Ok(v) => {
                    self.primary = Some(v.primary);
                    return Ok(v);
                }
                Err(p) if Instant::now() >= until => {
                    return Err(self.fail_at(
                        &format!(
                            "replication group settle: not done within {}: {}",
                            crate::duration::human(limit),
                            p.why
                        ),
                        p.port,
                    ))
                }
                Err(_) => {
                    self.fence().await?;
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Demotes every node that says it is primary but is not the one Sentinel names (after Sentinel is done).
    async fn fence(&mut self) -> AppResult<()> {
        if self.sentinel.is_none() {
            return Ok(());
        }
        let Ok((port, false)) = self.sentinel_master().await else {
            return Ok(());
        };
        let running: Vec<u16> =
            self.nodes.iter().filter(|n| !n.proc.gone && !n.stopped && n.port != port).map(|n| n.port).collect();
        for other in running {
            let Ok(r) = self.replication(other).await else {
                continue;
            };
            if r.get("role").map(String::as_str) == Some("master") {
                self.cmd_ok(other, &["REPLICAOF", "127.0.0.1", &port.to_string()]).await?;
                self.emit(
                    LabEventKind::NodeDemoted,
                    Some(local(other)),
                    format!("127.0.0.1:{other} fenced: REPLICAOF 127.0.0.1:{port}, the primary Sentinel names"),
                );
            }
        }
        Ok(())
    }

    /// Points Sentinel at `primary` (forgetting nodes that are gone).
    async fn repoint_sentinel(&mut self, primary: u16) -> AppResult<()> {
        let Some(port) = self.sentinel.as_ref().map(|s| s.port) else {
            return Ok(());
        };
        let ms = self.node_timeout().as_millis().to_string();
        let ft = self.failover_timeout_ms().to_string();
        self.cmd_ok(port, &["SENTINEL", "REMOVE", SENTINEL_NAME]).await?;
        self.cmd_ok(port, &["SENTINEL", "MONITOR", SENTINEL_NAME, "127.0.0.1", &primary.to_string(), "1"]).await?;
        self.cmd_ok(
            port,
            &[
                "SENTINEL",
                "SET",
                SENTINEL_NAME,
                "down-after-milliseconds",
                &ms,
                "failover-timeout",
                &ft,
                "parallel-syncs",
                "1",
            ],
        )
        .await?;
        self.emit(
            LabEventKind::SentinelReconfigured,
            Some(local(primary)),
            format!("sentinel now monitors 127.0.0.1:{primary}"),
        );
        Ok(())
    }
}
