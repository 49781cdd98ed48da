//! Benchmark: what a real client's driver adds to a probe. One lab cluster, then each client in turn on the same
//! servers: the in-process probes (direct, fred, redis-rs) and each installed driver (node-redis, ioredis,
//! redis-py) run the same SET+GET sequence `COUNT` times, one after another. Printed per client: how many
//! completed (only those count), and p50/p99 of the SET+GET as the tool waited for it; for a driver also as the
//! library took it inside the driver, so the difference is the driver's round trip.
//! Run: `scripts/bench-drivers.sh` (release build, installs the libraries it names).

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_failover_probe::clock::Clock;
use redis_failover_probe::connect::Factory;
use redis_failover_probe::drivers::{self, RealClient, RealConnection};
use redis_failover_probe::lab::{Lab, LabOptions, TopologyKind};
use redis_failover_probe::probe::engine::{FredProber, Prober};
use redis_failover_probe::probe::exec::WriteRead;
use redis_failover_probe::probe::outcome::ProbeOutcome;
use redis_failover_probe::probe::styles::{ClientSpec, EmulatedCluster, StyleOptions};

/// One client's figures.
struct Figures {
    name: String,
    version: String,
    completed: usize,
    attempted: usize,
    tool: Vec<Duration>,
    library: Vec<Duration>,
}

fn pct(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.3}", sorted[i].as_secs_f64() * 1000.0)
}

async fn measure(name: &str, version: String, prober: Arc<dyn Prober>, count: usize) -> Figures {
    let key = format!("rfp:bench:{{{name}}}:k");
    let mut f =
        Figures { name: name.into(), version, completed: 0, attempted: 0, tool: Vec::new(), library: Vec::new() };
    for i in 0..(count + count / 10) {
        let value = format!("v{i}");
        let p = WriteRead {
            key: &key,
            value: &value,
            ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
            read_only: false,
        };
        let started = Instant::now();
        let r = prober.write_read(&p).await;
        let took = started.elapsed();
        // The first tenth warms the connections and the runtimes up and is not counted.
        if i < count / 10 {
            continue;
        }
        f.attempted += 1;
        if matches!(r.outcome, ProbeOutcome::Ok) {
            f.completed += 1;
            f.tool.push(took);
            if let (Some(s), Some(g)) = (r.set_latency, r.get_latency) {
                f.library.push(s + g);
            }
        }
    }
    f.tool.sort();
    f.library.sort();
    f
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(2000);
    let reals: Vec<String> = args.collect();
    let opts = LabOptions { primaries: 3, replicas: 0, seed_proxy: false, ..LabOptions::default() };
    let lab = Lab::start(TopologyKind::Cluster, &opts, Clock::start(), None).await?;
    let factory = Arc::new(Factory::new(lab.target())?);
    let clock = Clock::start();
    let mut all = Vec::new();
    let direct =
        EmulatedCluster::connect_with(Arc::clone(&factory), &ClientSpec::direct(), clock, StyleOptions::default())
            .await?;
    all.push(measure("direct", "in process".into(), Arc::new(direct.clone()), count).await);
    direct.close().await;
    let conn = factory.connect().await?;
    all.push(measure("fred", "in process".into(), Arc::new(FredProber(conn.clone())), count).await);
    conn.close().await;
    let mut specs = vec!["redis-rs".to_string()];
    specs.extend(reals);
    for spec in specs {
        let real = RealClient::parse(&spec).map_err(anyhow::Error::msg)?;
        let label = format!("real:{spec}");
        let rc: RealConnection = drivers::connect(&label, &real, factory.target(), None).await?;
        all.push(measure(&label, rc.version(), rc.prober(), count).await);
        rc.close().await;
    }
    lab.shutdown().await;
    println!("SET+GET, {count} sequential probes per client on one lab cluster (3 primaries), ms");
    println!(
        "{:<20} {:<32} {:>11} {:>8} {:>8} {:>10} {:>10}",
        "client", "version", "completed", "p50", "p99", "lib p50", "lib p99"
    );
    for f in &all {
        let in_lib = f.name.starts_with("real:") && f.name != "real:redis-rs";
        println!(
            "{:<20} {:<32} {:>5}/{:<5} {:>8} {:>8} {:>10} {:>10}",
            f.name,
            f.version,
            f.completed,
            f.attempted,
            pct(&f.tool, 0.5),
            pct(&f.tool, 0.99),
            if in_lib { pct(&f.library, 0.5) } else { "-".into() },
            if in_lib { pct(&f.library, 0.99) } else { "-".into() },
        );
    }
    Ok(())
}
