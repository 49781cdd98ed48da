//! Talking to the lab's own nodes: cached direct clients, commands and their replies, replication state, and
//! errors that carry the tail of the node's log.

use fred::prelude::Client;

use super::node::local;
use super::wait::{pending, Pending};
use super::{process, Lab};
use crate::connect;
use crate::error::{AppError, AppResult};

/// A command to a lab node (or to HAProxy's admin socket) that failed: what was sent, where, and why. Matched on by
/// nothing; it becomes a lab error (exit 4) when it ends a scenario, or the reason a polled condition waits.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NodeError(pub String);

impl From<NodeError> for AppError {
    fn from(e: NodeError) -> Self {
        AppError::Lab(e.0)
    }
}

impl From<NodeError> for String {
    fn from(e: NodeError) -> Self {
        e.0
    }
}

impl Lab {
    /// A cached direct client to one node, made by the factory.
    pub(crate) async fn client(&self, port: u16) -> Result<Client, NodeError> {
        if let Some(c) = self.clients.lock().expect("clients lock").get(&port) {
            return Ok(c.clone());
        }
        let c = self.factory.node(&local(port)).await.map_err(|e| NodeError(e.to_string()))?;
        let old = self.clients.lock().expect("clients lock").insert(port, c.clone());
        if let Some(old) = old {
            connect::quit(&old).await;
        }
        Ok(c)
    }

    /// Closes the cached client of a node that goes away.
    pub(crate) async fn drop_client(&self, port: u16) {
        let c = self.clients.lock().expect("clients lock").remove(&port);
        if let Some(c) = c {
            connect::quit(&c).await;
        }
    }

    /// Sends a command to one node and returns its reply as text, or the error as text.
    pub(crate) async fn cmd(&self, port: u16, parts: &[&str]) -> Result<String, NodeError> {
        let c = self.client(port).await?;
        connect::text_command(&c, parts).await.map_err(|e| {
            NodeError(format!("{} on 127.0.0.1:{port}: {}", parts.join(" "), crate::errfmt::fred_error(&e)))
        })
    }

    /// Sends a command whose reply must be OK.
    pub(crate) async fn cmd_ok(&self, port: u16, parts: &[&str]) -> AppResult<()> {
        match self.cmd(port, parts).await {
            Ok(r) if r == "OK" => Ok(()),
            Ok(other) => {
                Err(self
                    .fail_at(&format!("{} on 127.0.0.1:{port} replied {other:?}, not OK", parts.join(" ")), Some(port)))
            }
            Err(e) => Err(self.fail_at(&e.0, Some(port))),
        }
    }

    /// `INFO replication` of one node.
    pub(crate) async fn replication(&self, port: u16) -> Result<std::collections::BTreeMap<String, String>, NodeError> {
        Ok(crate::topology::parse_info(&self.cmd(port, &["INFO", "replication"]).await?))
    }

    /// The primary on `primary` lists the replica on `replica` as `state=online` (with diskless sync that comes
    /// a moment after the replica reports its link up; FAILOVER refuses a replica that is not online yet).
    pub(crate) async fn online_at(&self, primary: u16, replica: u16) -> Result<(), Pending> {
        let info = self.replication(primary).await.map_err(|e| pending(e, Some(primary)))?;
        let online = info
            .iter()
            .filter(|(k, _)| k.starts_with("slave") && k[5..].parse::<u32>().is_ok())
            .map(|(_, v)| crate::topology::parse_info_subfields(v))
            .any(|f| {
                f.get("port").map(String::as_str) == Some(replica.to_string().as_str())
                    && f.get("state").map(String::as_str) == Some("online")
            });
        if online {
            Ok(())
        } else {
            Err(pending(format!("127.0.0.1:{primary} does not list 127.0.0.1:{replica} online yet"), Some(primary)))
        }
    }

    /// An error with the tail of the log of the node on `port` (or of the whole lab dir).
    pub(crate) fn fail_at(&self, what: &str, port: Option<u16>) -> AppError {
        let dir = port.and_then(|p| self.nodes.iter().find(|n| n.port == p).map(|n| &n.dir)).or_else(|| {
            port.and_then(|p| {
                self.sentinel.iter().find(|s| s.port == p).map(|s| &s.dir).or(self
                    .proxy
                    .iter()
                    .find(|x| x.aux.port == p)
                    .map(|x| &x.aux.dir))
            })
        });
        let tail = dir.map(|d| process::log_tail(d, 15)).unwrap_or_default();
        AppError::Lab(format!("{what}{tail}"))
    }
}
