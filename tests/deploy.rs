//! What ships for leaving a watcher running: the alert rules (checked and unit-tested by Prometheus's own
//! `promtool`), the systemd unit (`systemd-analyze verify`) and the Kubernetes manifests; the command lines in
//! the unit and the Deployment are parsed by this binary's own flags, so they cannot drift from it.
//! `promtool` comes with Debian's `prometheus` package and `systemd-analyze` with `systemd`: scripts/test.sh
//! installs them; a test that cannot find one fails and says which package.

use std::path::Path;
use std::process::Command;

fn require(bin: &str, package: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file())).unwrap_or(false);
    assert!(found, "{bin} not found: apt-get install {package} (scripts/test.sh does)");
}

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

/// Parses `args` (without the program name) with the tool's own flags.
fn parses(args: &[String]) {
    let mut all = vec!["redis-failover-probe".to_string()];
    all.extend_from_slice(args);
    if let Err(e) = redis_failover_probe::cli::command().try_get_matches_from(&all) {
        panic!("{all:?} does not parse: {e}");
    }
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    require("promtool", "prometheus");
    let check = Command::new("promtool").arg("check").arg("rules").arg(examples().join("alerts.yml")).output().unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}{}", String::from_utf8_lossy(&check.stderr));
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");
    let test =
        Command::new("promtool").args(["test", "rules", "alerts.test.yml"]).current_dir(examples()).output().unwrap();
    let text = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "{text}{}", String::from_utf8_lossy(&test.stderr));
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_systemd_unit_verifies_and_its_command_line_parses() {
    require("systemd-analyze", "systemd");
    let unit = std::fs::read_to_string(examples().join("deploy/redis-failover-probe-watch.service")).unwrap();
    let exec = unit.split("ExecStart=").nth(1).expect("an ExecStart line");
    let exec: String = exec.split("\n# ").next().unwrap().replace("\\\n", " ");
    let words: Vec<String> = exec.split_whitespace().map(str::to_string).collect();
    assert_eq!(words[0], "/usr/local/bin/redis-failover-probe");
    parses(&words[1..]);
    // verify needs the binary and the environment file to exist: the built binary and an empty file stand in.
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("cache.env");
    std::fs::write(&env, "REDIS_URL=redis://127.0.0.1:6379\n").unwrap();
    let local = unit
        .replace("/usr/local/bin/redis-failover-probe", env!("CARGO_BIN_EXE_redis-failover-probe"))
        .replace("/etc/redis-failover-probe/cache.env", &env.display().to_string());
    let path = dir.path().join("redis-failover-probe-watch.service");
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let about_ours: Vec<&str> = err.lines().filter(|l| l.contains("redis-failover-probe-watch")).collect();
    assert!(out.status.success() && about_ours.is_empty(), "systemd-analyze verify: {err}");
}

#[test]
fn the_kubernetes_manifests_are_one_watcher_a_service_and_a_scrape() {
    let text = std::fs::read_to_string(examples().join("deploy/kubernetes.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("kubernetes.yml: {e}"));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap_or("?")).collect();
    assert_eq!(kinds, ["Secret", "Deployment", "Service", "ServiceMonitor"]);
    let deploy = &docs[1];
    assert_eq!(deploy["spec"]["replicas"].as_i64(), Some(1), "one watcher per cache");
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> =
        container["args"].as_vec().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    parses(&args);
    let port = container["ports"][0]["containerPort"].as_i64().unwrap();
    assert!(args.iter().any(|a| a.ends_with(&format!(":{port}"))), "the metrics port is the container's: {args:?}");
    assert_eq!(docs[2]["spec"]["ports"][0]["targetPort"].as_str(), Some("metrics"));
    assert_eq!(docs[3]["spec"]["endpoints"][0]["port"].as_str(), Some("metrics"));
}
