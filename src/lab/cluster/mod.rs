//! The cluster topology: creation (ADDSLOTSRANGE, MEET, REPLICATE) and its scenarios. Every wait polls the real
//! state of every live node (CLUSTER INFO, CLUSTER NODES, INFO replication) until all of them agree.

mod faults;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{local, pending, GroundTruth, Lab, LabEventKind, Pending};
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
            let id = self.cmd(port, &["CLUSTER", "MYID"]).await.map_err(|e| self.fail_at(&e.0, Some(port)))?;
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
