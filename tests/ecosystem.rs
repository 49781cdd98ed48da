//! How the tool fits around it: incident reports (Markdown, SVG, HTML) of a real lab run, Prometheus metrics
//! scraped over plain TCP while a lab run lasts and written to a file, Entra-style tokens from a command refreshed
//! during a run, shell completions, the man page and the help text, and the example files a team copies (the
//! GitHub Actions job, the maintenance-window runbook). Heavy tests are serialised by `support::heavy`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use redis_failover_probe::connect::{self, Factory};
use redis_failover_probe::report::RunSummary;
use support::{bin, heavy, Background, Finished};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The three shards of a default lab cluster, as failover-recovery names its targets.
const CLUSTER_TARGETS: [&str; 3] = ["slots 0-5460", "slots 5461-10922", "slots 10923-16383"];

/// `failover-recovery` rehearsing kill-primary on a lab cluster, with `extra` flags, in the background.
fn kill_primary_rehearsal(at: &str, duration: &str, extra: &[&str]) -> Background {
    let mut cmd = support::bin_std();
    cmd.args(["--mode", "oss-cluster", "--output", "json", "failover-recovery", "--lab", "kill-primary"])
        .args(["--at", at, "--duration", duration, "--interval", "100ms"])
        .args(extra);
    Background::spawn(cmd)
}

async fn wait_for(run: Background, limit: Duration) -> Finished {
    tokio::task::spawn_blocking(move || run.wait(limit)).await.expect("the waiting thread")
}

fn summary_of(out: &Finished) -> RunSummary {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a RunSummary ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr))
}

fn target_names(s: &RunSummary) -> BTreeSet<String> {
    s.targets.iter().map(|t| t.name.clone()).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// --- Prometheus text exposition, parsed by hand (no parser crate is a dependency) ---

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The families (`# TYPE` lines: name and type) and the samples of an exposition.
#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, String>,
    samples: Vec<Sample>,
    eof: bool,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut out = Exposition::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if line == "# EOF" {
                out.eof = true;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
                out.families.insert(name.to_string(), kind.to_string());
            } else if line.starts_with('#') {
                continue;
            } else {
                out.samples.push(parse_sample(line));
            }
        }
        out
    }

    fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series(name)
            .find(|s| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
    }
}

/// `name{k="v",...} value` (labels optional), with `\\`, `\"` and `\n` escapes in label values.
fn parse_sample(line: &str) -> Sample {
    fn fail(line: &str) -> ! {
        panic!("bad sample line: {line}")
    }
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => fail(line),
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if chars.next() != Some('"') {
                fail(line);
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => fail(line),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => fail(line),
                }
            }
            labels.insert(key.trim_start_matches(',').to_string(), value);
            match chars.next() {
                Some(',') if chars.peek() == Some(&'}') => {
                    chars.next();
                    break;
                }
                Some(',') => continue,
                Some('}') => break,
                _ => fail(line),
            }
        }
    }
    let value_text: String = chars.collect();
    let value = match value_text.split_whitespace().next() {
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(v) => v.parse::<f64>().unwrap_or_else(|_| fail(line)),
        None => fail(line),
    };
    Sample { name: name.to_string(), labels, value }
}

/// GET /metrics over a plain TCP connection: (status line, headers, body).
async fn scrape(port: u16) -> Option<(String, String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut raw)).await.ok()?.ok()?;
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n")?;
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    Some((status.to_string(), headers.to_string(), body.to_string()))
}

/// Probe counters per target must only grow from one exposition to the next.
fn assert_counters_grow(before: &Exposition, after: &Exposition) {
    for s in before.series("rfp_probes_total") {
        let labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let now = after.value("rfp_probes_total", &labels).unwrap_or_else(|| panic!("{s:?} disappeared"));
        assert!(now >= s.value, "{s:?} went down to {now}");
    }
}

