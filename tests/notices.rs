//! Maintenance-notice listeners over real sockets: the maint listener against a scripted RESP3 peer and against a
//! real redis-server 7.0 (which refuses the notices), and the Azure subscriber against a real redis-server.
//! The tests that start a server (one standalone node each) run as light tests of tests/support, with its binary (`RFP_REDIS_SERVER`).

mod support;

use std::net::TcpStream as StdStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fred::prelude::*;
use redis_failover_probe::clock::Clock;
use redis_failover_probe::connect::{command, Factory};
use redis_failover_probe::events::{Event, NoticeEvent};
use redis_failover_probe::mode::Mode;
use redis_failover_probe::notices::azure::{self, subscribe_azure_events, AzureKind, AzureNotice};
use redis_failover_probe::notices::maint::{listen_maint_notices, MaintError, MaintNotice, SlotMove};
use redis_failover_probe::secret::Secret;
use redis_failover_probe::settings::Target;
use redis_failover_probe::topology::{Endpoint, SlotRange};
use redis_protocol::resp3::decode::complete::decode;
use redis_protocol::resp3::encode::complete::encode;
use redis_protocol::resp3::types::{OwnedFrame, Resp3Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// A redis-server on a free port of 127.0.0.1, killed and reaped on drop. `RFP_REDIS_SERVER` overrides the binary
/// ([`support::redis_server_bin`]). Start it inside [`support::light`].
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start(extra: &[&str]) -> RedisServer {
        support::require_redis();
        let bin = support::redis_server_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log: PathBuf = dir.path().join("redis.log");
        let port_text = port.to_string();
        let mut args = vec!["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        args.extend_from_slice(extra);
        let child = Command::new(&bin)
            .args(&args)
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {bin:?} ({e}): these tests need redis-server 7.x on PATH (apt-get install \
                     redis-server) or RFP_REDIS_SERVER pointing at one"
                )
            });
        let mut server = RedisServer { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.answers() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "redis-server exited with {status} before answering on port {port}; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server did not answer PING on port {port} within 10 s; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    // Any reply proves the server is up (with requirepass it is a NOAUTH error).
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = StdStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 64];
        s.write_all(b"PING\r\n").is_ok() && matches!(s.read(&mut buf), Ok(n) if n > 0)
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new("127.0.0.1", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target(ep: &Endpoint) -> Target {
    Target::local(vec![ep.clone()], Mode::Standalone)
}

async fn next_notice(rx: &mut UnboundedReceiver<Event>) -> NoticeEvent {
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        Ok(Some(Event::Notice(n))) => n,
        Ok(other) => panic!("expected a notice, got {other:?}"),
        Err(_) => panic!("no notice within 5 s"),
    }
}

// --- a scripted RESP3 peer ---

fn blob(text: &str) -> OwnedFrame {
    OwnedFrame::BlobString { data: text.as_bytes().to_vec(), attributes: None }
}

fn num(n: i64) -> OwnedFrame {
    OwnedFrame::Number { data: n, attributes: None }
}

fn arr(data: Vec<OwnedFrame>) -> OwnedFrame {
    OwnedFrame::Array { data, attributes: None }
}

fn push(data: Vec<OwnedFrame>) -> OwnedFrame {
    OwnedFrame::Push { data, attributes: None }
}

fn bytes_of(frame: &OwnedFrame) -> Vec<u8> {
    let mut out = vec![0u8; frame.encode_len(false)];
    let len = encode(&mut out, frame, false).expect("encodable");
    out.truncate(len);
    out
}

