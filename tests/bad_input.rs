//! The bad-input table of the README, row by row: one clear line on stderr, the documented exit code, no
//! panic, no backtrace, nothing on stdout, and never longer than the timeout allows.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

/// Runs the binary and checks the one-line error contract; returns stderr.
fn fails(args: &[&str], code: i32, needle: &str) -> String {
    let started = Instant::now();
    let out = support::bin().args(args).timeout(Duration::from_secs(20)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(started.elapsed() < Duration::from_secs(8), "{args:?} took {:?}", started.elapsed());
    err
}

#[test]
fn urls_durations_files_and_profiles() {
    fails(&["--url", "redis://127.0.0.1:70000", "status"], 2, "invalid port number");
    fails(&["--url", "memcached://127.0.0.1:11211", "status"], 2, "unknown URL scheme");
    fails(&["--url", "redis://no-such-host.invalid:6379", "status"], 3, "cannot resolve");
    for d in ["0", "-5", "soon", "-1s"] {
        fails(&["failover-recovery", "--duration", d], 2, "--duration");
    }
    fails(&["failover-recovery", "--duration", "2s", "--interval", "5s"], 2, "longer than --duration");
    fails(&["failover-recovery", "--interval", "1ms"], 2, "below the 10ms minimum");
    fails(&["failover-recovery", "--events", "/nonexistent-dir/x.jsonl"], 2, "cannot write the events file");
    fails(&["failover-recovery", "--report", "/nonexistent-dir/x.md"], 2, "/nonexistent-dir/x.md");
    fails(&["failover-recovery", "--report", "/tmp/x.pdf"], 2, "unsupported file type");
    fails(&["monitor", "--duration", "1s", "--interval", "5s"], 2, "longer than --duration");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profiles.toml");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(b"[profiles.PROD]\nurl = \"rediss://x:10000\"\nmode = \"clustered\"\n")
        .unwrap();
    let f = file.to_str().unwrap();
    let err = fails(&["--profiles-file", f, "--profile", "PROD", "status"], 2, "line 3");
    assert!(err.contains("clustered") && err.contains("profiles.toml"), "{err}");
    std::fs::write(&file, "[profiles.PROD]\nurl = \"rediss://x:10000\"\naccess_key_env = \"RFP_TEST_UNSET_KEY\"\n")
        .unwrap();
    fails(&["--profiles-file", f, "--profile", "STAG", "status"], 2, "unknown profile 'STAG'");
    fails(&["--profiles-file", f, "--profile", "PROD", "status"], 2, "RFP_TEST_UNSET_KEY");
}

#[test]
fn endpoints_that_refuse_hang_or_never_answer() {
    support::light(|| async {
        let lab = support::start_standalone().await;
        let port = lab.seeds()[0].port;
        let url = format!("redis://127.0.0.1:{port}");
        // Connection refused.
        fails(&["--url", &format!("redis://127.0.0.1:{}", support::free_port()), "status"], 3, "connection refused");
        // A listener that never accepts: bounded by --timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent = format!("redis://{}", listener.local_addr().unwrap());
        let started = Instant::now();
        fails(&["--url", &silent, "--timeout", "500ms", "status"], 3, "did not answer");
        assert!(started.elapsed() < Duration::from_secs(4), "bounded by the timeout: {:?}", started.elapsed());
        // A SIGSTOPped server: same.
        let pid = nix::unistd::Pid::from_raw(lab.pids()[0] as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        let started = Instant::now();
        fails(&["--url", &url, "--timeout", "500ms", "status"], 3, "did not answer");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
        // Output piped into a reader that goes away: ends quietly.
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("redis-failover-probe"))
            .args(["--url", &url, "test-keys", "--count", "200"])
            .env_remove("REDIS_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(0), "a closed pipe is not an error: {:?} {err}", out.status);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    });
}

#[test]
fn client_presets_and_the_matrix() {
    fails(&["failover-recovery", "--client", "nope@1"], 2, "unknown client 'nope@1'");
    fails(&["failover-recovery", "--client", "lettuce@6,periodic=soon"], 2, "periodic");
    fails(&["failover-recovery", "--client", "fred,periodic=1s"], 2, "takes no parameters");
    fails(&["compare", "--target", "x=redis://127.0.0.1:1,client=jedis"], 2, "unknown client 'jedis'");
    fails(&["matrix"], 2, "--lab");
    fails(&["matrix", "--lab", "kill-primary", "--clients", "periodic=1s"], 2, "comes before any client");
    fails(&["matrix", "--lab", "kill-primary", "--clients", "lettuce@9"], 2, "unknown client 'lettuce@9'");
    fails(&["matrix", "--lab", "kill-primary", "--expect", "ioredis@5=maybe"], 2, "is not pass or fail");
    fails(&["matrix", "--lab", "kill-primary", "--report", "/tmp/matrix.txt"], 2, "give FILE.md or FILE.json");
    fails(&["matrix", "--lab", "kill-primary", "--at", "20s", "--duration", "10s"], 2, "--at 20s");
}