/// The histogram of one target and operation: cumulative buckets, +Inf equal to the count, a sane sum.
fn assert_sane_histogram(e: &Exposition, target: &str, op: &str) -> f64 {
    let labels = [("target", target), ("op", op)];
    let mut buckets: Vec<(f64, f64)> = e
        .series("rfp_probe_latency_seconds_bucket")
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| {
            let le = &s.labels["le"];
            (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() }, s.value)
        })
        .collect();
    assert!(buckets.len() >= 2, "{target}/{op}: buckets {buckets:?}");
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in buckets.windows(2) {
        assert!(w[0].1 <= w[1].1, "{target}/{op}: buckets not cumulative: {buckets:?}");
    }
    let count = e.value("rfp_probe_latency_seconds_count", &labels).expect("a _count");
    let sum = e.value("rfp_probe_latency_seconds_sum", &labels).expect("a _sum");
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count), "{target}/{op}");
    assert!(count > 0.0, "{target}/{op}: no observations");
    // Round trips on loopback: a mean between 10 µs and the 1 s timeout.
    let mean = sum / count;
    assert!((0.00001..1.0).contains(&mean), "{target}/{op}: mean latency {mean} s");
    count
}

/// kill-primary rehearsed with a Markdown report, metrics served over HTTP (scraped while the run lasts) and
/// written to a file. The report has every section and the lab's ground truth; the metrics carry every target's
/// probes by outcome, outage gauges and latency histograms, and agree with the JSON summary at the end.
#[test]
fn markdown_report_and_metrics_of_a_lab_run() {
    heavy(|| async {
        let tmp = tempfile::tempdir().unwrap();
        let report = tmp.path().join("incident.md");
        let metrics_file = tmp.path().join("rfp.prom");
        let port = support::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut run = kill_primary_rehearsal(
            "2s",
            "8s",
            &[
                "--report",
                report.to_str().unwrap(),
                "--metrics-listen",
                &listen,
                "--metrics-file",
                metrics_file.to_str().unwrap(),
            ],
        );
        // Scrape every 300 ms for as long as the run lasts (the listener is up before the lab starts).
        let mut scrapes: Vec<Exposition> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while run.running() && Instant::now() < deadline {
            if let Some((status, headers, body)) = scrape(port).await {
                assert_eq!(status, "HTTP/1.1 200 OK", "{headers}\n{body}");
                assert!(
                    headers.to_ascii_lowercase().contains("content-type: application/openmetrics-text"),
                    "{headers}"
                );
                let e = Exposition::parse(&body);
                assert!(e.eof, "an OpenMetrics exposition ends with # EOF:\n{body}");
                scrapes.push(e);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let out = wait_for(run, Duration::from_secs(30)).await;
        assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        assert_eq!(target_names(&s), CLUSTER_TARGETS.iter().map(|t| t.to_string()).collect());

        // Served while the run lasted, probes counted as they came.
        let with_probes: Vec<&Exposition> =
            scrapes.iter().filter(|e| e.series("rfp_probes_total").next().is_some()).collect();
        assert!(with_probes.len() >= 5, "{} scrapes with probes", with_probes.len());
        for pair in with_probes.windows(2) {
            assert_counters_grow(pair[0], pair[1]);
        }
        let last = with_probes.last().unwrap();
        for (name, kind) in
            [("rfp_probes", "counter"), ("rfp_target_down", "gauge"), ("rfp_probe_latency_seconds", "histogram")]
        {
            assert_eq!(last.families.get(name).map(String::as_str), Some(kind), "{:?}", last.families);
        }
        let classes: BTreeSet<String> = ["ok", "timeout", "connection_refused", "connection_closed", "moved", "ask"]
            .into_iter()
            .chain(["cluster_down", "read_only", "loading", "master_down", "auth", "no_perm", "try_again"])
            .chain(["wrong_value", "other"])
            .map(String::from)
            .collect();
        for e in &scrapes {
            for sample in e.series("rfp_probes_total") {
                assert!(classes.contains(&sample.labels["outcome"]), "{sample:?}");
                assert!(CLUSTER_TARGETS.contains(&sample.labels["target"].as_str()), "{sample:?}");
            }
            for sample in e.series("rfp_target_down") {
                assert!(sample.value == 0.0 || sample.value == 1.0, "{sample:?}");
            }
        }
        for target in CLUSTER_TARGETS {
            assert!(last.value("rfp_probes_total", &[("target", target), ("outcome", "ok")]).unwrap_or(0.0) > 0.0);
            assert!(last.value("rfp_target_down", &[("target", target)]).is_some(), "{target}: no rfp_target_down");
        }

        // The file after the run: the same families, and the final figures of the summary.
        let file = Exposition::parse(&read(&metrics_file));
        assert!(file.eof);
        assert_eq!(file.families, last.families, "the file and the endpoint expose the same families");
        for t in &s.targets {
            let name = t.name.as_str();
            let counted: f64 =
                file.series("rfp_probes_total").filter(|x| x.labels["target"] == name).map(|x| x.value).sum();
            assert_eq!(counted as u64, t.summary.probes, "{name}: probes in the file vs the summary");
            let ok = file.value("rfp_probes_total", &[("target", name), ("outcome", "ok")]).unwrap_or(0.0);
            assert_eq!(ok as u64, t.summary.ok, "{name}");
            assert_eq!(file.value("rfp_target_down", &[("target", name)]), Some(0.0), "{name} recovered");
            assert_eq!(file.value("rfp_outages", &[("target", name)]), Some(t.summary.outages as f64), "{name}");
            let sets = assert_sane_histogram(&file, name, "set");
            assert!(sets as u64 <= t.summary.probes);
            assert_sane_histogram(&file, name, "get");
        }
        assert_eq!(file.value("rfp_lab_events_total", &[("kind", "node_killed")]), Some(1.0));

        // The incident report: every section, in order, with the run's own figures.
        let md = read(&report);
        let sections = ["## Verdict", "## Summary", "## Timeline", "## Topology changes", "## Lab ground truth"];
        let positions: Vec<usize> =
            sections.iter().map(|h| md.find(&format!("\n{h}\n")).unwrap_or_else(|| panic!("no {h}:\n{md}"))).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "sections out of order:\n{md}");
        assert!(md.starts_with("# Failover probe report: failover-recovery"), "{md}");
        assert!(md.contains("**PASSED"), "{md}");
        let summary_part = &md[positions[1]..positions[2]];
        for t in &s.targets {
            let row = summary_part
                .lines()
                .find(|l| l.starts_with(&format!("| {} |", t.name)))
                .unwrap_or_else(|| panic!("no summary row for {}:\n{md}", t.name));
            assert!(row.contains(&format!("| {} |", t.summary.probes)), "{row}");
        }
        let truth = &md[positions[4]..];
        let lab = s.lab.as_ref().expect("the lab summary");
        assert!(truth.contains("`kill-primary`"), "{truth}");
        let g = lab.ground_truth_ms.expect("ground truth");
        assert!(truth.contains(&format!("writes stopped for {g}ms")), "{truth}");
        let killed = lab.report["old_primary"]["port"].as_u64().expect("the killed node");
        assert!(md.contains(&format!("127.0.0.1:{killed}")), "the killed node is named:\n{md}");
    });
}

fn svg_rows(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML ({e}):\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("row"))
        .map(|n| n.attribute("data-target").unwrap_or_default().to_string())
        .collect()
}

