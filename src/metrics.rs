//! Prometheus metrics of a run, for fleets of probers: probe counters by target and outcome class, outage
//! state and length per target, latency histograms, client and lab events. Served at `/metrics` with
//! `--metrics-listen ADDR` and written for node_exporter's textfile collector with `--metrics-file FILE`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::probe::collect::Collector;

/// Labels of per-target series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    /// Group (compare) or empty.
    pub source: String,
    /// Target name.
    pub target: String,
}

/// Labels of probe counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Group (compare) or empty.
    pub source: String,
    /// Target name.
    pub target: String,
    /// `ok` or the error class.
    pub outcome: String,
}

/// Labels of latency histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// Group (compare) or empty.
    pub source: String,
    /// Target name.
    pub target: String,
    /// `set` or `get`.
    pub op: String,
}

/// Labels of event counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Event kind.
    pub kind: String,
}

/// The metric families of one run.
pub struct Metrics {
    registry: Registry,
    probes: Family<OutcomeLabels, Counter>,
    down: Family<TargetLabels, Gauge>,
    outage_ms: Family<TargetLabels, Gauge>,
    outages: Family<TargetLabels, Gauge>,
    latency: Family<OpLabels, Histogram>,
    client_events: Family<KindLabels, Counter>,
    lab_events: Family<KindLabels, Counter>,
    notices: Family<KindLabels, Counter>,
    watch: Option<WatchFamilies>,
}

/// The families only `watch` serves.
struct WatchFamilies {
    availability: Family<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    incident_open: Gauge,
    incidents: Counter,
    last_incident: Gauge<f64, std::sync::atomic::AtomicU64>,
}

