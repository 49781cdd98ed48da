//! The cluster topology: creation (ADDSLOTSRANGE, MEET, REPLICATE) and its scenarios. Every wait polls the real
//! state of every live node (CLUSTER INFO, CLUSTER NODES, INFO replication) until all of them agree.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::truth::watch_writes;
use super::{
    key_for_slot, local, pending, GroundTruth, Lab, LabEventKind, Pending, Scenario, ScenarioStep, ShardTruth,
};
use crate::error::{AppError, AppResult};
use crate::topology::{
    merge, parse_cluster_info, parse_cluster_nodes, shards_from_nodes, ClusterNode, Role, Shard, SlotRange, SLOT_COUNT,
};

/// The slot ranges of `n` primaries, split as `redis-cli --cluster create` does (0-5460, 5461-10922, ...).
pub(crate) fn split_slots(n: usize) -> Vec<SlotRange> {
    let per = f64::from(SLOT_COUNT) / n as f64;
    (0..n)
        .map(|i| {
            let start = (i as f64 * per).round() as u16;
            let end = (((i + 1) as f64 * per).round() as u16).saturating_sub(1);
            SlotRange::new(start, end.max(start))
        })
        .collect()
}

fn label(slots: &[SlotRange]) -> String {
    let ranges: Vec<String> = merge(slots).iter().map(|r| r.to_string()).collect();
    format!("slots {}", ranges.join(","))
}

impl Lab {
    fn settle_limit(&self) -> Duration {
        Duration::from_secs(15) + self.node_timeout() * 5
    }

