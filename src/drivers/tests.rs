//! Drivers that misbehave: each ends in one [`AppError::Driver`] naming the driver, within bounded time, and
//! never leaves its process behind. The "drivers" are small shell scripts: what is tested is the tool's side.

use std::time::{Duration, Instant};

use tokio::process::Command;

use super::process::{Driver, NoAnswer};
use super::protocol::Request;
use crate::error::AppError;

const HELLO: &str = r#"{"hello":{"protocol":1,"library":"fake","version":"0.0.1","runtime":"sh"}}"#;

fn connect() -> Request {
    Request::Connect {
        seeds: vec!["127.0.0.1:1".into()],
        username: None,
        password: Some("s3cret".into()),
        tls: false,
        tls_ca: None,
        insecure: false,
        connect_timeout_ms: 100,
        ready_within_ms: 500,
        options: serde_json::json!({}),
    }
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

async fn start(script: &str) -> Result<Driver, AppError> {
    Driver::start("real:fake@0", sh(script), connect(), Duration::from_millis(500), None).await
}

fn message(r: Result<Driver, AppError>) -> String {
    match r {
        Ok(_) => panic!("the driver was accepted"),
        Err(AppError::Driver(m)) => m,
        Err(other) => panic!("not a driver error: {other}"),
    }
}

#[tokio::test]
async fn a_driver_that_exits_at_start_is_one_error_with_its_status_and_last_words() {
    let m = message(start("echo 'Error: Cannot find module ioredis' >&2; exit 3").await);
    assert!(m.starts_with("real:fake@0: at start: it exited with status 3"), "{m}");
    assert!(m.ends_with("it said: Error: Cannot find module ioredis"), "{m}");
    let missing =
        Driver::start("real:fake@0", Command::new("/nonexistent/node"), connect(), Duration::from_secs(1), None);
    let m = message(missing.await);
    assert_eq!(m, "real:fake@0: cannot start /nonexistent/node: not found");
}

#[tokio::test(start_paused = true)]
async fn a_driver_that_hangs_is_an_error_not_a_hang() {
    let started = Instant::now();
    let m = message(start("sleep 600").await);
    assert!(m.contains("printed nothing for 15s"), "{m}");
    // Paused time: the wait is the hello timeout, not the driver's sleep.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn a_driver_that_hangs_after_hello_fails_the_connect_in_time() {
    let started = Instant::now();
    let m = message(start(&format!("echo '{HELLO}'; sleep 600")).await);
    assert!(m.starts_with("real:fake@0: while connecting: it printed nothing for"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_driver_that_prints_garbage_is_named_with_what_it_printed() {
    let m = message(start("echo 'Debugger listening on ws://127.0.0.1:9229'; sleep 5").await);
    assert_eq!(m, "real:fake@0: at start: not protocol output: 'Debugger listening on ws://127.0.0.1:9229'");
    let m = message(start(r#"echo '{"hello":{"protocol":2,"library":"x","version":"1"}}'; sleep 5"#).await);
    assert!(m.contains("speaks protocol 2, this tool speaks 1"), "{m}");
    let m = message(start(&format!(r#"echo '{HELLO}'; read l; echo '{{"fatal":"ECONNREFUSED 127.0.0.1:1"}}'"#)).await);
    assert_eq!(m, "real:fake@0: could not connect: ECONNREFUSED 127.0.0.1:1");
}

/// A driver that answers the connect, then answers nothing: requests time out, and once it dies every
/// request says so at once, with the reason.
#[tokio::test]
async fn requests_time_out_and_a_driver_that_dies_mid_run_is_reported() {
    let script = format!(r#"echo '{HELLO}'; read l; echo '{{"ready":true}}'; read l; read l; echo 'oops'; sleep 5"#);
    let d = start(&script).await.expect("the driver starts");
    assert_eq!(d.hello.version, "0.0.1");
    let t = Duration::from_millis(200);
    let get = |id| Request::Get { id, key: "k".into(), timeout_ms: 200 };
    let started = Instant::now();
    assert!(matches!(d.call(t, get).await, Err(NoAnswer::Timeout(_))));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The second request makes it print garbage: the driver is dead from then on.
    let why = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = d.call(t, get).await;
        d.died().await
    })
    .await
    .expect("the death is noticed");
    assert_eq!(why, "real:fake@0: not protocol output: 'oops'");
    assert!(matches!(d.call(t, get).await, Err(NoAnswer::Gone(w)) if w == why));
    d.close().await;
}

#[tokio::test]
async fn a_dropped_driver_leaves_no_process_behind() {
    let pidfile = tempfile::NamedTempFile::new().unwrap();
    let path = pidfile.path().display().to_string();
    let script = format!(r#"echo $$ > {path}; echo '{HELLO}'; read l; echo '{{"ready":true}}'; sleep 600"#);
    let d = start(&script).await.expect("the driver starts");
    let pid: i32 = std::fs::read_to_string(&path).unwrap().trim().parse().unwrap();
    let alive = |pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(alive(pid));
    drop(d);
    let deadline = Instant::now() + Duration::from_secs(5);
    // A killed child stays a zombie until reaped; tokio reaps dropped children in the background.
    while alive(pid) && !is_zombie(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pid) || is_zombie(pid), "driver {pid} outlived its Driver");
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}
