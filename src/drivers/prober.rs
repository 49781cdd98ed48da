//! A connected real client as the engine's [`Prober`]: each SET and GET is one request to the driver (or one
//! call into redis-rs), the latency the library's own, the failure classified from the library's error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::process::{Driver, NoAnswer};
use super::protocol::{classify_library, Answer, Request};
use super::redis_rs::RedisRs;
use crate::probe::engine::Prober;
use crate::probe::exec::{self, ProbeResult, WriteRead};
use crate::probe::outcome::{ErrorClass, Op, ProbeOutcome};
use crate::probe::targets::ProbeTarget;

/// A real client, connected.
#[derive(Clone)]
pub enum RealConnection {
    /// A driver process (node-redis, ioredis, redis-py).
    Process(Arc<Driver>),
    /// redis-rs, in this process.
    InProcess(Arc<RedisRs>),
}

impl RealConnection {
    /// The engine's view of it.
    pub fn prober(&self) -> Arc<dyn Prober> {
        match self {
            RealConnection::Process(d) => Arc::new(DriverProber(Arc::clone(d))),
            RealConnection::InProcess(r) => Arc::clone(r) as Arc<dyn Prober>,
        }
    }

    /// `ioredis 5.8.2 (node v20.20.2)`: the library and version that ran, as it said.
    pub fn version(&self) -> String {
        match self {
            RealConnection::Process(d) => {
                let h = &d.hello;
                let runtime = if h.runtime.is_empty() { String::new() } else { format!(" ({})", h.runtime) };
                format!("{} {}{runtime}", h.library, h.version)
            }
            RealConnection::InProcess(_) => format!("redis-rs {} (in process)", super::redis_rs::VERSION),
        }
    }

    /// The installed version alone: `5.8.2`.
    pub fn installed_version(&self) -> String {
        match self {
            RealConnection::Process(d) => d.hello.version.clone(),
            RealConnection::InProcess(_) => super::redis_rs::VERSION.to_string(),
        }
    }

    /// Deletes the probe keys through the library, each bounded by `timeout`: they expire anyway.
    pub async fn delete(&self, keys: &[String], timeout: Duration) {
        for key in keys {
            match self {
                RealConnection::Process(d) => {
                    let ms = millis(timeout);
                    let _ = d.call(timeout, |id| Request::Del { id, key: key.clone(), timeout_ms: ms }).await;
                }
                RealConnection::InProcess(r) => r.delete(key, timeout).await,
            }
        }
    }

    /// Ends the client (the driver process is asked to quit, then killed).
    pub async fn close(&self) {
        if let RealConnection::Process(d) = self {
            d.close().await;
        }
    }

    /// Resolves with the reason when the driver dies mid-run; never for redis-rs.
    pub async fn died(&self) -> String {
        match self {
            RealConnection::Process(d) => d.died().await,
            RealConnection::InProcess(_) => std::future::pending().await,
        }
    }

    /// Why the driver died, if it did.
    pub fn death(&self) -> Option<String> {
        match self {
            RealConnection::Process(d) => d.death(),
            RealConnection::InProcess(_) => None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A driver process as a prober.
struct DriverProber(Arc<Driver>);

impl DriverProber {
    /// One request; the library's answer or its classified failure, and the library's own latency.
    async fn one(&self, op: Op, p: &WriteRead<'_>) -> (Result<Option<String>, ProbeOutcome>, Option<Duration>) {
        let ms = millis(p.timeout);
        let key = p.key.to_string();
        let answer = match op {
            Op::Set => {
                let (value, px) = (p.value.to_string(), p.px());
                self.0.call(p.timeout, |id| Request::Set { id, key, value, px, timeout_ms: ms }).await
            }
            _ => self.0.call(p.timeout, |id| Request::Get { id, key, timeout_ms: ms }).await,
        };
        match answer {
            Ok(a) => {
                let took = a.ms.filter(|m| m.is_finite() && *m >= 0.0).map(|m| Duration::from_secs_f64(m / 1000.0));
                (outcome_of(op, a), took)
            }
            Err(NoAnswer::Timeout(after)) => {
                let why = format!("{}: no answer within {}", self.0.name, humantime::format_duration(after));
                (Err(ProbeOutcome::failed(ErrorClass::Timeout, op, why)), None)
            }
            Err(NoAnswer::Gone(why)) => (Err(ProbeOutcome::failed(ErrorClass::Other, op, why)), None),
        }
    }
}

/// What an answer means for the probe.
fn outcome_of(op: Op, a: Answer) -> Result<Option<String>, ProbeOutcome> {
    if a.ok {
        return Ok(a.value);
    }
    let text = a.error.unwrap_or_default();
    let class = if a.timeout { ErrorClass::Timeout } else { classify_library(a.name.as_deref(), &text) };
    let text = match a.name.as_deref() {
        Some(name) if !name.is_empty() && !text.starts_with(name) => format!("{name}: {text}"),
        _ => text,
    };
    Err(ProbeOutcome::failed(class, op, text))
}

#[async_trait::async_trait]
impl Prober for DriverProber {
    async fn write_read(&self, p: &WriteRead<'_>) -> ProbeResult {
        let took: Mutex<[Option<Duration>; 2]> = Mutex::new([None, None]);
        let set = || async {
            let (r, t) = self.one(Op::Set, p).await;
            took.lock().unwrap_or_else(|e| e.into_inner())[0] = t;
            r.map(|_| ())
        };
        let get = || async {
            let (r, t) = self.one(Op::Get, p).await;
            took.lock().unwrap_or_else(|e| e.into_inner())[1] = t;
            r
        };
        let mut result = exec::sequence(p, set, get).await;
        let [set_t, get_t] = *took.lock().unwrap_or_else(|e| e.into_inner());
        // The library's own latency, not the driver round trip (that overhead is the benchmark's business).
        result.set_latency = result.set_latency.and(set_t).or(result.set_latency);
        result.get_latency = result.get_latency.and(get_t).or(result.get_latency);
        result
    }

    fn routes(&self, targets: &[ProbeTarget]) -> Vec<Option<String>> {
        vec![None; targets.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_outcomes() {
        let ok =
            Answer { id: 1, ok: true, value: Some("v".into()), ms: Some(1.0), error: None, name: None, timeout: false };
        assert_eq!(outcome_of(Op::Get, ok), Ok(Some("v".into())));
        let down = Answer {
            id: 2,
            ok: false,
            value: None,
            ms: None,
            error: Some("The cluster is down".into()),
            name: Some("ClusterDownError".into()),
            timeout: false,
        };
        let e = outcome_of(Op::Set, down).unwrap_err();
        assert_eq!(e.class(), Some(ErrorClass::ClusterDown));
        assert!(
            matches!(&e, ProbeOutcome::Failed { message, .. } if message == "ClusterDownError: The cluster is down"),
            "{e:?}"
        );
        let late =
            Answer { id: 3, ok: false, value: None, ms: None, error: Some("x".into()), name: None, timeout: true };
        assert_eq!(outcome_of(Op::Get, late).unwrap_err().class(), Some(ErrorClass::Timeout));
    }
}
