//! Latency percentiles of successful probes in constant memory: an HDR
//! histogram in microseconds (1 µs .. 60 s, 3 significant figures) plus the
//! exact minimum and maximum.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest value the histogram tracks, in microseconds; longer ones are clamped.
const MAX_MICROS: u64 = 60_000_000;
/// Significant decimal figures kept by the histogram.
const SIG_FIGS: u8 = 3;

/// A latency distribution for one target (or a merge of several).
///
/// Not serialisable itself; [`LatencyStats::summary`] gives the JSON form.
#[derive(Debug, Clone)]
pub struct LatencyStats {
    hist: Histogram<u64>,
    // Exact extremes: the histogram only knows them to 3 significant figures.
    min_us: u64,
    max_us: u64,
}

/// Serialisable latency figures in milliseconds (all zero when `count` is 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of recorded latencies.
    pub count: u64,
    /// Smallest latency, exact.
    pub min_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest latency, exact (up to 60 s).
    pub max_ms: f64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyStats {
    /// An empty distribution.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, SIG_FIGS).expect("constant histogram bounds are valid");
        LatencyStats { hist, min_us: u64::MAX, max_us: 0 }
    }

    /// Records one latency; values above 60 s are clamped to 60 s.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).min(MAX_MICROS);
        self.hist.saturating_record(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    /// Adds every latency of `other` into `self`.
    pub fn merge(&mut self, other: &LatencyStats) {
        if other.count() == 0 {
            return;
        }
        self.hist.add(&other.hist).expect("histograms with equal bounds always add");
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Smallest recorded latency (exact).
    pub fn min(&self) -> Option<Duration> {
        (self.count() > 0).then(|| Duration::from_micros(self.min_us))
    }

    /// Largest recorded latency (exact, clamped at 60 s).
    pub fn max(&self) -> Option<Duration> {
        (self.count() > 0).then(|| Duration::from_micros(self.max_us))
    }

    /// Median latency.
    pub fn p50(&self) -> Option<Duration> {
        self.quantile(0.50)
    }

    /// 90th-percentile latency.
    pub fn p90(&self) -> Option<Duration> {
        self.quantile(0.90)
    }

    /// 99th-percentile latency.
    pub fn p99(&self) -> Option<Duration> {
        self.quantile(0.99)
    }

    /// Latency at quantile `q` in 0..=1, within the exact min..=max.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count() == 0 {
            return None;
        }
        // The histogram answers with the top of a bucket; keep it inside the
        // exact extremes so that p99 never exceeds max.
        let us = self.hist.value_at_quantile(q.clamp(0.0, 1.0)).clamp(self.min_us, self.max_us);
        Some(Duration::from_micros(us))
    }

    /// The figures in milliseconds for JSON and tables.
    pub fn summary(&self) -> LatencySummary {
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_micros() as f64 / 1000.0);
        LatencySummary {
            count: self.count(),
            min_ms: ms(self.min()),
            p50_ms: ms(self.p50()),
            p90_ms: ms(self.p90()),
            p99_ms: ms(self.p99()),
            max_ms: ms(self.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Relative error allowed by 3 significant figures.
    fn close(got: Duration, want: Duration) -> bool {
        let (g, w) = (got.as_micros() as f64, want.as_micros() as f64);
        (g - w).abs() <= w * 0.001 + 1.0
    }

    #[test]
    fn empty() {
        let s = LatencyStats::new();
        assert_eq!(s.count(), 0);
        assert_eq!(s.min(), None);
        assert_eq!(s.p50(), None);
        assert_eq!(s.p99(), None);
        assert_eq!(s.max(), None);
        let sum = s.summary();
        assert_eq!(sum.count, 0);
        assert_eq!(sum.max_ms, 0.0);
    }

    #[test]
    fn percentiles_of_one_to_hundred_ms() {
        let mut s = LatencyStats::new();
        for v in 1..=100 {
            s.record(ms(v));
        }
        assert_eq!(s.count(), 100);
        assert_eq!(s.min(), Some(ms(1)));
        assert_eq!(s.max(), Some(ms(100)));
        assert!(close(s.p50().unwrap(), ms(50)), "{:?}", s.p50());
        assert!(close(s.p90().unwrap(), ms(90)), "{:?}", s.p90());
        assert!(close(s.p99().unwrap(), ms(99)), "{:?}", s.p99());
        let sum = s.summary();
        assert_eq!(sum.min_ms, 1.0);
        assert_eq!(sum.max_ms, 100.0);
        assert!((sum.p50_ms - 50.0).abs() < 0.1, "{sum:?}");
    }

    #[test]
    fn single_value_is_exact_everywhere() {
        let mut s = LatencyStats::new();
        s.record(Duration::from_micros(1_234_567));
        let d = Duration::from_micros(1_234_567);
        assert_eq!(s.min(), Some(d));
        assert_eq!(s.p50(), Some(d));
        assert_eq!(s.p99(), Some(d));
        assert_eq!(s.max(), Some(d));
        assert_eq!(s.summary().p90_ms, 1234.567);
    }

    #[test]
    fn clamps_zero_and_huge() {
        let mut s = LatencyStats::new();
        s.record(Duration::ZERO);
        s.record(Duration::from_secs(3600));
        assert_eq!(s.count(), 2);
        assert_eq!(s.min(), Some(Duration::ZERO));
        assert_eq!(s.max(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn merge_adds_counts_and_extremes() {
        let mut a = LatencyStats::new();
        let mut b = LatencyStats::new();
        a.record(ms(2));
        b.record(ms(1));
        b.record(ms(30));
        a.merge(&b);
        a.merge(&LatencyStats::new());
        assert_eq!(a.count(), 3);
        assert_eq!(a.min(), Some(ms(1)));
        assert_eq!(a.max(), Some(ms(30)));
        assert!(close(a.p50().unwrap(), ms(2)));
    }

    #[test]
    fn summary_json_field_names() {
        let mut s = LatencyStats::new();
        s.record(ms(1));
        let json = serde_json::to_value(s.summary()).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["count", "max_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms"]);
    }
}
