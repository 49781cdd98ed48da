//! Shared fixtures of the integration tests: real labs (no mocks), one heavy test at a time on the whole machine,
//! and the binary with a clean environment.
//!
//! Heavy tests (anything that starts a cluster, replicas, Sentinel or HAProxy) run through [`heavy`], which holds
//! [`heavy_lock`] for the whole test: two cores cannot start several clusters at once without timing out. Light
//! tests (one standalone server, no replica) run through [`light`], without the lock, beside a heavy test; nextest
//! runs them in parallel with the heavy group (`.config/nextest.toml` names the light binaries). The `start_*` fixtures do NOT take the
//! lock themselves (a lock held across `.await` would have to be async); call them inside [`heavy`].

#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use redis_failover_probe::clock::Clock;
use redis_failover_probe::lab::{Lab, LabOptions, TopologyKind};

static IN_PROCESS: Mutex<()> = Mutex::new(());

/// Serialises heavy tests across the threads of one test binary (a static mutex) and across test binaries (an
/// flock on a file in the temp dir). Dropping it releases both.
pub struct HeavyGuard {
    _flock: Flock<File>,
    _mutex: MutexGuard<'static, ()>,
}

/// Takes the heavy-test lock, waiting as long as another heavy test runs.
pub fn heavy_lock() -> HeavyGuard {
    // A test that panicked while holding the mutex poisons it; the lock itself is still good.
    let mutex = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::temp_dir().join("redis-failover-probe-heavy-tests.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let flock = Flock::lock(file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("cannot lock {}: {e}", path.display()));
    HeavyGuard { _flock: flock, _mutex: mutex }
}

/// A multi-threaded runtime like the binary's.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Runs an async heavy test body under [`heavy_lock`], after checking that redis-server is installed.
pub fn heavy<F, Fut>(body: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    require_redis();
    let _guard = heavy_lock();
    let rt = runtime();
    let out = rt.block_on(body());
    rt.shutdown_timeout(Duration::from_millis(500));
    out
}

/// Runs an async light test body (one standalone server of its own, nothing with a node timeout) after checking
/// that redis-server is installed, without the heavy lock: it can run beside a heavy test.
pub fn light<F, Fut>(body: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    require_redis();
    let rt = runtime();
    let out = rt.block_on(body());
    rt.shutdown_timeout(Duration::from_millis(500));
    out
}

fn on_path(env: &str, name: &str) -> bool {
    if let Some(v) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return std::path::Path::new(&v).is_file();
    }
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false)
}

/// Fails the test (never skips it) when redis-server is missing.
pub fn require_redis() {
    if !on_path("RFP_REDIS_SERVER", "redis-server") {
        panic!("redis-server not found: apt-get install redis-server");
    }
}

/// The redis-server binary the tool itself would use: `RFP_REDIS_SERVER` when set, else `redis-server` on PATH.
/// For the few tests that start servers of their own; call [`require_redis`] first.
pub fn redis_server_bin() -> std::ffi::OsString {
    std::env::var_os(redis_failover_probe::lab::REDIS_SERVER_ENV)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis-server".into())
}

/// Fails the test when haproxy is missing.
pub fn require_haproxy() {
    if !on_path("RFP_HAPROXY", "haproxy") {
        panic!("haproxy not found: apt-get install haproxy");
    }
}

/// A ready cluster of `primaries` × `replicas`. Call inside [`heavy`].
pub async fn start_cluster(primaries: usize, replicas: usize) -> Lab {
    let opts = LabOptions { primaries, replicas, ..LabOptions::default() };
    Lab::start(TopologyKind::Cluster, &opts, Clock::start(), None)
        .await
        .unwrap_or_else(|e| panic!("cluster lab did not start: {e}"))
}

/// A ready standalone node without replicas. Call inside [`heavy`].
pub async fn start_standalone() -> Lab {
    start_standalone_with(0).await
}

/// A ready standalone primary with `replicas` replicas. Call inside [`heavy`].
pub async fn start_standalone_with(replicas: usize) -> Lab {
    let opts = LabOptions { replicas, ..LabOptions::default() };
    Lab::start(TopologyKind::Standalone, &opts, Clock::start(), None)
        .await
        .unwrap_or_else(|e| panic!("standalone lab did not start: {e}"))
}

/// A ready enterprise lab (HAProxy, Sentinel, a primary and one replica). Call inside [`heavy`].
pub async fn start_enterprise() -> Lab {
    require_haproxy();
    Lab::start(TopologyKind::Enterprise, &LabOptions::default(), Clock::start(), None)
        .await
        .unwrap_or_else(|e| panic!("enterprise lab did not start: {e}"))
}

