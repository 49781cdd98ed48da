//! Using the probe engine as a library: probe one endpoint for a few seconds and print each shard's outage
//! figures. Run: `cargo run --example probe -- redis://127.0.0.1:6379 5s`.

use std::time::Duration;

use redis_failover_probe::clock::Clock;
use redis_failover_probe::connect::{self, Factory};
use redis_failover_probe::mode::Mode;
use redis_failover_probe::probe::collect::Collector;
use redis_failover_probe::probe::engine::{self, EngineConfig};
use redis_failover_probe::probe::session::{Session, Source};
use redis_failover_probe::render::PlainView;
use redis_failover_probe::settings::{parse_url, Target};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let duration = redis_failover_probe::duration::parse_positive_duration(&args.next().unwrap_or_else(|| "5s".into()))
        .map_err(anyhow::Error::msg)?;
    let parsed = parse_url(&url)?;
    let mode =
        if std::env::var("REDIS_MODE").as_deref() == Ok("oss-cluster") { Mode::OssCluster } else { Mode::Standalone };
    let target = Target {
        password: parsed.password,
        username: parsed.username,
        ..Target::local(vec![parsed.endpoint.clone()], mode)
    };
    let factory = Factory::new(target)?;
    let conn = factory.connect().await?;
    let cfg = EngineConfig {
        source: String::new(),
        interval: Duration::from_millis(200),
        duration,
        timeout: Duration::from_secs(1),
        ttl: Duration::from_secs(30),
        read_only: false,
        prefix: "rfp:example:".into(),
        run_id: connect::run_id(),
        pause: None,
        rate: None,
    };
    let (targets, _topology) = engine::plan(&conn, &parsed.endpoint, 1, &cfg).await;
    let clock = Clock::start();
    let collector = Collector::new(clock, duration, 40, None);
    let source = Source {
        prober: std::sync::Arc::new(engine::FredProber(conn.clone())),
        conn: Some(conn.clone()),
        targets,
        // No topology watcher in this example: the targets planned at the start are probed throughout.
        feed: None,
        cfg,
    };
    let outcome =
        Session::new(clock).run(vec![source], collector, Box::new(PlainView::stdout()), Default::default()).await;
    for t in outcome.collector.target_reports(outcome.elapsed) {
        println!(
            "{}: {} probes, {} failed, {} outage(s), longest {} ms, recovered: {} |{}|",
            t.name,
            t.summary.probes,
            t.summary.failures,
            t.summary.outages,
            t.summary.longest_outage_ms,
            t.summary.recovered,
            t.timeline
        );
    }
    conn.close().await;
    Ok(())
}
