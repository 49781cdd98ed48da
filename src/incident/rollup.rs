//! What a run of weeks keeps of its baseline: per target, the probes and failed probes, and the time it was
//! down (from a failed probe to the next good one), since the start and since the last summary line; and the
//! incidents counted. Availability is a share of time, not of probes: probes are ten times denser during an
//! incident, and a share of probes would count every outage ten times over. Nothing here grows with run time.

use std::collections::BTreeMap;

/// One target's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Probes with a result.
    pub probes: u64,
    /// Of which failed.
    pub failed: u64,
    /// Run offset (ms) of its first result.
    pub first_ms: u64,
    /// Time down in closed outages (ms).
    pub down_ms: u64,
    /// Down since this run offset (ms), while down.
    pub down_since: Option<u64>,
}

impl Counts {
    /// Time down up to `now_ms`, the ongoing outage included.
    pub fn down_until(&self, now_ms: u64) -> u64 {
        self.down_ms + self.down_since.map_or(0, |s| now_ms.saturating_sub(s))
    }

    /// The share of the time since its first result that it was up (1 before any time has passed).
    pub fn availability(&self, now_ms: u64) -> f64 {
        share_up(self.down_until(now_ms), now_ms.saturating_sub(self.first_ms))
    }
}

fn share_up(down_ms: u64, span_ms: u64) -> f64 {
    if span_ms == 0 {
        1.0
    } else {
        1.0 - (down_ms.min(span_ms) as f64 / span_ms as f64)
    }
}

/// The run's totals, and where the current summary period started.
#[derive(Debug, Clone, Default)]
pub struct Rollup {
    /// Since the start, per target.
    pub total: BTreeMap<String, Counts>,
    /// At the start of the current period: (probes, time down) per target.
    period_base: BTreeMap<String, (u64, u64)>,
    /// Run offset (ms) the current period started at.
    period_start_ms: u64,
    /// Incidents opened since the start.
    pub incidents: u64,
    /// Incidents opened since the last summary line.
    pub period_incidents: u64,
}

impl Rollup {
    /// Counts one probe result of `target`, scheduled at run offset `at_ms`.
    pub fn probe(&mut self, target: &str, ok: bool, at_ms: u64) {
        let c = self.total.entry(target.to_string()).or_insert(Counts { first_ms: at_ms, ..Counts::default() });
        c.probes += 1;
        c.failed += u64::from(!ok);
        match (ok, c.down_since) {
            (false, None) => c.down_since = Some(at_ms),
            (true, Some(since)) => {
                c.down_ms += at_ms.saturating_sub(since);
                c.down_since = None;
            }
            _ => {}
        }
    }

    /// Counts an incident.
    pub fn incident(&mut self) {
        self.incidents += 1;
        self.period_incidents += 1;
    }

    /// The summary line of the period that ends at `now_ms` (`label`: `last 24h`), and a fresh start for the next.
    pub fn period_line(&mut self, label: &str, now_ms: u64) -> String {
        let mut probes = 0;
        let mut shards = Vec::new();
        for (t, c) in &self.total {
            let (p0, d0) = self.period_base.get(t).copied().unwrap_or_default();
            probes += c.probes - p0;
            let span = now_ms.saturating_sub(self.period_start_ms.max(c.first_ms));
            let down = c.down_until(now_ms).saturating_sub(d0);
            shards.push(format!("{t} {}", percent(share_up(down, span))));
        }
        let line = format!(
            "watch: {label}: {probes} probes, {} incident{}; availability: {}",
            self.period_incidents,
            if self.period_incidents == 1 { "" } else { "s" },
            if shards.is_empty() { "no probes".to_string() } else { shards.join(", ") }
        );
        self.period_base = self.total.iter().map(|(t, c)| (t.clone(), (c.probes, c.down_until(now_ms)))).collect();
        self.period_start_ms = now_ms;
        self.period_incidents = 0;
        line
    }
}

/// `99.998%`: three decimals, never rounded up to 100 while anything was down.
pub fn percent(share: f64) -> String {
    let p = (share * 100_000.0).floor() / 1000.0;
    format!("{p:.3}%")
}
