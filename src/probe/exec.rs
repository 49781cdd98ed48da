//! One probe: SET a fresh value, GET it back and compare, each operation bounded by the timeout.
//! Failures come back as classified outcomes, never as errors.

use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::Expiration;

use super::outcome::{Op, ProbeOutcome};

/// What one probe saw.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Ok, or the classified failure.
    pub outcome: ProbeOutcome,
    /// SET round trip, when the SET was answered.
    pub set_latency: Option<Duration>,
    /// GET round trip, when the GET was answered.
    pub get_latency: Option<Duration>,
}

/// Bounds an operation by `timeout` even if the client's own timeout does not fire (a hung node).
async fn bounded<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, fred::error::Error>>,
) -> Result<T, fred::error::Error> {
    match tokio::time::timeout(timeout + Duration::from_millis(50), fut).await {
        Ok(r) => r,
        Err(_) => Err(fred::error::Error::new(fred::error::ErrorKind::Timeout, "probe timed out")),
    }
}

/// SET `key` to `value` with a TTL, GET it and check it. `read_only` probes with GET alone (a missing key is ok).
pub async fn write_read(
    client: &Client,
    key: &str,
    value: &str,
    ttl: Duration,
    timeout: Duration,
    read_only: bool,
) -> ProbeResult {
    let mut result = ProbeResult { outcome: ProbeOutcome::Ok, set_latency: None, get_latency: None };
    if !read_only {
        let start = Instant::now();
        let set = bounded(
            timeout,
            client.set::<(), _, _>(key, value, Some(Expiration::PX(ttl.as_millis().max(1) as i64)), None, false),
        )
        .await;
        match set {
            Ok(()) => result.set_latency = Some(start.elapsed()),
            Err(e) => {
                result.outcome = ProbeOutcome::from_error(Op::Set, &e);
                return result;
            }
        }
    }
    let start = Instant::now();
    match bounded(timeout, client.get::<Option<String>, _>(key)).await {
        Ok(got) => {
            result.get_latency = Some(start.elapsed());
            if !read_only && !same_or_newer(value, got.as_deref()) {
                result.outcome = ProbeOutcome::wrong_value(value, got.as_deref());
            }
        }
        Err(e) => result.outcome = ProbeOutcome::from_error(Op::Get, &e),
    }
    result
}

/// PING, bounded; the latency when it was answered.
pub async fn ping(client: &Client, timeout: Duration) -> Result<Duration, ProbeOutcome> {
    let start = Instant::now();
    match bounded(timeout, client.ping::<String>(None)).await {
        Ok(_) => Ok(start.elapsed()),
        Err(e) => Err(ProbeOutcome::from_error(Op::Ping, &e)),
    }
}

/// Whether the value read back is ours or a newer write of the same run: with overlapping probes a later
/// probe's SET may land before this probe's GET. Values are `run:seq`; anything else must match exactly.
pub fn same_or_newer(expected: &str, got: Option<&str>) -> bool {
    let Some(got) = got else { return false };
    if got == expected {
        return true;
    }
    match (expected.rsplit_once(':'), got.rsplit_once(':')) {
        (Some((run_a, a)), Some((run_b, b))) if run_a == run_b => {
            matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if b >= a)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_values_of_the_same_run_are_not_lost_writes() {
        assert!(same_or_newer("r1:31", Some("r1:31")));
        assert!(same_or_newer("r1:31", Some("r1:32")));
        assert!(!same_or_newer("r1:31", Some("r1:30")));
        assert!(!same_or_newer("r1:31", None));
        assert!(!same_or_newer("r1:31", Some("r2:99")));
        assert!(!same_or_newer("plain", Some("other")));
    }
}