/// The same rehearsal as an SVG timeline (XML, one `<g class="row">` per target) and as an HTML page (the
/// picture and the summary table).
#[test]
fn svg_and_html_reports_of_a_lab_run() {
    heavy(|| async {
        let tmp = tempfile::tempdir().unwrap();
        let svg_path = tmp.path().join("timeline.svg");
        let run = kill_primary_rehearsal("2s", "8s", &["--report", svg_path.to_str().unwrap()]);
        let out = wait_for(run, Duration::from_secs(60)).await;
        assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        let rows = svg_rows(&read(&svg_path));
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows.into_iter().collect::<BTreeSet<_>>(), target_names(&s));

        let html_path = tmp.path().join("page.HTML");
        let run = kill_primary_rehearsal("1s", "4s", &["--report", html_path.to_str().unwrap()]);
        let out = wait_for(run, Duration::from_secs(60)).await;
        assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        let html = read(&html_path);
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert_eq!(html.matches("<svg").count(), 1, "one picture");
        let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap() + "</svg>".len()];
        assert_eq!(svg_rows(svg).into_iter().collect::<BTreeSet<_>>(), target_names(&s));
        let body = &html[html.find("<tbody>").expect("a summary table")..html.find("</tbody>").unwrap()];
        assert_eq!(body.matches("<tr>").count(), 3, "{body}");
        for t in &s.targets {
            assert!(body.contains(&format!("<td>{}</td>", t.name)), "{body}");
        }
    });
}

