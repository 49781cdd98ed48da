//! `lab bench`: how fast the lab is on this machine. One lab at a time (never two clusters at once), each figure
//! the median of N runs, next to the target it should meet.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Lab, LabOptions, Scenario, TopologyKind};
use crate::clock::Clock;
use crate::error::AppResult;

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchFigure {
    /// What was measured.
    pub name: String,
    /// Every run, ms.
    pub runs_ms: Vec<u64>,
    /// The median, ms.
    pub median_ms: u64,
    /// The target, ms.
    pub target_ms: u64,
    /// Whether the median meets the target.
    pub within_target: bool,
}

/// The whole benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Runs per figure.
    pub runs: usize,
    /// CPU cores seen.
    pub cores: usize,
    /// The figures.
    pub figures: Vec<BenchFigure>,
}

fn figure(name: &str, runs_ms: Vec<u64>, target: Duration) -> BenchFigure {
    let mut sorted = runs_ms.clone();
    sorted.sort_unstable();
    let median_ms = if sorted.is_empty() {
        0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2
    };
    let target_ms = target.as_millis() as u64;
    BenchFigure { name: name.to_string(), runs_ms, median_ms, target_ms, within_target: median_ms < target_ms }
}

/// Runs the benchmark: a 3×1 cluster's ready time, replace-node of a primary in it, rolling-replace of all 6 nodes
/// of a fresh one, and an enterprise lab's ready time; `progress` hears about each measurement.
pub async fn bench(runs: usize, mut progress: impl FnMut(&str, u64)) -> AppResult<BenchReport> {
    let clock = Clock::start();
    let opts = LabOptions::default();
    let (mut ready, mut replace, mut rolling, mut enterprise) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs.max(1) {
        let began = Instant::now();
        let mut lab = Lab::start(TopologyKind::Cluster, &opts, clock, None).await?;
        let ms = began.elapsed().as_millis() as u64;
        progress("cluster 3x1 ready", ms);
        ready.push(ms);
        let began = Instant::now();
        lab.run(&Scenario::ReplaceNode { shard: None, replica: false, drain: Duration::ZERO }).await?;
        let ms = began.elapsed().as_millis() as u64;
        progress("replace-node (primary)", ms);
        replace.push(ms);
        lab.shutdown().await;

        let mut lab = Lab::start(TopologyKind::Cluster, &opts, clock, None).await?;
        let began = Instant::now();
        lab.run(&Scenario::RollingReplace { drain: Duration::ZERO }).await?;
        let ms = began.elapsed().as_millis() as u64;
        progress("rolling-replace (6 nodes)", ms);
        rolling.push(ms);
        lab.shutdown().await;

        let began = Instant::now();
        let lab = Lab::start(TopologyKind::Enterprise, &opts, clock, None).await?;
        let ms = began.elapsed().as_millis() as u64;
        progress("enterprise ready", ms);
        enterprise.push(ms);
        lab.shutdown().await;
    }
    Ok(BenchReport {
        runs: runs.max(1),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        figures: vec![
            figure("cluster 3x1 ready", ready, Duration::from_secs(3)),
            figure("replace-node (primary)", replace, Duration::from_secs(2)),
            figure("rolling-replace (6 nodes)", rolling, Duration::from_secs(12)),
            figure("enterprise ready", enterprise, Duration::from_secs(2)),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_target() {
        let f = figure("x", vec![300, 100, 200], Duration::from_millis(250));
        assert_eq!(f.median_ms, 200);
        assert!(f.within_target);
        let f = figure("x", vec![400, 100], Duration::from_millis(200));
        assert_eq!(f.median_ms, 250);
        assert!(!f.within_target);
    }
}
