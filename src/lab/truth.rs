//! Ground truth of a write interruption: after the lab acts on a shard, it SETs a key of that shard's slots
//! directly on each candidate node that says it is a primary (ROLE) every ~10 ms until one answers OK. A MOVED, READONLY, refused connection or
//! timeout does not count. The first OK is when writes resumed, as the lab saw it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::Client;
use tokio::task::JoinSet;

use super::{local, POLL};
use crate::connect::{self, Factory};

/// A running watch: one task per candidate node.
pub(crate) struct WriteWatch {
    tasks: JoinSet<Option<(Instant, u16)>>,
    done: Arc<AtomicBool>,
}

/// Starts polling `ports` with SETs of `key` (60 s TTL) until one accepts or `limit` passes.
pub(crate) fn watch_writes(factory: &Factory, ports: &[u16], key: &str, limit: Duration) -> WriteWatch {
    let done = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + limit;
    let mut tasks = JoinSet::new();
    for &port in ports {
        let factory = factory.clone();
        let key = key.to_string();
        let done = done.clone();
        tasks.spawn(async move { poll_one(factory, port, key, until, done).await });
    }
    WriteWatch { tasks, done }
}

async fn poll_one(
    factory: Factory,
    port: u16,
    key: String,
    until: Instant,
    done: Arc<AtomicBool>,
) -> Option<(Instant, u16)> {
    let mut client: Option<Client> = None;
    let mut n: u64 = 0;
    let mut result = None;
    while !done.load(Ordering::SeqCst) && Instant::now() < until {
        if client.is_none() {
            client = factory.node(&local(port)).await.ok();
        }
        if let Some(c) = &client {
            // ROLE first: fred reconnects on a READONLY reply, which would blur the measurement.
            let is_primary = match connect::command(c, &["ROLE"]).await {
                Ok(fred::prelude::Value::Array(items)) => {
                    items.first().and_then(|v| v.as_string()).as_deref() == Some("master")
                }
                _ => false,
            };
            if !is_primary {
                tokio::time::sleep(POLL).await;
                continue;
            }
            n += 1;
            let value = format!("{n}");
            let reply = connect::command(c, &["SET", &key, &value, "PX", "60000"]).await;
            if matches!(&reply, Ok(v) if v.as_str().as_deref() == Some("OK")) {
                result = Some((Instant::now(), port));
                break;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    if let Some(c) = client {
        connect::quit(&c).await;
    }
    result
}

impl WriteWatch {
    /// The first instant a candidate accepted a write, and which one; `None` if none did in time.
    pub(crate) async fn first(mut self) -> Option<(Instant, u16)> {
        while let Some(r) = self.tasks.join_next().await {
            if let Ok(Some(hit)) = r {
                // The others stop at their next turn and close their clients on their own.
                self.done.store(true, Ordering::SeqCst);
                self.tasks.detach_all();
                return Some(hit);
            }
        }
        None
    }
}

impl Drop for WriteWatch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}