/// A bad `--report` is refused before anything starts: exit 2, one line, no lab (TMPDIR, where a lab would put
/// its processes' directory, stays empty) and no time spent.
#[test]
fn a_bad_report_path_fails_before_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let lab_tmp = tmp.path().join("tmp");
    std::fs::create_dir(&lab_tmp).unwrap();
    let unwritable = tmp.path().join("no").join("such").join("dir").join("report.md");
    for (path, says) in [
        (tmp.path().join("report.txt"), "unsupported file type"),
        (tmp.path().join("report"), "unsupported file type"),
        (unwritable, "cannot write the report"),
    ] {
        let started = Instant::now();
        let out = bin()
            .args(["--mode", "oss-cluster", "failover-recovery", "--lab", "kill-primary", "--at", "2s"])
            .args(["--duration", "8s", "--interval", "100ms", "--report"])
            .arg(&path)
            .env("TMPDIR", &lab_tmp)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(says) && err.contains(path.to_str().unwrap()), "{err}");
        assert!(out.stdout.is_empty());
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert_eq!(std::fs::read_dir(&lab_tmp).unwrap().count(), 0, "a lab was started for {}", path.display());
        assert!(!path.exists() || path.extension().is_some_and(|e| e == "md"), "{} was created", path.display());
    }
}

/// The replies of `ACL LOG` on `ep`, each as its field map.
async fn acl_log(ep: &redis_failover_probe::topology::Endpoint, factory: &Factory) -> Vec<BTreeMap<String, String>> {
    let c = factory.node(ep).await.unwrap();
    let v = connect::command(&c, &["ACL", "LOG"]).await.unwrap();
    connect::quit(&c).await;
    v.into_array()
        .into_iter()
        .map(|entry| {
            let fields: Vec<String> =
                entry.into_array().into_iter().map(|f| f.as_string().unwrap_or_default()).collect();
            fields.chunks(2).filter(|p| p.len() == 2).map(|p| (p[0].clone(), p[1].clone())).collect()
        })
        .collect()
}

/// Entra ID style: the password is a token a command prints, and the command is run again every
/// `--password-refresh` while connections re-authenticate. An ACL user accepts two tokens and the command
/// alternates between them; every probe succeeds, the command ran again during the run, and no token is ever
/// printed or written.
#[test]
fn tokens_from_a_command_are_refreshed_and_never_shown() {
    heavy(|| async {
        let lab = support::start_standalone().await;
        let ep = lab.seeds()[0].clone();
        let (tok_a, tok_b) = ("entra-tokA-5b1e9c27d4", "entra-tokB-83f0a6e2c9");
        support::admin_ok(&lab, &ep, &["ACL", "SETUSER", "probe", "on", &format!(">{tok_a}"), &format!(">{tok_b}")])
            .await;
        support::admin_ok(&lab, &ep, &["ACL", "SETUSER", "probe", "~rfp:*", "+@all"]).await;
        let tmp = tempfile::tempdir().unwrap();
        let counter = tmp.path().join("runs");
        let script = tmp.path().join("token.sh");
        std::fs::write(
            &script,
            format!(
                "echo run >> '{c}'\nn=$(wc -l < '{c}')\nif [ $((n % 2)) -eq 1 ]; then echo {tok_a}; else echo {tok_b}; fi\n",
                c = counter.display()
            ),
        )
        .unwrap();
        let events = tmp.path().join("events.jsonl");
        let mut cmd = support::bin_std();
        cmd.args(["--url", &format!("redis://{ep}"), "--mode", "standalone", "--user", "probe"])
            .args(["--password-command", &format!("sh '{}'", script.display()), "--password-refresh", "1s"])
            .args(["--output", "json", "failover-recovery", "--duration", "5s", "--interval", "100ms", "--events"])
            .arg(&events);
        let out = wait_for(Background::spawn(cmd), Duration::from_secs(60)).await;
        let log = acl_log(&ep, &Factory::new(lab.target()).unwrap()).await;
        lab.shutdown().await;

        assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
        let s = summary_of(&out);
        assert!(s.overall.probes >= 45, "{:?}", s.overall);
        assert_eq!(s.overall.failures, 0, "{:?}", s.overall);
        for t in &s.targets {
            assert_eq!(t.summary.ok, t.summary.probes, "{}: {:?}", t.name, t.summary.failures_by_class);
        }
        let runs = read(&counter).lines().count();
        assert!(runs > 1, "the token command ran {runs} time(s) in 5 s with a 1 s refresh");
        // Both tokens were handed out, and the server refused none of the AUTHs made with them.
        let refused: Vec<_> = log.iter().filter(|e| e.get("reason").map(String::as_str) == Some("auth")).collect();
        assert!(refused.is_empty(), "refused AUTHs: {refused:?}");
        let written = read(&events);
        assert!(written.lines().count() as u64 >= s.overall.probes);
        for tok in [tok_a, tok_b] {
            for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr), ("events file", &written)] {
                assert!(!text.contains(tok), "{tok} in {what}");
            }
        }
    });
}

