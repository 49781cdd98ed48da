//! A scenario as a sequence of acts, dispatched once for every topology: each topology says how it performs a
//! role swap, a kill, a hang and the replacement of one node on the shard it was given, and in which order a
//! rolling replacement visits its nodes.

use std::time::Duration;

use super::{Lab, Scenario, ScenarioStep};
use crate::error::{AppError, AppResult};

/// What a topology can do to the shard (or replication group) a scenario acts on.
pub(crate) trait Acts {
    /// The shard's name in reports.
    fn label(&self) -> String;
    /// The port of its primary.
    fn primary(&self) -> u16;
    /// The port of its first replica, if it has one.
    fn first_replica(&self) -> Option<u16>;
    /// Every original node once, in the order a rolling replacement visits them.
    fn rolling_order(&self) -> Vec<u16>;
    /// A planned promotion of a replica.
    async fn role_swap(&self, lab: &mut Lab) -> AppResult<ScenarioStep>;
    /// SIGKILL to the primary; the topology's own failure detector promotes.
    async fn kill(&self, lab: &mut Lab) -> AppResult<ScenarioStep>;
    /// SIGSTOP to the primary for `duration`, then SIGCONT.
    async fn hang(&self, lab: &mut Lab, duration: Duration) -> AppResult<ScenarioStep>;
    /// A new node takes the place of the one on `port`, which is then retired (after `drain`, where it applies).
    async fn replace(&self, lab: &mut Lab, port: u16, drain: Duration) -> AppResult<ScenarioStep>;
}

/// Runs `scenario` through the acts of one topology: the one place a scenario becomes acts.
pub(crate) async fn perform<A: Acts>(lab: &mut Lab, acts: &A, scenario: &Scenario) -> AppResult<Vec<ScenarioStep>> {
    let drain = scenario.drain();
    Ok(match scenario {
        Scenario::RoleSwap { .. } => vec![acts.role_swap(lab).await?],
        Scenario::KillPrimary { .. } => vec![acts.kill(lab).await?],
        Scenario::HangPrimary { duration, .. } => vec![acts.hang(lab, *duration).await?],
        Scenario::ReplaceNode { replica, .. } => {
            let port = if *replica {
                acts.first_replica()
                    .ok_or_else(|| AppError::Lab(format!("{} has no replica to replace", acts.label())))?
            } else {
                acts.primary()
            };
            vec![acts.replace(lab, port, drain).await?]
        }
        Scenario::RollingReplace { .. } => {
            let mut steps = Vec::new();
            for port in acts.rolling_order() {
                steps.push(acts.replace(lab, port, drain).await?);
            }
            steps
        }
    })
}
