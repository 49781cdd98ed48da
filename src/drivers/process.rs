//! A driver process: started with its stdin and stdout piped, it says hello, connects the library's client and
//! then answers requests. Every wait on it is bounded: a driver that exits, hangs or prints something that is
//! not the protocol is one [`AppError::Driver`] naming it, and a request it does not answer in time is a
//! timeout. The child is killed when the [`Driver`] is dropped, and exits by itself when its stdin closes
//! (the tool ended, however it ended).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc::UnboundedSender, oneshot, watch};

use super::protocol::{self, Answer, Hello, Line, Request, PROTOCOL};
use crate::clock::Clock;
use crate::error::AppError;
use crate::events::{ClientEvent, Event};

/// How long a driver may take to print its hello line (node and python start in well under a second).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// Extra time a request gets over its own timeout before the tool stops waiting (the driver's timer fires
/// first when it works).
const MARGIN: Duration = Duration::from_millis(250);

/// Where a driver's library events go.
#[derive(Clone)]
pub struct EventSink {
    /// The run's event channel.
    pub tx: UnboundedSender<Event>,
    /// The source name (compare, matrix), empty otherwise.
    pub source: String,
    /// The run's clock.
    pub clock: Clock,
}

/// A running driver.
pub struct Driver {
    /// `real:ioredis@5`: how errors name it.
    pub name: String,
    /// What it said of itself.
    pub hello: Hello,
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>,
    next_id: AtomicU64,
    dead: watch::Receiver<Option<String>>,
    child: Mutex<Option<Child>>,
    reader: tokio::task::JoinHandle<()>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum NoAnswer {
    /// Not within its timeout plus a margin.
    Timeout(Duration),
    /// The driver is gone: the reason.
    Gone(String),
}

impl Driver {
    /// Starts `cmd`, waits for its hello and asks it to `connect`; `connect_wait` bounds the connection.
    pub async fn start(
        name: &str,
        mut cmd: Command,
        connect: Request,
        connect_wait: Duration,
        events: Option<EventSink>,
    ) -> Result<Driver, AppError> {
        let program = cmd.as_std().get_program().to_string_lossy().into_owned();
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "not found".to_string(),
                _ => e.to_string(),
            };
            AppError::Driver(format!("{name}: cannot start {program}: {why}"))
        })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut tail_task = tokio::spawn(keep_tail(stderr, Arc::clone(&tail)));
        let mut lines = BufReader::new(stdout).lines();
        let fail = |child: &mut Child, what: String| {
            let _ = child.start_kill();
            AppError::Driver(format!("{name}: {what}{}", last_words(&tail)))
        };
        let hello = match next_line(&mut lines, HELLO_TIMEOUT).await {
            Ok(Line::Hello(h)) => h,
            Ok(Line::Fatal(why)) => return Err(fail(&mut child, format!("could not start: {why}"))),
            Ok(other) => return Err(fail(&mut child, format!("expected a hello line, got {}", other.kind()))),
            Err(why) => {
                let why = exited(&mut child, why).await;
                // Its last words come on stderr, read by another task: they are whole once stderr closes.
                let _ = tokio::time::timeout(Duration::from_millis(500), &mut tail_task).await;
                return Err(fail(&mut child, format!("at start: {why}")));
            }
        };
        if hello.protocol != PROTOCOL {
            let what = format!("speaks protocol {}, this tool speaks {PROTOCOL}", hello.protocol);
            return Err(fail(&mut child, what));
        }
        let (dead_tx, dead) = watch::channel(None);
        let mut driver = Driver {
            name: name.to_string(),
            hello,
            stdin: tokio::sync::Mutex::new(stdin),
            pending: Arc::default(),
            next_id: AtomicU64::new(1),
            dead,
            child: Mutex::new(None),
            reader: tokio::spawn(async {}),
        };
        if let Err(why) = driver.send(&connect, connect_wait).await {
            return Err(fail(&mut child, format!("while connecting: {why}")));
        }
        let deadline = Instant::now() + connect_wait + MARGIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match next_line(&mut lines, left).await {
                Ok(Line::Ready) => break,
                Ok(Line::Fatal(why)) => return Err(fail(&mut child, format!("could not connect: {why}"))),
                Ok(Line::Event(e)) => forward(&events, &driver.name, e),
                Ok(other) => return Err(fail(&mut child, format!("expected ready, got {}", other.kind()))),
                Err(why) => {
                    let why = exited(&mut child, why).await;
                    let _ = tokio::time::timeout(Duration::from_millis(500), &mut tail_task).await;
                    return Err(fail(&mut child, format!("while connecting: {why}")));
                }
            }
        }
        driver.reader = tokio::spawn(read_answers(
            lines,
            Arc::clone(&driver.pending),
            dead_tx,
            events,
            driver.name.clone(),
            Arc::clone(&tail),
        ));
        *driver.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        Ok(driver)
    }

    /// Sends a request built from a fresh id and waits for its answer, at most `timeout` plus a margin.
    pub async fn call(&self, timeout: Duration, build: impl FnOnce(u64) -> Request) -> Result<Answer, NoAnswer> {
        if let Some(why) = self.death() {
            return Err(NoAnswer::Gone(why));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        let forget = || self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        let bound = timeout + MARGIN;
        if let Err(why) = self.send(&build(id), bound).await {
            forget();
            return Err(NoAnswer::Gone(why));
        }
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(NoAnswer::Gone(self.death().unwrap_or_else(|| "the driver stopped".into()))),
            Err(_) => {
                forget();
                Err(NoAnswer::Timeout(bound))
            }
        }
    }

    /// Why the driver is gone, once it is.
    pub fn death(&self) -> Option<String> {
        self.dead.borrow().clone()
    }

    /// Resolves with the reason when the driver dies (never, while it works).
    pub async fn died(&self) -> String {
        let mut dead = self.dead.clone();
        loop {
            if let Some(why) = dead.borrow_and_update().clone() {
                return why;
            }
            if dead.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Asks the driver to quit, waits up to 2 s, then kills it.
    pub async fn close(&self) {
        let _ = self.send(&Request::Quit, Duration::from_millis(500)).await;
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = child {
            if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        self.reader.abort();
    }

    async fn send(&self, req: &Request, bound: Duration) -> Result<(), String> {
        let mut line = serde_json::to_string(req).map_err(|e| e.to_string())?;
        line.push('\n');
        let write = async {
            let mut stdin = self.stdin.lock().await;
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        };
        match tokio::time::timeout(bound, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.death().unwrap_or_else(|| format!("its stdin closed ({e})"))),
            Err(_) => Err("it stopped reading its stdin".into()),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(child) = self.child.get_mut().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = child.start_kill();
        }
    }
}

type Lines = tokio::io::Lines<BufReader<ChildStdout>>;

/// The next protocol line, within `wait`.
async fn next_line(lines: &mut Lines, wait: Duration) -> Result<Line, String> {
    match tokio::time::timeout(wait, lines.next_line()).await {
        Ok(Ok(Some(line))) => protocol::parse_line(&line),
        Ok(Ok(None)) => Err("it exited".into()),
        Ok(Err(e)) => Err(format!("its output could not be read ({e})")),
        Err(_) => Err(format!("it printed nothing for {}", humantime::format_duration(wait))),
    }
}

/// `why`, with the exit status when the child has exited (waited for a moment: its stdout closes first).
async fn exited(child: &mut Child, why: String) -> String {
    if why != "it exited" {
        return why;
    }
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => match status.code() {
            Some(code) => format!("it exited with status {code}"),
            None => format!("it was ended by a signal ({status})"),
        },
        _ => why,
    }
}