fn text_of(out: &std::process::Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

/// The subcommand names listed under `Commands:` in `--help` (clap's own `help` left out), for the binary or for
/// a subcommand given as `prefix`.
fn subcommands(prefix: &[&str]) -> Vec<String> {
    let help = text_of(&bin().args(prefix).arg("--help").output().unwrap());
    let list = help.split("\nCommands:\n").nth(1).unwrap_or_else(|| panic!("no Commands: section:\n{help}"));
    list.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let text = text_of(&bin().args(["completions", shell]).output().unwrap());
        assert!(text.len() > 1000, "{shell}: {} bytes", text.len());
        for word in ["redis-failover-probe", "failover-recovery", "monitor", "oss-cluster"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
    let man = text_of(&bin().arg("man").output().unwrap());
    assert!(man.starts_with(".ie") || man.contains("\n.TH "), "roff:\n{}", &man[..man.len().min(300)]);
    assert!(man.contains(".TH redis-failover-probe"), "{}", &man[..man.len().min(300)]);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(man.contains(section), "man page lacks {section}");
    }
}

#[test]
fn every_subcommand_help_has_an_example() {
    let names = subcommands(&[]);
    for expected in ["status", "failover-recovery", "compare", "monitor", "lab", "completions", "man"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    for name in &names {
        let help = text_of(&bin().args([name.as_str(), "--help"]).output().unwrap());
        assert!(help.contains("Example"), "`{name} --help` has no example:\n{help}");
        assert!(help.contains(&format!("redis-failover-probe {name}")), "`{name} --help` example:\n{help}");
    }
}

#[test]
fn every_lab_subcommand_help_has_an_example() {
    let names = subcommands(&["lab"]);
    assert_eq!(names, ["up", "status", "run", "down", "bench"]);
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| !text_of(&bin().args(["lab", name.as_str(), "--help"]).output().unwrap()).contains("Example"))
        .collect();
    assert!(missing.is_empty(), "`lab SUBCOMMAND --help` without an example: {missing:?}");
}

#[test]
fn version_names_the_fred_version() {
    let lock: toml::Value = toml::from_str(&read(&Path::new(ROOT).join("Cargo.lock"))).unwrap();
    let fred = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("fred"))
        .and_then(|p| p["version"].as_str())
        .expect("fred in Cargo.lock")
        .to_string();
    let version = text_of(&bin().arg("--version").output().unwrap());
    assert_eq!(version.trim(), format!("redis-failover-probe {} (fred {fred})", env!("CARGO_PKG_VERSION")));
    // Every subcommand says the same (propagated).
    let sub = text_of(&bin().args(["monitor", "--version"]).output().unwrap());
    assert!(sub.contains(&format!("(fred {fred})")), "{sub}");
}

/// Global flags that take a value, from the `Options:` section of `--help` (`--mode <MODE>`).
fn global_flags_with_values() -> BTreeSet<String> {
    let help = text_of(&bin().arg("--help").output().unwrap());
    let options = help.split("\nOptions:\n").nth(1).expect("an Options: section");
    options
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (flag, rest) = l.split_once(' ')?;
            (flag.starts_with("--") && rest.starts_with('<')).then(|| flag.to_string())
        })
        .collect()
}

/// Every `redis-failover-probe ...` invocation in shell text, continuation lines joined, as words.
fn invocations(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if *w == "redis-failover-probe" {
                let rest = words[i..].iter().take_while(|w| !["|", "||", "&&", ";", ">", "2>"].contains(*w));
                out.push(rest.map(|w| w.to_string()).collect());
            }
        }
    }
    out
}

/// The subcommand of an invocation: the first word after the global flags (and their values).
fn subcommand_of(words: &[String], valued: &BTreeSet<String>) -> Option<String> {
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        if let Some(flag) = w.strip_prefix("--") {
            if !flag.contains('=') && valued.contains(w) {
                it.next();
            }
        } else {
            return Some(w.clone());
        }
    }
    None
}

