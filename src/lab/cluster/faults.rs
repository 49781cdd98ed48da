//! The cluster's scenarios: each act on one shard (role swap, kill, hang, replacement of one node) with the
//! ground truth of its writes, and how the one dispatcher of `lab::acts` reaches them.

use std::time::{Duration, Instant};

use super::label;
use crate::error::{AppError, AppResult};
use crate::lab::acts::{perform, Acts};
use crate::lab::truth::{watch_writes, WriteWatch};
use crate::lab::{key_for_slot, local, pending, Lab, LabEventKind, Pending, Scenario, ScenarioStep, ShardTruth};
use crate::topology::{Endpoint, Role, Shard};

/// A shard's nodes in the order a rolling replacement visits them: replicas first, then the primary.
fn rolling_order(shard: &Shard) -> Vec<u16> {
    shard.replicas.iter().map(|r| r.endpoint.port).chain([shard.primary.endpoint.port]).collect()
}

/// The shard a scenario acts on, and every original node in rolling order.
struct ClusterActs {
    shard: Shard,
    order: Vec<u16>,
}

impl Acts for ClusterActs {
    fn label(&self) -> String {
        label(&self.shard.slots)
    }
    fn primary(&self) -> u16 {
        self.shard.primary.endpoint.port
    }
    fn first_replica(&self) -> Option<u16> {
        self.shard.replicas.first().map(|r| r.endpoint.port)
    }
    fn rolling_order(&self) -> Vec<u16> {
        self.order.clone()
    }
    async fn role_swap(&self, lab: &mut Lab) -> AppResult<ScenarioStep> {
        lab.cluster_role_swap(&self.shard).await
    }
    async fn kill(&self, lab: &mut Lab) -> AppResult<ScenarioStep> {
        lab.cluster_kill(&self.shard).await
    }
    async fn hang(&self, lab: &mut Lab, duration: Duration) -> AppResult<ScenarioStep> {
        lab.cluster_hang(&self.shard, duration).await
    }
    async fn replace(&self, lab: &mut Lab, port: u16, drain: Duration) -> AppResult<ScenarioStep> {
        lab.cluster_replace(port, drain).await
    }
}

/// A promotion that happened: what was asked, of whom, and the writes watched since.
struct Promotion {
    label: String,
    action: String,
    old: Endpoint,
    new: Endpoint,
    watch: WriteWatch,
    stopped: Instant,
}

impl Lab {
    /// The end every promoting act shares: the promotion announced, the ground truth of the shard's writes, the
    /// cluster settled again, and the step as the report shows it.
    async fn promoted(&mut self, p: Promotion) -> AppResult<ScenarioStep> {
        let Promotion { label, action, old, new, watch, stopped } = p;
        self.emit(
            LabEventKind::ReplicaPromoted,
            Some(new.clone()),
            format!("{new} is primary of {label} on every node"),
        );
        let truth = self.truth(watch, stopped).await?;
        self.settled_view().await?;
        Ok(ScenarioStep {
            action,
            shard: label,
            old_primary: Some(old),
            new_primary: Some(new),
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
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
        let order = self.live_shards(&view).iter().flat_map(rolling_order).collect();
        let steps = perform(self, &ClusterActs { shard, order }, scenario).await?;
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
        let action = format!("role swap {old} -> {new}");
        self.promoted(Promotion { label, action, old, new, watch, stopped }).await
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
        let action = format!("kill {old}");
        self.promoted(Promotion { label, action, old, new, watch, stopped }).await
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
        let new_id = self.cmd(new_port, &["CLUSTER", "MYID"]).await.map_err(|e| self.fail_at(&e.0, Some(new_port)))?;
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