/// What a watcher reports of itself at every tick.
#[derive(Debug, Clone, Default)]
pub struct WatchState {
    /// Per target: whether it is down now, and the share of its probes that succeeded since the start.
    pub targets: Vec<(String, bool, f64)>,
    /// Whether an incident is open.
    pub incident_open: bool,
    /// Incidents opened since the start.
    pub incidents: u64,
    /// Length of the last closed incident (s).
    pub last_incident_s: Option<f64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rfp");
        let probes = Family::<OutcomeLabels, Counter>::default();
        let down = Family::<TargetLabels, Gauge>::default();
        let outage_ms = Family::<TargetLabels, Gauge>::default();
        let outages = Family::<TargetLabels, Gauge>::default();
        let latency = Family::<OpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let client_events = Family::<KindLabels, Counter>::default();
        let lab_events = Family::<KindLabels, Counter>::default();
        let notices = Family::<KindLabels, Counter>::default();
        registry.register("probes", "Probes by target and outcome (ok or error class)", probes.clone());
        registry.register("target_down", "1 while the target is in an outage", down.clone());
        registry.register("outage_current_milliseconds", "Length of the ongoing outage per target", outage_ms.clone());
        registry.register("outages", "Outages so far per target", outages.clone());
        registry.register("probe_latency_seconds", "SET and GET round trips", latency.clone());
        registry.register("client_events", "Events the client library reported, by kind", client_events.clone());
        registry.register("lab_events", "Lab steps, by kind", lab_events.clone());
        registry.register(
            "notices",
            "Notices by kind: maintenance notices, stale-topology diagnoses (diagnosis), warnings",
            notices.clone(),
        );
        Metrics { registry, probes, down, outage_ms, outages, latency, client_events, lab_events, notices, watch: None }
    }

    /// Registers the families of a long-running watcher.
    pub fn enable_watch(&mut self) {
        let w = WatchFamilies {
            availability: Family::default(),
            incident_open: Gauge::default(),
            incidents: Counter::default(),
            last_incident: Gauge::default(),
        };
        let r = &mut self.registry;
        r.register(
            "availability_ratio",
            "Share of probes that succeeded since the watcher started",
            w.availability.clone(),
        );
        r.register("incident_open", "1 while an incident is open", w.incident_open.clone());
        r.register("incidents", "Incidents opened since the watcher started", w.incidents.clone());
        r.register("last_incident_seconds", "Length of the last closed incident", w.last_incident.clone());
        self.watch = Some(w);
    }

    /// Sets a watcher's gauges (and `target_down`) from its state.
    pub fn watch_state(&self, st: &WatchState) {
        let Some(w) = &self.watch else { return };
        for (target, down, availability) in &st.targets {
            let labels = TargetLabels { source: String::new(), target: target.clone() };
            self.down.get_or_create(&labels).set(i64::from(*down));
            w.availability.get_or_create(&labels).set(*availability);
        }
        w.incident_open.set(i64::from(st.incident_open));
        let counted = w.incidents.get();
        if st.incidents > counted {
            w.incidents.inc_by(st.incidents - counted);
        }
        if let Some(s) = st.last_incident_s {
            w.last_incident.set(s);
        }
    }

    /// Counts one event (probe results are counted when the collector shows them, in scheduled order).
    pub fn observe(&self, ev: &Event) {
        match ev {
            Event::Probe(p) => {
                let outcome = p.outcome.class().map(|c| c.to_string()).unwrap_or_else(|| "ok".into());
                self.probes
                    .get_or_create(&OutcomeLabels { source: p.source.clone(), target: p.target.clone(), outcome })
                    .inc();
                for (op, v) in [("set", p.set_ms), ("get", p.get_ms)] {
                    if let Some(ms) = v {
                        let labels = OpLabels { source: p.source.clone(), target: p.target.clone(), op: op.into() };
                        self.latency.get_or_create(&labels).observe(ms / 1000.0);
                    }
                }
            }
            Event::Client(c) => {
                self.client_events.get_or_create(&KindLabels { kind: c.kind.as_str().to_string() }).inc();
            }
            Event::Lab(l) => {
                let kind = l.kind_name();
                self.lab_events.get_or_create(&KindLabels { kind }).inc();
            }
            Event::Notice(n) => {
                self.notices.get_or_create(&KindLabels { kind: n.kind.clone() }).inc();
            }
            _ => {}
        }
    }

    /// Updates the outage gauges from the collector's state.
    pub fn refresh(&self, c: &Collector, elapsed: std::time::Duration) {
        for t in c.targets() {
            let labels = TargetLabels { source: t.source.clone(), target: t.name.clone() };
            let down = t.tracker.is_down();
            self.down.get_or_create(&labels).set(i64::from(down));
            let ongoing = t.tracker.down_since().map(|s| elapsed.saturating_sub(s).as_millis() as i64).unwrap_or(0);
            self.outage_ms.get_or_create(&labels).set(if down { ongoing } else { 0 });
            self.outages.get_or_create(&labels).set(t.tracker.summary(elapsed).outages as i64);
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Where the metrics go during a run.
#[derive(Clone, Default)]
pub struct MetricsSink {
    /// The families, shared with the server task.
    pub metrics: Option<Arc<Mutex<Metrics>>>,
    file: Option<PathBuf>,
}

impl MetricsSink {
    /// No metrics.
    pub fn none() -> Self {
        MetricsSink::default()
    }

    /// Metrics for `--metrics-listen` and/or `--metrics-file`; binds the listener now, so a bad address fails
    /// before the run starts.
    pub async fn start(listen: Option<&str>, file: Option<&Path>) -> AppResult<Self> {
        if listen.is_none() && file.is_none() {
            return Ok(Self::none());
        }
        if let Some(f) = file {
            crate::events::check_writable(f, "metrics file")?;
        }
        let metrics = Arc::new(Mutex::new(Metrics::new()));
        if let Some(addr) = listen {
            let addr: SocketAddr =
                addr.parse().map_err(|_| AppError::BadInput(format!("--metrics-listen {addr}: expected IP:PORT")))?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| AppError::BadInput(format!("--metrics-listen {addr}: {e}")))?;
            tokio::spawn(serve(listener, metrics.clone()));
        }
        Ok(MetricsSink { metrics: Some(metrics), file: file.map(Path::to_path_buf) })
    }

    /// Counts an event.
    pub fn observe(&self, ev: &Event) {
        if let Some(m) = &self.metrics {
            if let Ok(m) = m.lock() {
                m.observe(ev);
            }
        }
    }

    /// Metrics of a watcher served at `listen` (or none).
    pub async fn start_watch(listen: Option<&str>) -> AppResult<Self> {
        let sink = Self::start(listen, None).await?;
        if let Some(m) = &sink.metrics {
            if let Ok(mut m) = m.lock() {
                m.enable_watch();
            }
        }
        Ok(sink)
    }

    /// Sets a watcher's gauges.
    pub fn watch_state(&self, st: &WatchState) {
        if let Some(Ok(m)) = self.metrics.as_ref().map(|m| m.lock()) {
            m.watch_state(st);
        }
    }

    /// Refreshes gauges; on `heartbeat`, rewrites the metrics file (atomically, by rename).
    pub fn refresh(&self, c: &Collector, elapsed: std::time::Duration, heartbeat: bool) {
        let Some(m) = &self.metrics else { return };
        let Ok(m) = m.lock() else { return };
        m.refresh(c, elapsed);
        if let (true, Some(path)) = (heartbeat, &self.file) {
            let tmp = path.with_extension("prom.tmp");
            if std::fs::write(&tmp, m.encode()).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Mutex<Metrics>>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = if path == "/metrics" {
                ("200 OK", metrics.lock().map(|m| m.encode()).unwrap_or_default())
            } else {
                ("404 Not Found", "try /metrics\n".to_string())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                sock.write_all(head.as_bytes()).await?;
                sock.write_all(body.as_bytes()).await?;
                sock.shutdown().await
            })
            .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::events::ProbeEvent;
    use crate::probe::{ErrorClass, Op, ProbeOutcome};

    #[test]
    fn probes_are_counted_by_outcome() {
        let m = Metrics::new();
        let clock = Clock::start();
        for outcome in [ProbeOutcome::Ok, ProbeOutcome::failed(ErrorClass::Timeout, Op::Set, "t")] {
            m.observe(&Event::Probe(ProbeEvent {
                stamp: clock.now(),
                source: String::new(),
                target: "slots 0".into(),
                seq: 0,
                node: None,
                set_ms: Some(1.5),
                get_ms: None,
                late_ms: 0.0,
                outcome,
            }));
        }
        let text = m.encode();
        assert!(text.contains(r#"rfp_probes_total{source="",target="slots 0",outcome="ok"} 1"#), "{text}");
        assert!(text.contains(r#"outcome="timeout"} 1"#), "{text}");
        assert!(text.contains("rfp_probe_latency_seconds_bucket"), "{text}");
    }
}