#[test]
fn the_ci_smoke_job_parses_and_names_real_subcommands() {
    let text = read(&Path::new(ROOT).join("examples/ci-smoke.yml"));
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("ci-smoke.yml: {e}"));
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert!(doc["name"].as_str().is_some(), "a workflow name");
    let jobs = doc["jobs"].as_hash().expect("jobs");
    assert_eq!(jobs.len(), 1, "one job");
    let job = jobs.values().next().unwrap();
    assert!(job["runs-on"].as_str().is_some_and(|r| r.starts_with("ubuntu")), "an Ubuntu runner (apt-get)");
    let steps = job["steps"].as_vec().expect("steps");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.len() >= 4, "{runs:?}");
    let all = runs.join("\n");

    let install = runs.iter().find(|r| r.contains("apt-get install")).expect("an apt-get install step");
    assert!(install.contains("redis-server") && install.contains("haproxy"), "{install}");
    assert!(runs.iter().any(|r| r.contains("cargo build")), "a cargo build step");
    let build_at = runs.iter().position(|r| r.contains("cargo build")).unwrap();
    let first_use = runs.iter().position(|r| r.contains("redis-failover-probe")).unwrap();
    assert!(build_at < first_use, "built before it is used");

    let valued = global_flags_with_values();
    assert!(valued.contains("--mode") && valued.contains("--url"), "{valued:?}");
    let real = subcommands(&[]);
    let calls = invocations(&all);
    let mut named = BTreeSet::new();
    for words in &calls {
        // The exact flags the job passes are accepted by the real command line definition.
        let parsed = <redis_failover_probe::cli::Cli as clap::Parser>::try_parse_from(words);
        match parsed {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayVersion) => {}
            Err(e) => panic!("{}: {e}", words.join(" ")),
        }
        if let Some(sub) = subcommand_of(words, &valued) {
            assert!(real.contains(&sub), "`{sub}` is no subcommand of redis-failover-probe ({real:?})");
            named.insert(sub);
        }
    }
    assert_eq!(named, ["compare", "failover-recovery"].into_iter().map(String::from).collect());
    let flat = all.replace("\\\n", " ").split_whitespace().collect::<Vec<_>>().join(" ");
    for rehearsal in [
        "redis-failover-probe compare --lab kill-primary --expect moved-only=fail",
        "redis-failover-probe --mode oss-cluster failover-recovery --lab replace-node --max-outage 5s",
    ] {
        assert!(flat.contains(rehearsal), "the job does not run `{rehearsal}`");
    }
}

#[test]
fn the_maintenance_window_runbook_is_valid_bash() {
    let path = Path::new(ROOT).join("examples/maintenance-window.sh");
    let out = std::process::Command::new("bash").arg("-n").arg(&path).output().expect("bash");
    assert!(out.status.success(), "bash -n: {}", String::from_utf8_lossy(&out.stderr));
    // Its subcommands (after the `"${rfp[@]}"` array holding the binary and profile) exist.
    let real = subcommands(&[]);
    let script = read(&path);
    let used: BTreeSet<&str> =
        script.split("\"${rfp[@]}\" ").skip(1).filter_map(|rest| rest.split_whitespace().next()).collect();
    assert!(used.contains("failover-recovery"), "{used:?}");
    for sub in used {
        assert!(real.iter().any(|r| r == sub), "`{sub}` is no subcommand");
    }
}

#[test]
fn clients_lists_every_preset_with_its_source_and_shows_one_with_overrides() {
    let out = bin().args(["clients", "--output", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: redis_failover_probe::commands::clients::PresetList = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list.presets.iter().map(|p| p.name.as_str()).collect();
    for expected in
        ["node-redis@4", "node-redis@6", "ioredis@5", "redis-py@8", "go-redis@9.22", "lettuce@7", "redis-rs@1.6"]
    {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(list.presets.iter().all(|p| p.source.contains(" @ ")), "every preset names its tag");
    assert!(list.aliases.contains(&("moved-only".to_string(), "node-redis@4".to_string())));

    let out = bin().args(["clients", "show", "lettuce@6,periodic=60s", "--output", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let detail: redis_failover_probe::commands::clients::PresetDetail = serde_json::from_slice(&out.stdout).unwrap();
    assert!(detail.rules.iter().any(|(k, v)| k == "periodically" && v.contains("60s")), "{:?}", detail.rules);

    let out = bin().args(["clients", "show", "nope@1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text_of_stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown client preset 'nope@1'") && err.contains("lettuce@6"), "{err}");
}

fn text_of_stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