    pub(crate) async fn boot_cluster(&mut self) -> AppResult<()> {
        let primaries = self.opts.primaries;
        let total = primaries * (1 + self.opts.replicas);
        let mut ports = Vec::with_capacity(total);
        for _ in 0..total {
            let port = self.start_node(true, &[]).await?;
            ports.push(port);
        }
        for (i, &port) in ports.iter().enumerate() {
            let id = self.cmd(port, &["CLUSTER", "MYID"]).await.map_err(|e| self.fail_at(&e, Some(port)))?;
            let idx = self.node_index(port).expect("node just started");
            self.nodes[idx].id = Some(id);
            self.nodes[idx].original = true;
            // Distinct config epochs up front, as redis-cli does, so no epoch collision has to be resolved.
            self.cmd_ok(port, &["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]).await?;
        }
        for (range, &port) in split_slots(primaries).iter().zip(&ports) {
            self.cmd_ok(port, &["CLUSTER", "ADDSLOTSRANGE", &range.start.to_string(), &range.end.to_string()]).await?;
        }
        // Every pair meets directly: quicker than waiting for gossip to spread the news.
        for (i, &a) in ports.iter().enumerate() {
            for &b in &ports[i + 1..] {
                self.cmd_ok(a, &["CLUSTER", "MEET", "127.0.0.1", &b.to_string(), &(b + 100).to_string()]).await?;
            }
        }
        let limit = self.settle_limit();
        wait_until!(self, "cluster join", limit, async { self.cluster_known().await })?;
        for &port in &ports {
            self.emit(
                LabEventKind::NodeJoined,
                Some(local(port)),
                format!("127.0.0.1:{port} known to all {total} nodes"),
            );
        }
        for (k, &port) in ports[primaries..].iter().enumerate() {
            let primary_port = ports[k / self.opts.replicas.max(1)];
            let primary_id = self.id_of(primary_port);
            self.cmd_ok(port, &["CLUSTER", "REPLICATE", &primary_id]).await?;
        }
        wait_until!(self, "cluster ready", limit, async { self.cluster_settled().await })?;
        for &port in &ports[primaries..] {
            self.emit(LabEventKind::ReplicaSynced, Some(local(port)), format!("127.0.0.1:{port} replica link up"));
        }
        Ok(())
    }

    fn id_of(&self, port: u16) -> String {
        self.node_index(port).and_then(|i| self.nodes[i].id.clone()).unwrap_or_default()
    }

    /// Live, running nodes with their ids.
    fn live_ids(&self) -> Vec<(u16, String)> {
        self.nodes
            .iter()
            .filter(|n| !n.proc.gone && !n.stopped)
            .filter_map(|n| n.id.clone().map(|id| (n.port, id)))
            .collect()
    }

    pub(crate) async fn cluster_nodes(&self, port: u16) -> Result<Vec<ClusterNode>, Pending> {
        let text = self.cmd(port, &["CLUSTER", "NODES"]).await.map_err(|e| pending(e, Some(port)))?;
        parse_cluster_nodes(&text).map_err(|e| pending(e.to_string(), Some(port)))
    }

    /// Every live node knows every other live node (no handshake, no failure flag).
    async fn cluster_known(&self) -> Result<(), Pending> {
        let live = self.live_ids();
        for (port, _) in &live {
            let nodes = self.cluster_nodes(*port).await?;
            for (other, id) in &live {
                match nodes.iter().find(|n| &n.id == id) {
                    None => {
                        return Err(pending(
                            format!("127.0.0.1:{port} does not know 127.0.0.1:{other} yet"),
                            Some(*port),
                        ))
                    }
                    Some(n) if n.has_flag("handshake") || n.has_flag("noaddr") || n.is_failed() => {
                        return Err(pending(
                            format!("127.0.0.1:{port} sees 127.0.0.1:{other} as {}", n.flags.join(",")),
                            Some(*port),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// The whole cluster agrees: every live node has cluster_state:ok, knows every live node with the role,
    /// primary and slots that node claims for itself, and every replica's link is up.
    pub(crate) async fn cluster_settled(&self) -> Result<(), Pending> {
        let live = self.live_ids();
        let mut views: Vec<(u16, Vec<ClusterNode>)> = Vec::with_capacity(live.len());
        let mut own: HashMap<String, ClusterNode> = HashMap::new();
        for (port, _) in &live {
            let info = self.cmd(*port, &["CLUSTER", "INFO"]).await.map_err(|e| pending(e, Some(*port)))?;
            let info = parse_cluster_info(&info).map_err(|e| pending(e.to_string(), Some(*port)))?;
            if !info.is_ok() {
                return Err(pending(format!("127.0.0.1:{port} says cluster_state:{}", info.state), Some(*port)));
            }
            let nodes = self.cluster_nodes(*port).await?;
            if let Some(me) = nodes.iter().find(|n| n.is_myself()) {
                own.insert(me.id.clone(), me.clone());
            }
            views.push((*port, nodes));
        }
        for (port, nodes) in &views {
            for (other, id) in &live {
                let Some(n) = nodes.iter().find(|n| &n.id == id) else {
                    return Err(pending(format!("127.0.0.1:{port} does not know 127.0.0.1:{other}"), Some(*port)));
                };
                let Some(truth) = own.get(id) else {
                    return Err(pending(format!("127.0.0.1:{other} does not list itself"), Some(*other)));
                };
                if n.has_flag("handshake") || n.is_failed() {
                    return Err(pending(
                        format!("127.0.0.1:{port} sees 127.0.0.1:{other} as {}", n.flags.join(",")),
                        Some(*port),
                    ));
                }
                if n.role != truth.role || n.primary_id != truth.primary_id {
                    return Err(pending(
                        format!("127.0.0.1:{port} sees 127.0.0.1:{other} as {} but it is {}", n.role, truth.role),
                        Some(*port),
                    ));
                }
                if truth.role == Role::Primary && merge(&n.slots) != merge(&truth.slots) {
                    return Err(pending(
                        format!("127.0.0.1:{port} has an old slot map of 127.0.0.1:{other}"),
                        Some(*port),
                    ));
                }
            }
        }
        for (port, id) in &live {
            if own.get(id).map(|n| n.role) == Some(Role::Replica) {
                let repl = self.replication(*port).await.map_err(|e| pending(e, Some(*port)))?;
                if repl.get("master_link_status").map(String::as_str) != Some("up") {
                    return Err(pending(
                        format!("replica 127.0.0.1:{port} link to its primary is not up"),
                        Some(*port),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Waits until the cluster is settled and returns the view of one live node.
    async fn settled_view(&self) -> AppResult<Vec<ClusterNode>> {
        let limit = self.settle_limit();
        wait_until!(self, "cluster settle", limit, async { self.cluster_settled().await })?;
        let port = self.live_ids().first().map(|(p, _)| *p).ok_or_else(|| AppError::Lab("no live node left".into()))?;
        self.cluster_nodes(port).await.map_err(|p| self.fail_at(&p.why, p.port))
    }

    /// Shards with slots, in slot order, with only live members.
    fn live_shards(&self, view: &[ClusterNode]) -> Vec<Shard> {
        let live: Vec<u16> = self.live_ports();
        let mut shards: Vec<Shard> = shards_from_nodes(view)
            .into_iter()
            .filter(|s| !s.slots.is_empty() && live.contains(&s.primary.endpoint.port))
            .collect();
        for s in &mut shards {
            s.replicas.retain(|r| live.contains(&r.endpoint.port));
        }
        shards.sort_by_key(|s| s.slots.first().map(|r| r.start));
        shards
    }

    fn pick_shard(&self, view: &[ClusterNode], index: usize) -> AppResult<Shard> {
        let shards = self.live_shards(view);
        let count = shards.len();
        shards.into_iter().nth(index).ok_or_else(|| {
            AppError::BadInput(format!(
                "--shard {index}: the cluster has {count} shards (0 to {})",
                count.saturating_sub(1)
            ))
        })
    }

    /// Every live node sees `new_id` as the primary with `slots`, and no live node but `old_id` still
    /// replicates `old_id`.
    async fn promoted_everywhere(&self, new_id: &str, old_id: &str, slots: &[SlotRange]) -> Result<(), Pending> {
        let want = merge(slots);
        for (port, _) in self.live_ids() {
            let nodes = self.cluster_nodes(port).await?;
            let Some(n) = nodes.iter().find(|n| n.id == new_id) else {
                return Err(pending(format!("127.0.0.1:{port} does not know the new primary"), Some(port)));
            };
            if n.role != Role::Primary || merge(&n.slots) != want {
                return Err(pending(
                    format!("127.0.0.1:{port} does not see {} as the primary of {} yet", n.endpoint, label(slots)),
                    Some(port),
                ));
            }
            if let Some(me) = nodes.iter().find(|n| n.is_myself()) {
                if me.id != old_id && me.primary_id.as_deref() == Some(old_id) {
                    return Err(pending(format!("127.0.0.1:{port} still replicates the old primary"), Some(port)));
                }
            }
        }
        Ok(())
    }

    /// Which live replica of the shard is primary of `slots` on every live node, if any.
    async fn promoted_any(&self, candidates: &[(u16, String)], slots: &[SlotRange]) -> Result<u16, Pending> {
        let want = merge(slots);
        let mut winner: Option<u16> = None;
        for (port, _) in self.live_ids() {
            let nodes = self.cluster_nodes(port).await?;
            let found = candidates.iter().find(|(_, id)| {
                nodes.iter().any(|n| &n.id == id && n.role == Role::Primary && merge(&n.slots) == want)
            });
            match (found, winner) {
                (None, _) => return Err(pending(format!("127.0.0.1:{port} sees no promoted replica yet"), Some(port))),
                (Some((p, _)), Some(w)) if *p != w => {
                    return Err(pending("nodes disagree on the new primary", Some(port)))
                }
                (Some((p, _)), _) => winner = Some(*p),
            }
        }
        winner.ok_or_else(|| pending("no live node", None))
    }

    /// Waits for the write watch and turns it into ground truth (shards and replication groups alike).
    pub(crate) async fn truth(&mut self, watch: super::truth::WriteWatch, stopped: Instant) -> AppResult<GroundTruth> {
        match watch.first().await {
            Some((at, port)) => {
                let s = self.stamp(stopped).offset_ms;
                let r = self.stamp(at);
                self.emit_at(
                    r.clone(),
                    LabEventKind::WritesResumed,
                    Some(local(port)),
                    format!("127.0.0.1:{port} accepted a write"),
                );
                Ok(GroundTruth {
                    write_stopped_ms: s,
                    write_resumed_ms: r.offset_ms,
                    unavailable_ms: r.offset_ms.saturating_sub(s),
                })
            }
            None => Err(AppError::Lab("no primary accepted a write in time".into())),
        }
    }

    /// How long the ground-truth watch waits for a primary to take writes again.
    pub(crate) fn write_limit(&self) -> Duration {
        self.node_timeout() * 10 + Duration::from_secs(15)
    }

    /// Runs a scenario on the cluster, with every shard's writes watched from just before the lab acts until the
    /// scenario has settled.
    pub(crate) async fn cluster_scenario(
        &mut self,
        scenario: &Scenario,
    ) -> AppResult<(String, Vec<ScenarioStep>, Vec<ShardTruth>)> {
        let view = self.settled_view().await?;
        let shard = self.pick_shard(&view, scenario.shard())?;
        let shard_label = label(&shard.slots);
        let every: Vec<(String, u16)> =
            self.live_shards(&view).iter().map(|s| (label(&s.slots), s.slots[0].start)).collect();
        let watch = self.watch_every_shard(&every, &self.live_ports()).await?;
        let drain = scenario.drain();
        let steps = match scenario {
            Scenario::RoleSwap { .. } => vec![self.cluster_role_swap(&shard).await?],
            Scenario::KillPrimary { .. } => vec![self.cluster_kill(&shard).await?],
            Scenario::HangPrimary { duration, .. } => {
                vec![self.cluster_hang(&shard, *duration).await?]
            }
            Scenario::ReplaceNode { replica, .. } => {
                let port = if *replica {
                    shard
                        .replicas
                        .first()
                        .map(|r| r.endpoint.port)
                        .ok_or_else(|| AppError::Lab(format!("{shard_label} has no replica to replace")))?
                } else {
                    shard.primary.endpoint.port
                };
                vec![self.cluster_replace(port, drain).await?]
            }
            Scenario::RollingReplace { .. } => {
                // Replicas of a shard before its primary, shard by shard; every original node once.
                let mut order = Vec::new();
                for s in self.live_shards(&view) {
                    order.extend(s.replicas.iter().map(|r| r.endpoint.port));
                    order.push(s.primary.endpoint.port);
                }
                let mut steps = Vec::new();
                for port in order {
                    steps.push(self.cluster_replace(port, drain).await?);
                }
                steps
            }
        };
        let shards = self.every_shard_truth(watch, &steps).await;
        Ok((shard_label, steps, shards))
    }

    async fn cluster_role_swap(&mut self, shard: &Shard) -> AppResult<ScenarioStep> {
        let label = label(&shard.slots);
        let replica =
            shard.replicas.first().ok_or_else(|| AppError::Lab(format!("{label} has no replica to promote")))?;
        let (old, new) = (shard.primary.endpoint.clone(), replica.endpoint.clone());
        let old_id = shard.primary.id.clone().unwrap_or_default();
        let new_id = replica.id.clone().unwrap_or_default();
        let stopped = Instant::now();
        self.cmd_ok(new.port, &["CLUSTER", "FAILOVER"]).await?;
        self.emit_at(
            self.stamp(stopped),
            LabEventKind::FailoverRequested,
            Some(new.clone()),
            format!("CLUSTER FAILOVER on {new} (primary {old})"),
        );
        let candidates: Vec<u16> = shard.replicas.iter().map(|r| r.endpoint.port).collect();
        let watch = watch_writes(self.factory(), &candidates, &key_for_slot(shard.slots[0].start), self.write_limit());
        let limit = self.settle_limit();
        wait_until!(self, "role swap", limit, async {
            self.promoted_everywhere(&new_id, &old_id, &shard.slots).await
        })?;
        self.emit(
            LabEventKind::ReplicaPromoted,
            Some(new.clone()),
            format!("{new} is primary of {label} on every node"),
        );
        let truth = self.truth(watch, stopped).await?;
        self.settled_view().await?;
        Ok(ScenarioStep {
            action: format!("role swap {old} -> {new}"),
            shard: label,
            old_primary: Some(old),
            new_primary: Some(new),
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
    }

    async fn cluster_kill(&mut self, shard: &Shard) -> AppResult<ScenarioStep> {
        let label = label(&shard.slots);
        if shard.replicas.is_empty() {
            return Err(AppError::Lab(format!("{label} has no replica: nothing would be promoted")));
        }
        let old = shard.primary.endpoint.clone();
        let idx = self.node_index(old.port).expect("a lab node");
        self.drop_client(old.port).await;
        let stopped = Instant::now();
        self.nodes[idx].proc.kill_now();
        self.emit_at(
            self.stamp(stopped),
            LabEventKind::NodeKilled,
            Some(old.clone()),
            format!("SIGKILL to the primary {old} of {label}"),
        );
        let candidates: Vec<(u16, String)> =
            shard.replicas.iter().map(|r| (r.endpoint.port, r.id.clone().unwrap_or_default())).collect();
        let ports: Vec<u16> = candidates.iter().map(|c| c.0).collect();
        let watch = watch_writes(self.factory(), &ports, &key_for_slot(shard.slots[0].start), self.write_limit());
        let limit = self.write_limit();
        let mut winner = 0;
        wait_until!(self, "promotion after kill", limit, async {
            winner = self.promoted_any(&candidates, &shard.slots).await?;
            Ok(())
        })?;
        let new = local(winner);
        self.emit(
            LabEventKind::ReplicaPromoted,
            Some(new.clone()),
            format!("{new} is primary of {label} on every node"),
        );
        let truth = self.truth(watch, stopped).await?;
        self.settled_view().await?;
        Ok(ScenarioStep {
            action: format!("kill {old}"),
            shard: label,
            old_primary: Some(old),
            new_primary: Some(new),
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
    }

    async fn cluster_hang(&mut self, shard: &Shard, duration: Duration) -> AppResult<ScenarioStep> {
        let label = label(&shard.slots);
        let old = shard.primary.endpoint.clone();
        let idx = self.node_index(old.port).expect("a lab node");
        let stopped = Instant::now();
        self.nodes[idx].proc.signal(nix::sys::signal::Signal::SIGSTOP)?;
        self.nodes[idx].stopped = true;
        self.emit_at(
            self.stamp(stopped),
            LabEventKind::NodeStopped,
            Some(old.clone()),
            format!("SIGSTOP to the primary {old} of {label} for {}", crate::duration::human(duration)),
        );
        let mut ports = vec![old.port];
        ports.extend(shard.replicas.iter().map(|r| r.endpoint.port));
        let watch =
            watch_writes(self.factory(), &ports, &key_for_slot(shard.slots[0].start), duration + self.write_limit());
        tokio::time::sleep(duration.saturating_sub(stopped.elapsed())).await;
        self.nodes[idx].proc.signal(nix::sys::signal::Signal::SIGCONT)?;
        self.nodes[idx].stopped = false;
        self.emit(LabEventKind::NodeResumed, Some(old.clone()), format!("SIGCONT to {old}"));
        let truth = self.truth(watch, stopped).await?;
        let view = self.settled_view().await?;
        let new =
            self.live_shards(&view).into_iter().find(|s| s.owns(shard.slots[0].start)).map(|s| s.primary.endpoint);
        if let Some(n) = new.as_ref().filter(|n| **n != old) {
            self.emit(LabEventKind::ReplicaPromoted, Some(n.clone()), format!("{n} was promoted while {old} hung"));
        }
        Ok(ScenarioStep {
            action: format!("hang {old}"),
            shard: label,
            old_primary: Some(old),
            new_primary: new,
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
    }

    /// Replaces one node: a new node joins, replicates the shard, takes over if the old one was primary (which
    /// then keeps running, demoted, for `drain`); then the old one is shut down and forgotten by every remaining
    /// node.
    async fn cluster_replace(&mut self, old_port: u16, drain: Duration) -> AppResult<ScenarioStep> {
        let view = self.settled_view().await?;
        let old_id = self.id_of(old_port);
        let me = view
            .iter()
            .find(|n| n.id == old_id)
            .cloned()
            .ok_or_else(|| AppError::Lab(format!("127.0.0.1:{old_port} is not in the cluster")))?;
        let was_primary = me.role == Role::Primary;
        let primary_id = if was_primary { me.id.clone() } else { me.primary_id.clone().unwrap_or_default() };
        let primary = view
            .iter()
            .find(|n| n.id == primary_id)
            .cloned()
            .ok_or_else(|| AppError::Lab(format!("127.0.0.1:{old_port} has no primary")))?;
        let label = label(&primary.slots);
        let old = local(old_port);

        let new_port = self.start_node(true, &[]).await?;
        let new_id = self.cmd(new_port, &["CLUSTER", "MYID"]).await.map_err(|e| self.fail_at(&e, Some(new_port)))?;
        let idx = self.node_index(new_port).expect("node just started");
        self.nodes[idx].id = Some(new_id.clone());
        for port in self.live_ports() {
            if port != new_port {
                self.cmd_ok(new_port, &["CLUSTER", "MEET", "127.0.0.1", &port.to_string(), &(port + 100).to_string()])
                    .await?;
            }
        }
        let limit = self.settle_limit();
        wait_until!(self, "new node join", limit, async { self.cluster_known().await })?;
        self.emit(LabEventKind::NodeJoined, Some(local(new_port)), format!("127.0.0.1:{new_port} known to every node"));
        self.cmd_ok(new_port, &["CLUSTER", "REPLICATE", &primary_id]).await?;
        // CLUSTER FAILOVER on a replica that some node does not list yet times out after 5 s: wait for all.
        wait_until!(self, "new replica sync", limit, async {
            self.replica_everywhere(new_port, &new_id, &primary_id).await
        })?;
        self.emit(
            LabEventKind::ReplicaSynced,
            Some(local(new_port)),
            format!("127.0.0.1:{new_port} replicates {} and every node lists it", primary.endpoint),
        );
        self.proxy_add(new_port).await?;
        let mut truth = None;
        let mut new_primary = primary.endpoint.clone();
        if was_primary {
            let stopped = Instant::now();
            self.cmd_ok(new_port, &["CLUSTER", "FAILOVER"]).await?;
            self.emit_at(
                self.stamp(stopped),
                LabEventKind::FailoverRequested,
                Some(local(new_port)),
                format!("CLUSTER FAILOVER on 127.0.0.1:{new_port} (primary {old})"),
            );
            let mut ports = vec![new_port];
            ports.extend(
                view.iter()
                    .filter(|n| n.primary_id.as_deref() == Some(old_id.as_str()))
                    .map(|n| n.endpoint.port)
                    .filter(|p| self.live_ports().contains(p)),
            );
            let watch = watch_writes(self.factory(), &ports, &key_for_slot(primary.slots[0].start), self.write_limit());
            wait_until!(self, "failover to the new node", limit, async {
                self.promoted_everywhere(&new_id, &old_id, &primary.slots).await
            })?;
            self.emit(
                LabEventKind::ReplicaPromoted,
                Some(local(new_port)),
                format!("127.0.0.1:{new_port} is primary of {label} on every node"),
            );
            truth = Some(self.truth(watch, stopped).await?);
            new_primary = local(new_port);
        }
        let drain_ms = if was_primary { Some(self.drain(old_port, drain).await) } else { None };
        self.retire_cluster_node(old_port, &old_id).await?;
        self.settled_view().await?;
        Ok(ScenarioStep {
            action: format!("replace {old} with 127.0.0.1:{new_port}"),
            shard: label,
            old_primary: Some(primary.endpoint.clone()),
            new_primary: Some(new_primary),
            retired: Some(old),
            ground_truth: truth,
            drain_ms,
        })
    }

    /// Leaves a demoted primary running (it answers MOVED) for `drain` before it is retired; returns the ms.
    async fn drain(&mut self, port: u16, drain: Duration) -> u64 {
        if !drain.is_zero() {
            self.emit(
                LabEventKind::NodeDraining,
                Some(local(port)),
                format!(
                    "127.0.0.1:{port} demoted, left running (answering MOVED) for {} before it is shut down",
                    crate::duration::human(drain)
                ),
            );
            tokio::time::sleep(drain).await;
        }
        drain.as_millis() as u64
    }

    /// The replica's link is up and every live node lists it as a replica of `primary_id`.
    async fn replica_everywhere(&self, port: u16, id: &str, primary_id: &str) -> Result<(), Pending> {
        let repl = self.replication(port).await.map_err(|e| pending(e, Some(port)))?;
        if repl.get("master_link_status").map(String::as_str) != Some("up") {
            return Err(pending(format!("127.0.0.1:{port} has not synced yet"), Some(port)));
        }
        if let Some(p) = self.nodes.iter().find(|n| n.id.as_deref() == Some(primary_id)) {
            self.online_at(p.port, port).await?;
        }
        for (other, _) in self.live_ids() {
            let nodes = self.cluster_nodes(other).await?;
            let ok = nodes
                .iter()
                .any(|n| n.id == id && n.role == Role::Replica && n.primary_id.as_deref() == Some(primary_id));
            if !ok {
                return Err(pending(
                    format!("127.0.0.1:{other} does not list 127.0.0.1:{port} as a replica yet"),
                    Some(other),
                ));
            }
        }
        Ok(())
    }

    /// Shuts a node down (SIGTERM, reaped) and sends CLUSTER FORGET to every remaining node.
    async fn retire_cluster_node(&mut self, port: u16, id: &str) -> AppResult<()> {
        self.shut_down_endpoint(port).await?;
        let remaining = self.live_ports();
        for &p in &remaining {
            self.cmd_ok(p, &["CLUSTER", "FORGET", id]).await?;
        }
        self.emit(
            LabEventKind::NodeForgotten,
            Some(local(port)),
            format!("CLUSTER FORGET {} on {} nodes", &id[..id.len().min(8)], remaining.len()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_like_redis_cli() {
        assert_eq!(
            split_slots(3),
            vec![SlotRange::new(0, 5460), SlotRange::new(5461, 10922), SlotRange::new(10923, 16383)]
        );
        assert_eq!(split_slots(1), vec![SlotRange::new(0, 16383)]);
        let many = split_slots(7);
        assert_eq!(crate::topology::covered_count(&many), 16384);
        assert_eq!(label(&many[..1]), "slots 0-2340");
    }
}
