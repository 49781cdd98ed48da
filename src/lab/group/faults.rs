//! The replication groups' scenarios (standalone and enterprise): each act on the group with the ground truth of
//! its writes, and how the one dispatcher of `lab::acts` reaches them.

use std::time::{Duration, Instant};

use super::{GroupView, GROUP_KEY, GROUP_LABEL};
use crate::error::{AppError, AppResult};
use crate::lab::acts::{perform, Acts};
use crate::lab::truth::watch_writes;
use crate::lab::{local, pending, GroundTruth, Lab, LabEventKind, Scenario, ScenarioStep, TopologyKind};

/// The group a scenario acts on, as it was when the scenario started.
struct GroupActs {
    view: GroupView,
}

impl Acts for GroupActs {
    fn label(&self) -> String {
        GROUP_LABEL.into()
    }
    fn primary(&self) -> u16 {
        self.view.primary
    }
    fn first_replica(&self) -> Option<u16> {
        self.view.replicas.first().copied()
    }
    fn rolling_order(&self) -> Vec<u16> {
        self.view.replicas.iter().copied().chain([self.view.primary]).collect()
    }
    async fn role_swap(&self, lab: &mut Lab) -> AppResult<ScenarioStep> {
        lab.group_role_swap(&self.view).await
    }
    async fn kill(&self, lab: &mut Lab) -> AppResult<ScenarioStep> {
        lab.group_kill(&self.view).await
    }
    async fn hang(&self, lab: &mut Lab, duration: Duration) -> AppResult<ScenarioStep> {
        lab.group_hang(&self.view, duration).await
    }
    // A group's demoted primary is shut down as soon as its replacement is promoted: the endpoint (HAProxy or
    // the one node) is what clients hold, so there is no drain to model.
    async fn replace(&self, lab: &mut Lab, port: u16, _drain: Duration) -> AppResult<ScenarioStep> {
        lab.group_replace(port).await
    }
}

impl Lab {
    pub(crate) async fn group_scenario(&mut self, scenario: &Scenario) -> AppResult<(String, Vec<ScenarioStep>)> {
        if scenario.shard() != 0 {
            return Err(AppError::BadInput(format!(
                "--shard {}: a {} lab has one shard (0)",
                scenario.shard(),
                self.kind
            )));
        }
        let view = self.settle_group().await?;
        let steps = perform(self, &GroupActs { view }, scenario).await?;
        Ok((GROUP_LABEL.into(), steps))
    }

    /// `FAILOVER TO` the replica on `primary`, then waits until the roles have swapped; other replicas follow.
    async fn planned_failover(&mut self, primary: u16, to: u16) -> AppResult<GroundTruth> {
        let stopped = Instant::now();
        self.cmd_ok(primary, &["FAILOVER", "TO", "127.0.0.1", &to.to_string(), "TIMEOUT", "10000"]).await?;
        self.emit_at(
            self.stamp(stopped),
            LabEventKind::FailoverRequested,
            Some(local(to)),
            format!("FAILOVER TO 127.0.0.1:{to} on the primary 127.0.0.1:{primary}"),
        );
        let watch = watch_writes(self.factory(), &[to], GROUP_KEY, self.write_limit());
        let limit = self.group_limit();
        wait_until!(self, "planned failover", limit, async {
            let r = self.replication(to).await.map_err(|e| pending(e, Some(to)))?;
            let o = self.replication(primary).await.map_err(|e| pending(e, Some(primary)))?;
            if r.get("role").map(String::as_str) == Some("master")
                && o.get("role").map(String::as_str) == Some("slave")
                && o.get("master_port").map(String::as_str) == Some(to.to_string().as_str())
            {
                Ok(())
            } else {
                Err(pending("roles have not swapped yet", Some(primary)))
            }
        })?;
        self.emit(
            LabEventKind::ReplicaPromoted,
            Some(local(to)),
            format!("127.0.0.1:{to} is primary, 127.0.0.1:{primary} replicates it"),
        );
        self.primary = Some(to);
        let others: Vec<u16> = self.live_ports().into_iter().filter(|p| *p != to && *p != primary).collect();
        for p in others {
            self.cmd_ok(p, &["REPLICAOF", "127.0.0.1", &to.to_string()]).await?;
        }
        self.truth(watch, stopped).await
    }

