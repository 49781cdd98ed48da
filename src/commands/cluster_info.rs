//! `cluster-info`: CLUSTER INFO and CLUSTER NODES as tables (was `GET /redis/cluster-info`).

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::inspect;
use crate::output::{self, Report};
use crate::topology::{ClusterInfo, ClusterNode, Role};

/// The `cluster-info` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfoReport {
    /// True when the endpoint refused CLUSTER commands (enterprise proxy, ACL): nothing else is filled.
    pub hidden: bool,
    /// CLUSTER INFO.
    pub info: Option<ClusterInfo>,
    /// CLUSTER NODES, one row per node.
    pub nodes: Vec<NodeRow>,
}

/// One node of CLUSTER NODES.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRow {
    /// Full node id.
    pub id: String,
    /// First 8 characters of the id.
    pub short_id: String,
    /// `host:port`.
    pub address: String,
    /// `primary` or `replica`.
    pub role: Role,
    /// For a replica: the short id of its primary.
    pub primary_of: Option<String>,
    /// Slot ranges, e.g. `0-5460`.
    pub slots: Vec<String>,
    /// Number of slots.
    pub slot_count: u32,
    /// `connected` or `disconnected`.
    pub link_state: String,
    /// Flags other than the role (myself, fail, pfail, ...).
    pub flags: Vec<String>,
}

impl NodeRow {
    /// A row from a parsed node.
    pub fn from_node(n: &ClusterNode) -> Self {
        NodeRow {
            id: n.id.clone(),
            short_id: n.short_id().to_string(),
            address: n.endpoint.to_string(),
            role: n.role,
            primary_of: n.primary_id.as_ref().map(|p| p.chars().take(8).collect()),
            slots: n.slots.iter().map(|r| r.to_string()).collect(),
            slot_count: n.slots.iter().map(|r| r.len()).sum(),
            link_state: if n.link_connected { "connected" } else { "disconnected" }.to_string(),
            flags: n
                .flags
                .iter()
                .filter(|f| !matches!(f.as_str(), "master" | "slave" | "primary" | "replica"))
                .cloned()
                .collect(),
        }
    }
}

impl Report for ClusterInfoReport {
    fn render(&self) -> String {
        if self.hidden {
            return inspect::hidden_line();
        }
        let mut out = String::new();
        if let Some(i) = &self.info {
            let mut t =
                output::table(&["state", "slots assigned", "ok", "pfail", "fail", "known nodes", "size", "epoch"]);
            t.add_row(vec![
                i.state.clone(),
                i.slots_assigned.to_string(),
                i.slots_ok.to_string(),
                i.slots_pfail.to_string(),
                i.slots_fail.to_string(),
                i.known_nodes.to_string(),
                i.size.to_string(),
                i.current_epoch.to_string(),
            ]);
            out.push_str(&t.to_string());
            out.push('\n');
        }
        let mut t = output::table(&["id", "address", "role", "primary of", "slots", "count", "link", "flags"]);
        for n in &self.nodes {
            t.add_row(vec![
                n.short_id.clone(),
                n.address.clone(),
                n.role.to_string(),
                n.primary_of.clone().unwrap_or_else(|| "-".into()),
                if n.slots.is_empty() { "-".into() } else { n.slots.join(" ") },
                n.slot_count.to_string(),
                n.link_state.clone(),
                n.flags.join(","),
            ]);
        }
        out.push_str(&t.to_string());
        out
    }
}

/// Runs `cluster-info`.
pub async fn run(c: &Ctx) -> AppResult<ExitCode> {
    let conn = c.factory.connect().await?;
    let user = c.settings.target.username.as_deref();
    let found = inspect::topology_or_no_permission(&conn, "cluster-info", user).await;
    conn.close().await;
    let report = match found? {
        None => ClusterInfoReport { hidden: true, info: None, nodes: vec![] },
        Some((topo, _)) => {
            let mut nodes: Vec<NodeRow> = topo.nodes.iter().map(NodeRow::from_node).collect();
            nodes.sort_by(|a, b| (a.role != Role::Primary, &a.address).cmp(&(b.role != Role::Primary, &b.address)));
            ClusterInfoReport { hidden: false, info: topo.info, nodes }
        }
    };
    Ok(output::emit(c.settings.output, &report))
}
