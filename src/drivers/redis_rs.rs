//! `real:redis-rs`: the `redis` crate's async cluster client, linked into this binary, so no driver process.
//! Built from the target (seeds, credentials, the target's timeout as connect and response timeout) and
//! otherwise with the crate's defaults, which is what an application that only names its seeds gets.

use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use super::process::EventSink;
use super::protocol::classify_library;
use crate::error::AppError;
use crate::probe::engine::Prober;
use crate::probe::exec::{self, ProbeResult, WriteRead};
use crate::probe::outcome::{ErrorClass, Op, ProbeOutcome};
use crate::probe::targets::ProbeTarget;

/// The `redis` crate version linked in (kept equal to Cargo.lock by a test).
pub const VERSION: &str = "1.6.0";

/// redis-rs's cluster connection.
pub struct RedisRs {
    conn: ClusterConnection,
    label: String,
}

impl RedisRs {
    /// Connects the cluster client to the target's seeds, bounded by [`super::connect_wait`].
    pub async fn connect(
        label: &str,
        target: &crate::settings::Target,
        _events: Option<EventSink>,
    ) -> Result<RedisRs, AppError> {
        if target.tls {
            return Err(AppError::BadInput(format!(
                "{label}: this build links redis-rs without TLS; use a node or python client for rediss:// targets"
            )));
        }
        let urls: Vec<String> = target.seeds.iter().map(|e| format!("redis://{e}")).collect();
        let mut b = ClusterClient::builder(urls).connection_timeout(target.timeout).response_timeout(target.timeout);
        if let Some(user) = &target.username {
            b = b.username(user);
        }
        if let Some(p) = &target.password {
            b = b.password(p.expose());
        }
        let fail = |why: String| AppError::Connect(format!("{label}: {why}"));
        let client = b.build().map_err(|e| fail(e.to_string()))?;
        let wait = super::connect_wait(target.timeout);
        let conn = tokio::time::timeout(wait, client.get_async_connection())
            .await
            .map_err(|_| fail(format!("no connection within {}", humantime::format_duration(wait))))?
            .map_err(|e| fail(e.to_string()))?;
        Ok(RedisRs { conn, label: label.to_string() })
    }

    /// `DEL key`, bounded.
    pub async fn delete(&self, key: &str, timeout: Duration) {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("DEL").arg(key).to_owned();
        let _ = tokio::time::timeout(timeout, cmd.query_async::<i64>(&mut conn)).await;
    }

    async fn call<T: redis::FromRedisValue>(
        &self,
        op: Op,
        cmd: redis::Cmd,
        timeout: Duration,
    ) -> Result<T, ProbeOutcome> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(timeout + Duration::from_millis(50), cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let class = match e.kind() {
                    redis::ErrorKind::Io if e.is_timeout() => ErrorClass::Timeout,
                    _ => classify_library(None, &e.to_string()),
                };
                let class = match (class, e.is_io_error() || e.is_connection_dropped()) {
                    (ErrorClass::Other, true) => ErrorClass::ConnectionClosed,
                    (c, _) => c,
                };
                Err(ProbeOutcome::failed(class, op, e.to_string()))
            }
            Err(_) => {
                let why = format!("{}: no answer within {}", self.label, humantime::format_duration(timeout));
                Err(ProbeOutcome::failed(ErrorClass::Timeout, op, why))
            }
        }
    }
}

#[async_trait::async_trait]
impl Prober for RedisRs {
    async fn write_read(&self, p: &WriteRead<'_>) -> ProbeResult {
        let set = || async {
            let cmd = redis::cmd("SET").arg(p.key).arg(p.value).arg("PX").arg(p.px()).to_owned();
            self.call::<()>(Op::Set, cmd, p.timeout).await
        };
        let get = || async {
            let cmd = redis::cmd("GET").arg(p.key).to_owned();
            self.call::<Option<String>>(Op::Get, cmd, p.timeout).await
        };
        exec::sequence(p, set, get).await
    }

    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
        vec![None; targets.len()]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_named_is_the_version_linked() {
        let lock = include_str!("../../Cargo.lock");
        let linked = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"redis\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"'));
        assert_eq!(linked, Some(super::VERSION));
    }
}
