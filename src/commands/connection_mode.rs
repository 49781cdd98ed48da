//! `connection-mode`: the mode in use, the seed and advertised endpoints, and a failover-risk assessment
//! (was `GET /redis/connection-mode`).

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::connect;
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::inspect;
use crate::mode::Mode;
use crate::output::{self, Report};
use crate::topology::{Endpoint, Topology};

/// How likely a client is to be left behind by a failover or a node replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Node replacement is hidden from clients.
    Low,
    /// Recovery depends on the client or on something outside it.
    Medium,
    /// A common client habit does not recover.
    High,
}

/// The `connection-mode` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionModeReport {
    /// Mode in use.
    pub mode: Mode,
    /// Seed URLs, password masked.
    pub seeds: Vec<String>,
    /// Endpoints the cluster advertises (empty outside cluster mode or when hidden).
    pub advertised: Vec<String>,
    /// Whether the endpoint hides its topology.
    pub topology_hidden: bool,
    /// Overall risk: the highest of the reasons.
    pub risk: RiskLevel,
    /// Why, one line each, with its own level.
    pub reasons: Vec<Reason>,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reason {
    /// Its level.
    pub level: RiskLevel,
    /// What it means for clients.
    pub text: String,
}

/// Assesses an oss-cluster target from its seeds and topology.
pub fn assess_cluster(seeds: &[Endpoint], topo: &Topology) -> Vec<Reason> {
    let mut out = Vec::new();
    let advertised = topo.endpoints();
    let seed_is_node = seeds.iter().any(|s| advertised.contains(s));
    if advertised.iter().any(|a| !seeds.contains(a)) {
        out.push(Reason {
            level: RiskLevel::High,
            text: "shards advertise endpoints other than the seed: a client that refreshes its slot map only on \
                   MOVED, or only from nodes it already knows, may never recover when these endpoints are replaced"
                .into(),
        });
    }
    if seed_is_node {
        out.push(Reason {
            level: RiskLevel::Medium,
            text: "the seed is itself a cluster node: when it is replaced, a client that falls back to its seeds has \
                   nowhere left to ask"
                .into(),
        });
    }
    for s in &topo.shards {
        if s.replicas.is_empty() {
            out.push(Reason {
                level: RiskLevel::High,
                text: format!(
                    "shard {} has no replica: its slots are unavailable until the node comes back",
                    s.primary.endpoint
                ),
            });
        }
    }
    if out.is_empty() {
        out.push(Reason {
            level: RiskLevel::Medium,
            text: "cluster-aware client: recovery depends on how the client refreshes its slot map".into(),
        });
    }
    out
}

impl Report for ConnectionModeReport {
    fn render(&self) -> String {
        let mut t = output::table(&["field", "value"]);
        t.add_row(vec!["mode".to_string(), self.mode.to_string()]);
        t.add_row(vec!["seeds".to_string(), self.seeds.join("\n")]);
        let adv = if self.topology_hidden {
            "hidden by the endpoint".to_string()
        } else if self.advertised.is_empty() {
            "-".to_string()
        } else {
            self.advertised.join("\n")
        };
        t.add_row(vec!["advertised endpoints".to_string(), adv]);
        t.add_row(vec!["failover risk".to_string(), format!("{:?}", self.risk).to_uppercase()]);
        let mut out = t.to_string();
        for r in &self.reasons {
            out.push_str(&format!("\n[{}] {}", format!("{:?}", r.level).to_lowercase(), r.text));
        }
        out
    }
}

/// Runs `connection-mode`.
pub async fn run(c: &Ctx) -> AppResult<ExitCode> {
    let conn = c.factory.connect().await?;
    let seeds = &c.settings.target.seeds;
    let mut advertised = Vec::new();
    let mut hidden = false;
    let reasons = match conn.mode {
        Mode::OssCluster => match inspect::topology_or_hidden(&conn).await? {
            Some((topo, _)) => {
                advertised = topo.endpoints().iter().map(|e| e.to_string()).collect();
                assess_cluster(seeds, &topo)
            }
            None => {
                hidden = true;
                vec![Reason { level: RiskLevel::Medium, text: "the endpoint refuses CLUSTER commands".into() }]
            }
        },
        Mode::Enterprise => {
            hidden = true;
            vec![Reason {
                level: RiskLevel::Low,
                text: "one stable endpoint: the proxy hides node replacement; clients reconnect to the same address"
                    .into(),
            }]
        }
        Mode::Standalone => {
            let replicas = connect::info_section(&conn.client, "replication")
                .await
                .ok()
                .and_then(|i| i.get("connected_slaves").and_then(|v| v.parse::<u32>().ok()));
            match replicas {
                Some(0) => vec![Reason {
                    level: RiskLevel::High,
                    text: "standalone without a replica: a failure of this node is an outage until it is back".into(),
                }],
                Some(n) => vec![Reason {
                    level: RiskLevel::Medium,
                    text: format!(
                        "{n} replica(s), but a plain client stays on this endpoint: recovery needs Sentinel or a \
                         proxy to promote a replica and move clients"
                    ),
                }],
                None => vec![Reason { level: RiskLevel::Medium, text: "replication state not readable".into() }],
            }
        }
    };
    conn.close().await;
    let risk = reasons.iter().map(|r| r.level).max().unwrap_or(RiskLevel::Low);
    let report = ConnectionModeReport {
        mode: conn.mode,
        seeds: c.settings.target.display_urls(),
        advertised,
        topology_hidden: hidden,
        risk,
        reasons,
    };
    Ok(output::emit(c.settings.output, &report))
}