/// Variables that would point the binary at a real cache; every test run of the binary removes them.
const TARGET_ENV: [&str; 8] = [
    "REDIS_URL",
    "REDIS_MODE",
    "PROFILE",
    "REDIS_ACCESS_KEY",
    "REDIS_USERNAME",
    "REDIS_PASSWORD_COMMAND",
    "USE_CLUSTER",
    "HEALTH_CHECK_INTERVAL",
];

/// The binary, with every variable that would point it at a real cache removed.
pub fn bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("redis-failover-probe").expect("binary built");
    for var in TARGET_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Stops a detached lab on drop if its state file is still there (the test failed before `lab down`): every pid
/// of the file whose working dir lies in the lab dir gets SIGKILL, and the dir is removed.
pub struct DetachedLabGuard(pub std::path::PathBuf);

impl Drop for DetachedLabGuard {
    fn drop(&mut self) {
        let Ok(state) = redis_failover_probe::lab::LabState::read(&self.0) else {
            return;
        };
        if redis_failover_probe::lab::keeper::alive(&state) {
            let pid = state.keeper_pid.unwrap_or(0) as i32;
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        for pid in state.pids() {
            let in_lab =
                std::fs::read_link(format!("/proc/{pid}/cwd")).map(|cwd| cwd.starts_with(&state.dir)).unwrap_or(false);
            if in_lab {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&state.dir);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A 127.0.0.1 port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Sends one command to a lab node with redis-cli semantics checked: the reply must be OK.
pub async fn admin_ok(lab: &Lab, endpoint: &redis_failover_probe::topology::Endpoint, parts: &[&str]) {
    let factory = redis_failover_probe::connect::Factory::new(lab.target()).expect("factory");
    let client = factory.node(endpoint).await.unwrap_or_else(|e| panic!("connect {endpoint}: {e}"));
    let reply = redis_failover_probe::connect::command(&client, parts).await;
    redis_failover_probe::connect::quit(&client).await;
    match reply {
        Ok(v) if v.as_str().as_deref() == Some("OK") => {}
        other => panic!("{parts:?} on {endpoint}: expected OK, got {other:?}"),
    }
}

/// Makes a standalone lab node require `password` (CONFIG SET requirepass).
pub async fn set_password(lab: &Lab, password: &str) {
    admin_ok(lab, &lab.seeds()[0], &["CONFIG", "SET", "requirepass", password]).await;
}

/// Runs the binary with `args` (which should include `--output json`), bounded by `limit`, and returns the
/// parsed JSON document and the exit code; panics with stdout and stderr when stdout is not the document.
pub fn run_json<T: serde::de::DeserializeOwned>(args: &[&str], limit: Duration) -> (T, i32) {
    let out = bin().args(args).timeout(limit).output().expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: T = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{args:?}: not the documented JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (doc, out.status.code().unwrap_or(-1))
}

/// The binary as a plain `std::process::Command` (for runs in the background), environment cleaned as in [`bin`].
pub fn bin_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_redis-failover-probe"));
    for var in TARGET_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// What a finished run of the binary left.
#[derive(Debug)]
pub struct Finished {
    /// Its exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

/// The binary running in the background while a test drives a lab. Its stdout and stderr are drained by threads
/// from the start, so a chatty run never blocks on a full pipe; dropping it kills and reaps the process.
pub struct Background {
    child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// When it was started.
    pub started: std::time::Instant,
}

fn drain(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl Background {
    /// Starts `cmd` with stdout and stderr captured and no stdin.
    pub fn spawn(mut cmd: std::process::Command) -> Background {
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Background { child, stdout, stderr, started: std::time::Instant::now() }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (what Ctrl-C or a service manager sends) and waits for the end.
    pub fn terminate(self, limit: Duration) -> Finished {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.wait(limit)
    }

    /// Waits for it to end by itself, at most `limit` (then it is killed and the test fails).
    pub fn wait(mut self, limit: Duration) -> Finished {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
                    panic!("the binary did not end within {limit:?}; its stderr:\n{stderr}");
                }
                Err(e) => panic!("waiting for the binary: {e}"),
            }
        };
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        Finished { code: status.code(), stdout, stderr }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The run failed with exit 3 and exactly one line on stderr (nothing on stdout); returns that line.
pub fn one_line_exit_3(what: &str, out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{what}: exit code; stderr:\n{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line on stderr:\n{err}");
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
    err.trim_end().to_string()
}