async fn read_command(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<String> {
    loop {
        if let Some((frame, used)) = decode(buf).expect("the listener sends RESP") {
            buf.drain(..used);
            let OwnedFrame::Array { data, .. } = frame else { panic!("a command is an array: {frame:?}") };
            return data.iter().map(|f| f.to_string().unwrap()).collect();
        }
        assert!(stream.read_buf(buf).await.unwrap() > 0, "listener hung up");
    }
}

/// The pushes the peer sends, each with the notice the listener must make of it.
fn script() -> Vec<(OwnedFrame, MaintNotice)> {
    let ep = |p| Endpoint::new("127.0.0.1", p);
    let moves = vec![
        SlotMove { endpoint: ep(7001), slots: vec![SlotRange::new(1, 100), SlotRange::single(200)] },
        SlotMove { endpoint: ep(7002), slots: vec![SlotRange::new(300, 400)] },
    ];
    vec![
        (
            push(vec![blob("MOVING"), num(1), num(15), blob("127.0.0.1:6390")]),
            MaintNotice::Moving { seq: 1, time_s: 15, endpoint: Some(ep(6390)) },
        ),
        (
            push(vec![blob("MOVING"), num(2), num(15), OwnedFrame::Null]),
            MaintNotice::Moving { seq: 2, time_s: 15, endpoint: None },
        ),
        (push(vec![blob("MIGRATING"), num(3), num(10)]), MaintNotice::Migrating { seq: 3, time_s: 10 }),
        (push(vec![blob("MIGRATED"), num(3)]), MaintNotice::Migrated { seq: 3 }),
        (push(vec![blob("FAILING_OVER"), num(4), num(5)]), MaintNotice::FailingOver { seq: 4, time_s: 5 }),
        (push(vec![blob("FAILED_OVER"), num(4)]), MaintNotice::FailedOver { seq: 4 }),
        (
            push(vec![blob("SMIGRATING"), num(5), blob("1-100,200")]),
            MaintNotice::Smigrating { seq: 5, slots: vec![SlotRange::new(1, 100), SlotRange::single(200)] },
        ),
        (
            push(vec![
                blob("SMIGRATED"),
                num(6),
                arr(vec![
                    arr(vec![blob("127.0.0.1:7001"), blob("1-100,200")]),
                    arr(vec![blob("127.0.0.1:7002"), blob("300-400")]),
                ]),
            ]),
            MaintNotice::Smigrated { seq: 6, moves: moves.clone() },
        ),
        (
            push(vec![
                blob("SMIGRATED"),
                num(7),
                blob("127.0.0.1:7001"),
                blob("1-100,200"),
                blob("127.0.0.1:7002"),
                blob("300-400"),
            ]),
            MaintNotice::Smigrated { seq: 7, moves },
        ),
    ]
}

#[tokio::test]
async fn scripted_peer_notices_arrive_parsed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = Endpoint::new("127.0.0.1", listener.local_addr().unwrap().port());
    let pushes: Vec<OwnedFrame> = script().into_iter().map(|(f, _)| f).collect();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let hello = read_command(&mut s, &mut buf).await;
        s.write_all(&bytes_of(&OwnedFrame::Map {
            data: [(blob("proto"), num(3))].into_iter().collect(),
            attributes: None,
        }))
        .await
        .unwrap();
        let on = read_command(&mut s, &mut buf).await;
        s.write_all(b"+OK\r\n").await.unwrap();
        for (i, frame) in pushes.iter().enumerate() {
            let bytes = bytes_of(frame);
            if i == 0 {
                // Split the first push so the listener must put a frame together from two reads.
                let (a, b) = bytes.split_at(bytes.len() / 2);
                s.write_all(a).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.write_all(b).await.unwrap();
            } else {
                s.write_all(&bytes).await.unwrap();
            }
        }
        // Hold the connection open until the test has read everything.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        (hello, on)
    });

    let mut t = target(&ep);
    t.password = Some(Secret::new("peer-secret-pw"));
    let (tx, mut rx) = unbounded_channel();
    let task = listen_maint_notices(&t, &ep, Clock::start(), tx).await.expect("the peer accepts the handshake");
    for (_, expected) in script() {
        let notice = next_notice(&mut rx).await;
        assert_eq!(notice.kind, "maint_notification");
        let got: MaintNotice = serde_json::from_value(notice.data.clone().expect("parsed")).unwrap();
        assert_eq!(got, expected, "{}", notice.detail);
        assert_eq!(notice.detail, format!("{ep}: {expected}"));
    }
    drop(rx);
    // The listener notices the closed channel and hangs up, which ends the peer.
    let (hello, on) =
        tokio::time::timeout(Duration::from_secs(5), peer).await.expect("listener closed its connection").unwrap();
    assert_eq!(hello, ["HELLO", "3", "AUTH", "default", "peer-secret-pw", "SETNAME", "redis-failover-probe"]);
    assert_eq!(on, ["CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"]);
    task.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_goes_away_leaves_a_warning() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = Endpoint::new("127.0.0.1", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        read_command(&mut s, &mut buf).await;
        s.write_all(b"+OK\r\n").await.unwrap();
        read_command(&mut s, &mut buf).await;
        s.write_all(b"+OK\r\n").await.unwrap();
        s.write_all(&bytes_of(&push(vec![blob("MIGRATED"), num(1)]))).await.unwrap();
    });
    let (tx, mut rx) = unbounded_channel();
    let task = listen_maint_notices(&target(&ep), &ep, Clock::start(), tx).await.unwrap();
    assert_eq!(next_notice(&mut rx).await.kind, "maint_notification");
    let warning = next_notice(&mut rx).await;
    assert_eq!(warning.kind, "warning");
    assert!(warning.detail.contains("closed the connection"), "{}", warning.detail);
    task.await.unwrap();
}

