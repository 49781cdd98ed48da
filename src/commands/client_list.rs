//! `client-list`: CLIENT LIST of every node (the one node outside cluster mode), this tool's own connections
//! marked (was `GET /redis/client-list`).

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::connect;
use crate::error::{AppError, AppResult};
use crate::exit::ExitCode;
use crate::inspect;
use crate::mode::Mode;
use crate::output::{self, Report};
use crate::topology::{self, Endpoint};

/// The `client-list` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientListReport {
    /// One row per client connection, by node.
    pub clients: Vec<ClientRow>,
    /// Nodes whose CLIENT LIST could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
}

/// One client connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRow {
    /// The node it is connected to.
    pub node: String,
    /// Client id.
    pub id: u64,
    /// Client address.
    pub addr: String,
    /// CLIENT SETNAME name.
    pub name: String,
    /// Age in seconds.
    pub age: u64,
    /// Idle seconds.
    pub idle: u64,
    /// Last command.
    pub cmd: String,
    /// Whether it is one of this tool's connections.
    pub ours: bool,
}

impl Report for ClientListReport {
    fn render(&self) -> String {
        let mut t = output::table(&["node", "id", "addr", "name", "age", "idle", "cmd", ""]);
        for c in &self.clients {
            t.add_row(vec![
                c.node.clone(),
                c.id.to_string(),
                c.addr.clone(),
                c.name.clone(),
                c.age.to_string(),
                c.idle.to_string(),
                c.cmd.clone(),
                if c.ours { "(this tool)".into() } else { String::new() },
            ]);
        }
        let mut out = t.to_string();
        for (node, why) in &self.unreadable {
            out.push_str(&format!("\n{node}: CLIENT LIST not readable: {why}"));
        }
        out
    }
}

/// Runs `client-list`.
pub async fn run(c: &Ctx) -> AppResult<ExitCode> {
    let conn = c.factory.connect().await?;
    let nodes: Vec<Endpoint> = if conn.mode == Mode::OssCluster {
        match inspect::topology_or_hidden(&conn).await? {
            Some((t, _)) => t.nodes.iter().filter(|n| !n.is_failed()).map(|n| n.endpoint.clone()).collect(),
            None => c.settings.target.seeds.clone(),
        }
    } else {
        c.settings.target.seeds[..1].to_vec()
    };
    // A node that cannot be read is a row of the report; an ACL refusal is the user's rights, not the node's
    // state, and ends the run with one line naming the right it lacks (exit 3).
    let user = c.settings.target.username.clone();
    let refused = move |e: fred::error::Error| {
        if inspect::is_noperm(&e) {
            inspect::no_permission("client-list", user.as_deref(), "CLIENT LIST", "+client|list")
        } else {
            AppError::Connect(crate::errfmt::fred_error(&e))
        }
    };
    let results = if conn.mode == Mode::OssCluster {
        conn.close().await;
        inspect::per_node(&c.factory, &nodes, move |client| {
            let refused = refused.clone();
            async move { connect::text_command(&client, &["CLIENT", "LIST"]).await.map_err(refused) }
        })
        .await
    } else {
        // Through the connection we already hold: behind a proxy a new connection may land elsewhere.
        let r = connect::text_command(&conn.client, &["CLIENT", "LIST"]).await.map_err(refused);
        conn.close().await;
        vec![(nodes[0].clone(), r)]
    };
    if let Some((_, Err(e))) = results.iter().find(|(_, r)| matches!(r, Err(AppError::Auth(_)))) {
        return Err(AppError::Auth(e.to_string()));
    }
    let mut clients = Vec::new();
    let mut unreadable = Vec::new();
    for (ep, result) in results {
        match result {
            Ok(text) => {
                for e in topology::parse_client_list(&text) {
                    clients.push(ClientRow {
                        node: ep.to_string(),
                        ours: e.name == connect::CLIENT_NAME,
                        id: e.id,
                        addr: e.addr,
                        name: e.name,
                        age: e.age,
                        idle: e.idle,
                        cmd: e.cmd,
                    });
                }
            }
            Err(e) => unreadable.push((ep.to_string(), e.to_string())),
        }
    }
    clients.sort_by(|a, b| (&a.node, a.id).cmp(&(&b.node, b.id)));
    let report = ClientListReport { clients, unreadable };
    Ok(output::emit(c.settings.output, &report))
}
