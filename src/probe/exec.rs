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
    /// What the GET read back, when it was not the value written.
    pub read: Option<String>,
    /// When the SET was acknowledged: the order of acknowledgements tells a lost write from an overtaken one.
    pub acked_at: Option<std::time::Instant>,
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

/// One probe's inputs: SET `key` to `value` with a TTL, then GET it, each bounded by `timeout`; `read_only`
/// probes with GET alone (a missing key is ok).
#[derive(Debug, Clone, Copy)]
pub struct WriteRead<'a> {
    /// The probe key.
    pub key: &'a str,
    /// The value written (`run:seq`).
    pub value: &'a str,
    /// The key's TTL.
    pub ttl: Duration,
    /// Bound of each of SET and GET.
    pub timeout: Duration,
    /// GET only.
    pub read_only: bool,
}

impl WriteRead<'_> {
    /// The TTL in milliseconds for `SET ... PX`, at least 1.
    pub fn px(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX).max(1)
    }
}

/// The probe's sequence, whatever sends the commands: SET (unless read-only), then GET, the value checked with
/// [`same_or_newer`]; a failure is classified by the sender and ends the sequence.
pub async fn sequence<SF, GF>(p: &WriteRead<'_>, set: impl FnOnce() -> SF, get: impl FnOnce() -> GF) -> ProbeResult
where
    SF: std::future::Future<Output = Result<(), ProbeOutcome>>,
    GF: std::future::Future<Output = Result<Option<String>, ProbeOutcome>>,
{
    let mut result =
        ProbeResult { outcome: ProbeOutcome::Ok, set_latency: None, get_latency: None, read: None, acked_at: None };
    if !p.read_only {
        let start = Instant::now();
        match set().await {
            Ok(()) => {
                result.acked_at = Some(Instant::now());
                result.set_latency = Some(start.elapsed());
            }
            Err(outcome) => {
                result.outcome = outcome;
                return result;
            }
        }
    }
    let start = Instant::now();
    match get().await {
        Ok(got) => {
            result.get_latency = Some(start.elapsed());
            if !p.read_only && !same_or_newer(p.value, got.as_deref()) {
                result.outcome = ProbeOutcome::wrong_value(p.value, got.as_deref());
                result.read = got;
            }
        }
        Err(outcome) => result.outcome = outcome,
    }
    result
}

/// One probe through fred's client.
pub async fn write_read(client: &Client, p: &WriteRead<'_>) -> ProbeResult {
    let set = || async {
        bounded(p.timeout, client.set::<(), _, _>(p.key, p.value, Some(Expiration::PX(p.px())), None, false))
            .await
            .map_err(|e| ProbeOutcome::from_error(Op::Set, &e))
    };
    let get = || async {
        bounded(p.timeout, client.get::<Option<String>, _>(p.key))
            .await
            .map_err(|e| ProbeOutcome::from_error(Op::Get, &e))
    };
    sequence(p, set, get).await
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

/// The sequence number of a `run:seq` probe value.
pub fn seq_of(value: &str) -> Option<u64> {
    value.rsplit_once(':').and_then(|(_, seq)| seq.parse().ok())
}

/// When each recent probe's SET was acknowledged, per target, to tell a lost write from an overtaken one: with
/// overlapping probes an older probe's SET can be applied after a newer one's, and then the newer probe reads
/// the older value although nothing was lost.
#[derive(Debug, Default)]
pub struct AckBook {
    acked: std::sync::Mutex<std::collections::BTreeMap<u64, std::time::Instant>>,
}

impl AckBook {
    /// How many recent acknowledgements are remembered.
    const KEEP: usize = 4096;

    /// Records that probe `seq`'s SET was acknowledged at `at`.
    pub fn acked(&self, seq: u64, at: std::time::Instant) {
        let mut m = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        m.insert(seq, at);
        while m.len() > Self::KEEP {
            m.pop_first();
        }
    }

    /// Whether reading `read` after our own SET (probe `own`, sent at `own_sent`) means a write was lost: only
    /// when `read` is an older probe whose SET was acknowledged before ours was even sent, so it was applied
    /// before ours for certain. An older SET still in flight when ours was sent ran concurrently with it (a client
    /// retrying through CLUSTERDOWN releases a burst of them at once): either order is a correct outcome, so the
    /// older value was overtaken, not lost.
    pub fn is_lost(&self, own: u64, own_sent: std::time::Instant, read: Option<&str>) -> bool {
        let Some(read) = read else { return true };
        let Some(r) = seq_of(read) else { return true };
        if r >= own {
            return false;
        }
        let m = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        matches!(m.get(&r), Some(at) if *at < own_sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overtaken_write_is_not_a_lost_write() {
        let book = AckBook::default();
        let t0 = std::time::Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // 165 was sent at 5 ms.
        book.acked(163, ms(0));
        book.acked(165, ms(10));
        // 164 is still in flight (or was acknowledged after 165 was sent): concurrent, overtaken.
        assert!(!book.is_lost(165, ms(5), Some("r:164")));
        book.acked(164, ms(12));
        assert!(!book.is_lost(165, ms(5), Some("r:164")));
        // Acknowledged after 165 was sent but before 165's own acknowledgement: still concurrent (a burst of
        // retries released together lands in any order).
        book.acked(162, ms(7));
        assert!(!book.is_lost(165, ms(5), Some("r:162")));
        // 163 was acknowledged before 165 was sent: reading it means 165's write was lost.
        assert!(book.is_lost(165, ms(5), Some("r:163")));
        assert!(book.is_lost(165, ms(5), None));
        assert!(!book.is_lost(165, ms(5), Some("r:166")));
    }

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