    async fn group_role_swap(&mut self, view: &GroupView) -> AppResult<ScenarioStep> {
        let to = *view.replicas.first().ok_or_else(|| AppError::Lab("the group has no replica to promote".into()))?;
        let truth = self.planned_failover(view.primary, to).await?;
        self.repoint_sentinel(to).await?;
        self.settle_group().await?;
        Ok(ScenarioStep {
            action: format!("role swap 127.0.0.1:{} -> 127.0.0.1:{to}", view.primary),
            shard: GROUP_LABEL.into(),
            old_primary: Some(local(view.primary)),
            new_primary: Some(local(to)),
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
    }

    async fn group_kill(&mut self, view: &GroupView) -> AppResult<ScenarioStep> {
        if self.kind != TopologyKind::Enterprise {
            return Err(AppError::BadInput(
                "kill-primary on standalone: nothing would promote a replica (no Sentinel, no cluster); use \
                 --topology enterprise or cluster"
                    .into(),
            ));
        }
        if view.replicas.is_empty() {
            return Err(AppError::Lab("the group has no replica to promote".into()));
        }
        let old = view.primary;
        let idx = self.node_index(old).expect("a lab node");
        self.drop_client(old).await;
        let stopped = Instant::now();
        self.nodes[idx].proc.kill_now();
        self.emit_at(
            self.stamp(stopped),
            LabEventKind::NodeKilled,
            Some(local(old)),
            format!("SIGKILL to the primary 127.0.0.1:{old}"),
        );
        let watch = watch_writes(self.factory(), &view.replicas, GROUP_KEY, self.write_limit());
        let limit = self.write_limit();
        let mut winner = 0;
        wait_until!(self, "sentinel promotion", limit, async {
            let (port, _) = self.sentinel_master().await?;
            if port == old {
                return Err(pending("sentinel has not switched yet", None));
            }
            let r = self.replication(port).await.map_err(|e| pending(e, Some(port)))?;
            if r.get("role").map(String::as_str) != Some("master") {
                return Err(pending("the promoted replica is not primary yet", Some(port)));
            }
            winner = port;
            Ok(())
        })?;
        self.emit(LabEventKind::ReplicaPromoted, Some(local(winner)), format!("sentinel promoted 127.0.0.1:{winner}"));
        self.primary = Some(winner);
        let truth = self.truth(watch, stopped).await?;
        self.settle_group().await?;
        Ok(ScenarioStep {
            action: format!("kill 127.0.0.1:{old}"),
            shard: GROUP_LABEL.into(),
            old_primary: Some(local(old)),
            new_primary: Some(local(winner)),
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
    }

    async fn group_hang(&mut self, view: &GroupView, duration: Duration) -> AppResult<ScenarioStep> {
        let old = view.primary;
        let idx = self.node_index(old).expect("a lab node");
        let stopped = Instant::now();
        self.nodes[idx].proc.signal(nix::sys::signal::Signal::SIGSTOP)?;
        self.nodes[idx].stopped = true;
        self.emit_at(
            self.stamp(stopped),
            LabEventKind::NodeStopped,
            Some(local(old)),
            format!("SIGSTOP to the primary 127.0.0.1:{old} for {}", crate::duration::human(duration)),
        );
        let mut ports = vec![old];
        ports.extend(&view.replicas);
        let watch = watch_writes(self.factory(), &ports, GROUP_KEY, duration + self.write_limit());
        tokio::time::sleep(duration.saturating_sub(stopped.elapsed())).await;
        self.nodes[idx].proc.signal(nix::sys::signal::Signal::SIGCONT)?;
        self.nodes[idx].stopped = false;
        self.emit(LabEventKind::NodeResumed, Some(local(old)), format!("SIGCONT to 127.0.0.1:{old}"));
        let truth = self.truth(watch, stopped).await?;
        let after = self.settle_group().await?;
        if after.primary != old {
            self.emit(
                LabEventKind::ReplicaPromoted,
                Some(local(after.primary)),
                format!("127.0.0.1:{} was promoted while 127.0.0.1:{old} hung", after.primary),
            );
        }
        Ok(ScenarioStep {
            action: format!("hang 127.0.0.1:{old}"),
            shard: GROUP_LABEL.into(),
            old_primary: Some(local(old)),
            new_primary: Some(local(after.primary)),
            retired: None,
            ground_truth: Some(truth),
            drain_ms: None,
        })
    }

    /// Replaces one node: a new replica joins (and gets a spare HAProxy slot), takes over if the old node was the
    /// primary, then the old node's slot goes to maintenance and the node is shut down.
    async fn group_replace(&mut self, old: u16) -> AppResult<ScenarioStep> {
        let view = self.settle_group().await?;
        let was_primary = view.primary == old;
        let new = self.start_node(false, &[format!("replicaof 127.0.0.1 {}", view.primary)]).await?;
        let limit = self.group_limit();
        let primary = view.primary;
        wait_until!(self, "new replica sync", limit, async {
            let r = self.replication(new).await.map_err(|e| pending(e, Some(new)))?;
            if r.get("master_link_status").map(String::as_str) == Some("up") {
                self.online_at(primary, new).await
            } else {
                Err(pending(format!("127.0.0.1:{new} has not synced yet"), Some(new)))
            }
        })?;
        self.emit(
            LabEventKind::ReplicaSynced,
            Some(local(new)),
            format!("127.0.0.1:{new} replicates 127.0.0.1:{primary}, link up"),
        );
        self.proxy_add(new).await?;
        let mut truth = None;
        if was_primary {
            truth = Some(self.planned_failover(old, new).await?);
        }
        self.shut_down_endpoint(old).await?;
        let now_primary = if was_primary { new } else { primary };
        self.repoint_sentinel(now_primary).await?;
        self.settle_group().await?;
        Ok(ScenarioStep {
            action: format!("replace 127.0.0.1:{old} with 127.0.0.1:{new}"),
            shard: GROUP_LABEL.into(),
            old_primary: Some(local(primary)),
            new_primary: Some(local(now_primary)),
            retired: Some(local(old)),
            ground_truth: truth,
            drain_ms: None,
        })
    }
}