/// Hands each answer to its waiter and forwards events; any other end marks the driver dead.
async fn read_answers(
    mut lines: Lines,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>,
    dead: watch::Sender<Option<String>>,
    events: Option<EventSink>,
    name: String,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let why = loop {
        match lines.next_line().await {
            Ok(Some(line)) => match protocol::parse_line(&line) {
                Ok(Line::Answer(a)) => {
                    let waiter = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&a.id);
                    if let Some(w) = waiter {
                        let _ = w.send(a);
                    }
                }
                Ok(Line::Event(e)) => forward(&events, &name, e),
                Ok(Line::Fatal(why)) => break format!("gave up: {why}"),
                Ok(other) => break format!("sent {} in the middle of a run", other.kind()),
                Err(why) => break why,
            },
            Ok(None) => break "exited in the middle of the run".to_string(),
            Err(e) => break format!("its output could not be read ({e})"),
        }
    };
    // Give stderr a moment to deliver the driver's last words.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = dead.send(Some(format!("{name}: {why}{}", last_words(&tail))));
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

fn forward(events: &Option<EventSink>, name: &str, e: protocol::LibraryEvent) {
    let (Some(sink), Some(kind)) = (events, protocol::event_kind(&e.event)) else { return };
    let detail = match (e.event.as_str(), e.detail.is_empty()) {
        ("node_added" | "node_removed", true) => format!("{name}: {}", e.event),
        ("node_added" | "node_removed", false) => format!("{name}: {} {}", e.event, e.detail.trim_start()),
        (_, true) => name.to_string(),
        _ => format!("{name}: {}", e.detail),
    };
    let ev = ClientEvent { stamp: sink.clock.now(), source: sink.source.clone(), kind, server: e.server, detail };
    let _ = sink.tx.send(Event::Client(ev));
}

/// Keeps the last lines of the driver's stderr, for the error that names it.
async fn keep_tail(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
        if !line.trim().is_empty() {
            t.push_back(line);
        }
        while t.len() > 5 {
            t.pop_front();
        }
    }
}

/// `; it said: LAST LINE` from the driver's stderr, when it said anything.
fn last_words(tail: &Mutex<VecDeque<String>>) -> String {
    let t = tail.lock().unwrap_or_else(|e| e.into_inner());
    match t.back() {
        Some(line) => format!("; it said: {}", protocol::quote(line).trim_matches('\'')),
        None => String::new(),
    }
}
