//! Reading a cluster's topology over a connection: CLUSTER SHARDS (else SLOTS), NODES and INFO, into one
//! [`Topology`]. Inspection commands, monitor and the probe engine all read topology through here.

use fred::prelude::*;

use crate::connect::{self, Connection, Factory};
use crate::error::{AppError, AppResult};
use crate::topology::{self, Endpoint, Topology};

/// Where the slot map came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotSource {
    /// CLUSTER SHARDS (Redis 7+).
    ClusterShards,
    /// CLUSTER SLOTS (older servers).
    ClusterSlots,
}

/// Reads the topology through `client` (any node of the cluster, or the cluster client itself).
pub async fn read_topology(client: &Client) -> Result<(Topology, SlotSource), fred::error::Error> {
    let (shards, source) = match connect::command(client, &["CLUSTER", "SHARDS"]).await {
        Ok(v) => (topology::parse_cluster_shards(&v).map_err(parse_err)?, SlotSource::ClusterShards),
        Err(e) if connect::is_refused(&e) && !e.details().contains("NOPERM") => {
            let v = connect::command(client, &["CLUSTER", "SLOTS"]).await?;
            (topology::parse_cluster_slots(&v).map_err(parse_err)?, SlotSource::ClusterSlots)
        }
        Err(e) => return Err(e),
    };
    let nodes = match connect::text_command(client, &["CLUSTER", "NODES"]).await {
        Ok(text) => topology::parse_cluster_nodes(&text).map_err(parse_err)?,
        Err(_) => Vec::new(),
    };
    let info = match connect::text_command(client, &["CLUSTER", "INFO"]).await {
        Ok(text) => topology::parse_cluster_info(&text).ok(),
        Err(_) => None,
    };
    Ok((Topology { shards, nodes, info }, source))
}

fn parse_err(e: impl std::fmt::Display) -> fred::error::Error {
    fred::error::Error::new(fred::error::ErrorKind::Protocol, e.to_string())
}

/// Reads the topology for an inspection command: a refusal (enterprise proxy, ACL) is `Ok(None)`, so the
/// command can say "this endpoint hides its topology" and exit 0.
pub async fn topology_or_hidden(conn: &Connection) -> AppResult<Option<(Topology, SlotSource)>> {
    hidden_or(remembered(conn, read_topology(&conn.client).await))
}

/// Records the nodes of a topology read in the known-nodes cache, for a later run whose seed is gone.
fn remembered(
    conn: &Connection,
    read: Result<(Topology, SlotSource), fred::error::Error>,
) -> Result<(Topology, SlotSource), fred::error::Error> {
    if let Ok((topo, _)) = &read {
        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        crate::known_nodes::remember(&conn.seeds, topo, &now);
    }
    read
}

/// As [`topology_or_hidden`], for a command whose whole job is the topology (`cluster-info`): an ACL refusal
/// (NOPERM) is not a hidden topology but missing rights, and ends the run with one line naming them.
pub async fn topology_or_no_permission(
    conn: &Connection,
    command: &str,
    user: Option<&str>,
) -> AppResult<Option<(Topology, SlotSource)>> {
    match remembered(conn, read_topology(&conn.client).await) {
        Err(e) if is_noperm(&e) => {
            Err(no_permission(command, user, "CLUSTER SHARDS", "+cluster (CLUSTER SHARDS, NODES and INFO)"))
        }
        other => hidden_or(other),
    }
}

fn hidden_or(read: Result<(Topology, SlotSource), fred::error::Error>) -> AppResult<Option<(Topology, SlotSource)>> {
    match read {
        Ok(t) => Ok(Some(t)),
        Err(e) if connect::is_refused(&e) => Ok(None),
        Err(e) => Err(AppError::Connect(format!("reading the topology failed: {}", crate::errfmt::fred_error(&e)))),
    }
}

/// Whether the server refused a command because of the user's ACL rights.
pub fn is_noperm(err: &fred::error::Error) -> bool {
    err.details().to_ascii_uppercase().contains("NOPERM")
}

/// The one line for a command the ACL user may not run, naming the rights it needs. Exit 3, as a wrong password:
/// only other credentials fix it, and an exit 0 "hidden" would pass a permission problem off as a proxy.
pub fn no_permission(command: &str, user: Option<&str>, refused: &str, needs: &str) -> AppError {
    let who = match user {
        Some(u) => format!("the ACL user '{u}'"),
        None => "the default user".to_string(),
    };
    AppError::Auth(format!("{command}: {who} may not run {refused} (NOPERM): it needs {needs}"))
}

/// The line printed when an endpoint refuses CLUSTER commands.
pub fn hidden_line() -> String {
    "this endpoint hides its topology (CLUSTER commands refused or cluster support disabled): nothing to show".into()
}

/// Runs `f` against a direct connection to every endpoint, in parallel, each bounded by the factory's timeout.
pub async fn per_node<T, F, Fut>(factory: &Factory, endpoints: &[Endpoint], f: F) -> Vec<(Endpoint, AppResult<T>)>
where
    F: Fn(Client) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = AppResult<T>> + Send,
    T: Send + 'static,
{
    let mut tasks = Vec::new();
    for ep in endpoints {
        let factory = factory.clone();
        let ep = ep.clone();
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let result = match factory.node(&ep).await {
                Ok(client) => {
                    let r = f(client.clone()).await;
                    connect::quit(&client).await;
                    r
                }
                Err(e) => Err(e),
            };
            (ep, result)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(pair) = t.await {
            out.push(pair);
        }
    }
    out
}