#[tokio::test]
async fn a_silent_peer_times_out_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = Endpoint::new("127.0.0.1", listener.local_addr().unwrap().port());
    let hold = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    });
    let mut t = target(&ep);
    t.timeout = Duration::from_millis(300);
    let (tx, _rx) = unbounded_channel();
    let started = Instant::now();
    let err = listen_maint_notices(&t, &ep, Clock::start(), tx).await.unwrap_err();
    assert!(matches!(err, MaintError::Timeout { step: "HELLO 3", .. }), "{err}");
    assert!(err.to_string().ends_with("no answer to HELLO 3 within 300ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    hold.abort();
}

#[tokio::test]
async fn tls_targets_are_not_listened_to() {
    let ep = Endpoint::new("127.0.0.1", 1);
    let mut t = target(&ep);
    t.tls = true;
    let (tx, _rx) = unbounded_channel();
    let err = listen_maint_notices(&t, &ep, Clock::start(), tx).await.unwrap_err();
    assert_eq!(err, MaintError::TlsUnsupported { endpoint: ep });
    assert!(err.to_string().contains("plaintext only"), "{err}");
}

#[test]
fn redis_7_0_refuses_maintenance_notices() {
    support::light(|| async { redis_7_0_refuses().await });
}

async fn redis_7_0_refuses() {
    let server = RedisServer::start(&["--requirepass", "real-secret-pw"]);
    let ep = server.endpoint();
    let mut t = target(&ep);
    t.password = Some(Secret::new("real-secret-pw"));
    let (tx, _rx) = unbounded_channel();
    let err = listen_maint_notices(&t, &ep, Clock::start(), tx.clone()).await.unwrap_err();
    let MaintError::Refused { endpoint, message } = &err else { panic!("expected Refused, got {err:?}") };
    assert_eq!(endpoint, &ep);
    assert!(message.to_lowercase().contains("unknown subcommand"), "{message}");
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("carrying on"), "{line}");

    // A wrong password is a HELLO refusal, not a notices refusal.
    t.password = Some(Secret::new("wrong-secret-pw"));
    let err = listen_maint_notices(&t, &ep, Clock::start(), tx).await.unwrap_err();
    assert!(matches!(&err, MaintError::Hello { message, .. } if message.contains("WRONGPASS")), "{err:?}");
}

#[test]
fn azure_notices_arrive_and_survive_a_reconnect() {
    support::light(|| async { azure_notices_survive_a_reconnect().await });
}

async fn azure_notices_survive_a_reconnect() {
    let server = RedisServer::start(&[]);
    let ep = server.endpoint();
    let factory = Factory::new(target(&ep)).unwrap();
    let (tx, mut rx) = unbounded_channel();
    let task = subscribe_azure_events(&factory, &ep, Clock::start(), tx).await.unwrap();
    let publisher = factory.node(&ep).await.unwrap();
    let message = "NotificationType|NodeMaintenanceStarting|StartTimeInUTC|2024-05-01T10:00:00|IsReplica|False|\
                   IPAddress|127.0.0.1|SSLPort|15000|NonSSLPort|13000";
    let _: i64 = publisher.publish(azure::AZURE_CHANNEL, message).await.unwrap();
    let notice = next_notice(&mut rx).await;
    assert_eq!(notice.kind, "azure_maintenance");
    let parsed: AzureNotice = serde_json::from_value(notice.data.unwrap()).unwrap();
    assert_eq!(parsed.kind, AzureKind::NodeMaintenanceStarting);
    assert_eq!(parsed.non_ssl_port, Some(13000));

    // Kill the subscriber's connection: fred reconnects and the task subscribes again.
    command(&publisher, &["CLIENT", "KILL", "TYPE", "pubsub"]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = command(&publisher, &["PUBSUB", "NUMSUB", azure::AZURE_CHANNEL]).await.unwrap();
        let subscribers = v.into_array().get(1).and_then(|n| n.as_i64()).unwrap_or(0);
        if subscribers == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no subscription again after the reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _: i64 = publisher.publish(azure::AZURE_CHANNEL, "NotificationType|NodeMaintenanceEnded").await.unwrap();
    let notice = next_notice(&mut rx).await;
    assert!(notice.detail.contains("NodeMaintenanceEnded"), "{}", notice.detail);

    // An unreadable message is still a notice, with the raw text.
    let _: i64 = publisher.publish(azure::AZURE_CHANNEL, "garbage").await.unwrap();
    let notice = next_notice(&mut rx).await;
    assert_eq!(notice.kind, "azure_maintenance");
    assert!(notice.data.is_none() && notice.detail.contains("garbage"), "{}", notice.detail);

    drop(rx);
    let _: i64 = publisher.publish(azure::AZURE_CHANNEL, "NotificationType|X").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task ends once the event channel is closed")
        .unwrap();
    publisher.quit().await.unwrap();
}
