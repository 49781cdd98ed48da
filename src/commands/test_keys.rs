//! `test-keys`: write keys with a TTL, read them back, and show which node owns and which answered each
//! (was `GET /redis/test-keys`).

use std::collections::BTreeMap;
use std::time::Instant;

use fred::prelude::*;
use fred::types::{Expiration, SetOptions};
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::TestKeysArgs;
use crate::connect;
use crate::error::AppResult;
use crate::exit::ExitCode;
use crate::inspect;
use crate::mode::Mode;
use crate::output::{self, Report};
use crate::topology::{self, Topology};

/// The `test-keys` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestKeysReport {
    /// One row per key.
    pub keys: Vec<KeyRow>,
    /// Keys per node that answered.
    pub distribution: BTreeMap<String, u32>,
    /// Whether the keys were deleted at the end.
    pub deleted: bool,
    /// Keys whose write or read failed, or whose answer came from a node that does not own the slot.
    pub problems: u32,
}

/// One test key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRow {
    /// The key.
    pub key: String,
    /// Its hash slot.
    pub slot: u16,
    /// The primary that owns the slot according to the slot map (the endpoint outside cluster mode).
    pub owner: Option<String>,
    /// The node that answered a command routed like the key.
    pub answered_by: Option<String>,
    /// SET + GET round trip in milliseconds.
    pub latency_ms: f64,
    /// `ok`, or the error.
    pub result: String,
}

impl Report for TestKeysReport {
    fn render(&self) -> String {
        let mut t = output::table(&["key", "slot", "owner", "answered by", "latency", "result"]);
        for k in &self.keys {
            t.add_row(vec![
                k.key.clone(),
                k.slot.to_string(),
                k.owner.clone().unwrap_or_else(|| "-".into()),
                k.answered_by.clone().unwrap_or_else(|| "-".into()),
                format!("{:.2}ms", k.latency_ms),
                k.result.clone(),
            ]);
        }
        let mut d = output::table(&["node", "keys"]);
        for (node, n) in &self.distribution {
            d.add_row(vec![node.clone(), n.to_string()]);
        }
        let tail = if self.deleted { "keys deleted" } else { "keys kept (they expire after --ttl)" };
        format!("{t}\n{d}\n{} key(s), {} problem(s); {tail}", self.keys.len(), self.problems)
    }

    fn exit_code(&self) -> ExitCode {
        if self.problems == 0 {
            ExitCode::Ok
        } else {
            ExitCode::CheckFailed
        }
    }
}

/// Maps node ids to endpoints, for turning CLUSTER MYID into an address.
fn id_to_endpoint(topo: &Topology) -> BTreeMap<String, String> {
    topo.nodes.iter().map(|n| (n.id.clone(), n.endpoint.to_string())).collect()
}

/// Runs `test-keys`.
pub async fn run(c: &Ctx, args: &TestKeysArgs) -> AppResult<ExitCode> {
    let conn = c.factory.connect().await?;
    let cluster = conn.mode == Mode::OssCluster;
    let topo = if cluster { inspect::topology_or_hidden(&conn).await?.map(|(t, _)| t) } else { None };
    let ids = topo.as_ref().map(id_to_endpoint).unwrap_or_default();
    let single = c.settings.target.seeds[0].to_string();
    let run_id = connect::run_id();
    let ttl_ms = args.ttl.as_millis().max(1) as i64;
    let mut rows = Vec::new();
    let mut written = Vec::new();
    for i in 0..args.count {
        let key = format!("{}:{run_id}:{i}", args.prefix);
        let slot = topology::key_slot(key.as_bytes());
        let value = format!("{run_id}-{i}");
        let start = Instant::now();
        // NX: never overwrite a key that is not ours.
        let set: Result<Option<String>, _> =
            conn.client.set(&key, value.as_str(), Some(Expiration::PX(ttl_ms)), Some(SetOptions::NX), false).await;
        let result = match set {
            Ok(Some(_)) => {
                written.push(key.clone());
                match conn.client.get::<Option<String>, _>(&key).await {
                    Ok(Some(v)) if v == value => "ok".to_string(),
                    Ok(other) => format!("read back {other:?}, expected {value}"),
                    Err(e) => format!("GET failed: {}", crate::errfmt::fred_error(&e)),
                }
            }
            Ok(None) => "key already existed: left alone".to_string(),
            Err(e) => format!("SET failed: {}", crate::errfmt::fred_error(&e)),
        };
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        let (owner, answered_by) = if cluster {
            let owner = topo.as_ref().and_then(|t| t.primary_for_slot(slot)).map(|n| n.endpoint.to_string());
            let answered = match connect::command_for_slot(&conn.client, slot, &["CLUSTER", "MYID"]).await {
                Ok(v) => v.as_string().and_then(|id| ids.get(&id).cloned()),
                Err(_) => None,
            };
            (owner, answered)
        } else {
            (Some(single.clone()), Some(single.clone()))
        };
        rows.push(KeyRow { key, slot, owner, answered_by, latency_ms, result });
    }
    let deleted = !args.keep;
    if deleted {
        for key in &written {
            let _ = conn.client.del::<i64, _>(key).await;
        }
    }
    conn.close().await;
    let mut distribution = BTreeMap::new();
    for r in &rows {
        *distribution.entry(r.answered_by.clone().unwrap_or_else(|| "unknown".into())).or_insert(0) += 1;
    }
    let problems =
        rows.iter().filter(|r| r.result != "ok" || r.answered_by.is_none() || r.owner != r.answered_by).count() as u32;
    let report = TestKeysReport { keys: rows, distribution, deleted, problems };
    Ok(output::emit(c.settings.output, &report))
}
