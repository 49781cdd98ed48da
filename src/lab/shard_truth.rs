//! Ground truth on every shard of a cluster lab during a scenario. Not only the shard the lab acts on loses
//! writes: while the cluster state is `fail` (a primary is marked failed and no replica has taken over yet) every
//! node answers CLUSTERDOWN for every slot, because `cluster-require-full-coverage` is yes. So each shard gets a
//! loop that SETs a key of its slots every ~10 ms, from just before the lab acts until the scenario has settled.
//!
//! The loop writes to the shard's owner: the node that took the shard's latest write. A MOVED is followed at once,
//! as a client does: the write goes to the node it names, and only if that one refuses too did the shard's writes
//! stop. A write the owner refuses (CLUSTERDOWN, an error, a timeout), or that has not been answered after
//! [`OVERDUE`], stops the shard's writes from the moment it was sent. While the owner is in doubt, every other known node whose ROLE is master is
//! tried as well (a MOVED reply names a node to add to them); the first OK from any node resumes the writes and
//! makes that node the owner. So a window is the time in which no write to the shard was seen to succeed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::{Client, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{local, GroundTruth, Lab, ScenarioStep, ShardTruth, POLL};
use crate::connect::{self, Factory};
use crate::error::{AppError, AppResult};
use crate::probe::styles::{parse_redirect, Redirect};

/// An owner's write that has not been answered after this long counts as refused from the moment it was sent
/// (a stopped node answers nothing), and the other nodes are tried. The probes' default timeout: a write that
/// is answered later than that failed for a client too; one answered sooner (a manual failover pauses writes
/// for a few hundred ms) was slow, not refused.
pub(crate) const OVERDUE: Duration = Duration::from_secs(1);

/// How long every shard has to take its first write before the lab acts.
const WARM_UP: Duration = Duration::from_secs(10);

/// An interval in which no write succeeded: from, to.
type Window = (Instant, Instant);

/// The intervals in which no write succeeded, from the writes' outcomes in the order they were seen.
#[derive(Debug, Default)]
pub(crate) struct Gaps {
    down_since: Option<Instant>,
    last_ok: Option<Instant>,
    windows: Vec<Window>,
}

impl Gaps {
    /// The owner refused (or did not answer) a write sent at `sent`.
    pub(crate) fn refused(&mut self, sent: Instant) {
        if self.down_since.is_none() {
            // Never before a write that was seen to succeed.
            self.down_since = Some(self.last_ok.map_or(sent, |ok| ok.max(sent)));
        }
    }

    /// A write was answered OK at `done`.
    pub(crate) fn accepted(&mut self, done: Instant) {
        if let Some(since) = self.down_since.take() {
            if done > since {
                self.windows.push((since, done));
            }
        }
        self.last_ok = Some(self.last_ok.map_or(done, |ok| ok.max(done)));
    }

    /// Whether writes are stopped now.
    #[cfg(test)]
    pub(crate) fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// Every window; one still open ends at `end`.
    pub(crate) fn finish(mut self, end: Instant) -> Vec<Window> {
        if let Some(since) = self.down_since.take() {
            self.windows.push((since, end.max(since)));
        }
        self.windows
    }
}

/// How a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Ok,
    /// MOVED to the node on this port.
    Moved(u16),
    Refused,
}

/// One write attempt, handed back with the client it used (so each node has one client, never shared).
struct Attempt {
    port: u16,
    sent: Instant,
    done: Instant,
    reply: Reply,
    client: Option<Client>,
}

/// The writer of one shard.
struct ShardLoop {
    factory: Factory,
    key: String,
    candidates: Vec<u16>,
    stop: Arc<AtomicBool>,
}

impl ShardLoop {
    async fn run(mut self, ready: oneshot::Sender<()>) -> Vec<Window> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Attempt>();
        let mut clients: HashMap<u16, Client> = HashMap::new();
        let mut in_flight: HashMap<u16, Instant> = HashMap::new();
        let mut owner: Option<u16> = None;
        let mut owner_refused = false;
        // A MOVED from the owner being followed: the port it named, and when the redirected write was first sent.
        let mut following: Option<(u16, Instant)> = None;
        let mut gaps = Gaps::default();
        let mut ready = Some(ready);
        let mut n: u64 = 0;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if self.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let mut doubt = owner.is_none() || owner_refused;
                    if let Some(port) = owner {
                        match in_flight.get(&port) {
                            None => {
                                n += 1;
                                self.launch(port, false, n, clients.remove(&port), &tx);
                                in_flight.insert(port, Instant::now());
                            }
                            Some(sent) if sent.elapsed() >= OVERDUE => {
                                gaps.refused(*sent);
                                doubt = true;
                            }
                            Some(_) => {}
                        }
                    }
                    if doubt {
                        let others: Vec<u16> = self
                            .candidates
                            .iter()
                            .copied()
                            .filter(|p| Some(*p) != owner && !in_flight.contains_key(p))
                            .collect();
                        for port in others {
                            n += 1;
                            self.launch(port, true, n, clients.remove(&port), &tx);
                            in_flight.insert(port, Instant::now());
                        }
                    }
                }
                Some(a) = rx.recv() => {
                    in_flight.remove(&a.port);
                    if let Some(c) = a.client {
                        clients.insert(a.port, c);
                    }
                    if let Reply::Moved(to) = a.reply {
                        self.learn(to);
                        if owner == Some(a.port) && !in_flight.contains_key(&to) {
                            n += 1;
                            self.launch(to, false, n, clients.remove(&to), &tx);
                            in_flight.insert(to, Instant::now());
                            following = Some((to, a.sent));
                            continue;
                        }
                    }
                    // The answer to a followed MOVED: the shard is down only if the named node refuses too.
                    if let Some((to, sent)) = following.filter(|(to, _)| *to == a.port) {
                        following = None;
                        match a.reply {
                            Reply::Ok => {
                                gaps.accepted(a.done);
                                owner = Some(to);
                                owner_refused = false;
                            }
                            _ => {
                                gaps.refused(sent);
                                owner_refused = true;
                            }
                        }
                        continue;
                    }
                    let current = owner;
                    let from_owner = current == Some(a.port);
                    let overdue = current
                        .and_then(|p| in_flight.get(&p))
                        .is_some_and(|sent| sent.elapsed() >= OVERDUE);
                    match a.reply {
                        Reply::Ok => {
                            gaps.accepted(a.done);
                            // Another node takes over only while the owner is in doubt: a stale primary that
                            // still took a write after it was replaced must not become the owner again.
                            if from_owner || current.is_none() || owner_refused || overdue {
                                owner = Some(a.port);
                                owner_refused = false;
                            }
                            if let Some(r) = ready.take() {
                                let _ = r.send(());
                            }
                        }
                        _ if from_owner => {
                            gaps.refused(a.sent);
                            owner_refused = true;
                        }
                        // Another node's refusal says nothing about the shard.
                        _ => {}
                    }
                }
            }
        }
        let end = Instant::now();
        for (_, c) in clients {
            connect::quit(&c).await;
        }
        gaps.finish(end)
    }

    fn learn(&mut self, port: u16) {
        if !self.candidates.contains(&port) {
            self.candidates.push(port);
        }
    }

    /// Sends one write to `port` in its own task; `check_role` asks ROLE first and writes only to a master.
    fn launch(&self, port: u16, check_role: bool, n: u64, client: Option<Client>, tx: &mpsc::UnboundedSender<Attempt>) {
        let factory = self.factory.clone();
        let key = self.key.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let client = match client {
                Some(c) => Some(c),
                None => factory.node(&local(port)).await.ok(),
            };
            let reply = match &client {
                Some(c) => write(c, port, &key, n, check_role).await,
                None => Reply::Refused,
            };
            let _ = tx.send(Attempt { port, sent, done: Instant::now(), reply, client });
        });
    }
}

async fn write(c: &Client, port: u16, key: &str, n: u64, check_role: bool) -> Reply {
    if check_role {
        let primary = match connect::command(c, &["ROLE"]).await {
            Ok(Value::Array(items)) => items.first().and_then(|v| v.as_string()).as_deref() == Some("master"),
            _ => false,
        };
        if !primary {
            return Reply::Refused;
        }
    }
    match connect::command(c, &["SET", key, &n.to_string(), "PX", "60000"]).await {
        Ok(v) if v.as_str().as_deref() == Some("OK") => Reply::Ok,
        Ok(_) => Reply::Refused,
        Err(e) => match parse_redirect(&e.to_string(), &local(port)) {
            Some(Redirect::Moved { to, .. }) => Reply::Moved(to.port),
            _ => Reply::Refused,
        },
    }
}

/// A running watch of every shard; dropping it stops the loops.
pub(crate) struct ShardWatch {
    shards: Vec<(String, JoinHandle<Vec<Window>>)>,
    stop: Arc<AtomicBool>,
}

impl Drop for ShardWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The key a shard's watcher writes: in `slot`, apart from the affected shard's own watch key.
fn shard_key(slot: u16) -> String {
    format!("rfp:lab:{{{}}}:s", crate::topology::tag_for_slot(slot))
}

impl Lab {
    /// Starts a writer on every shard (label, first slot), trying `ports` first, and returns once each shard has
    /// taken a write.
    pub(crate) async fn watch_every_shard(&self, shards: &[(String, u16)], ports: &[u16]) -> AppResult<ShardWatch> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut running = Vec::new();
        let mut readies = Vec::new();
        for (label, slot) in shards {
            let (tx, rx) = oneshot::channel();
            let shard = ShardLoop {
                factory: self.factory().clone(),
                key: shard_key(*slot),
                candidates: ports.to_vec(),
                stop: stop.clone(),
            };
            running.push((label.clone(), tokio::spawn(shard.run(tx))));
            readies.push((label.clone(), rx));
        }
        let watch = ShardWatch { shards: running, stop };
        for (label, rx) in readies {
            match tokio::time::timeout(WARM_UP, rx).await {
                Ok(Ok(())) => {}
                _ => return Err(AppError::Lab(format!("{label}: no node took a write before the scenario"))),
            }
        }
        Ok(watch)
    }

    /// Stops the watch and turns every shard's windows into its truth; a shard is affected when a step acted on
    /// it.
    pub(crate) async fn every_shard_truth(&self, mut watch: ShardWatch, steps: &[ScenarioStep]) -> Vec<ShardTruth> {
        watch.stop.store(true, Ordering::SeqCst);
        let shards = std::mem::take(&mut watch.shards);
        let mut out = Vec::with_capacity(shards.len());
        for (label, task) in shards {
            let windows = task.await.unwrap_or_default();
            let windows = windows
                .into_iter()
                .map(|(from, to)| {
                    let (s, r) = (self.stamp(from).offset_ms, self.stamp(to).offset_ms);
                    GroundTruth { write_stopped_ms: s, write_resumed_ms: r, unavailable_ms: r.saturating_sub(s) }
                })
                .collect();
            let affected = steps.iter().any(|s| s.shard == label);
            out.push(ShardTruth::from_windows(label, affected, windows));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_window_runs_from_the_first_refused_write_to_the_next_ok() {
        let t = Instant::now();
        let mut g = Gaps::default();
        g.accepted(at(t, 10));
        g.refused(at(t, 20));
        g.refused(at(t, 30));
        assert!(g.is_down());
        g.accepted(at(t, 900));
        g.accepted(at(t, 910));
        assert!(!g.is_down());
        assert_eq!(g.finish(at(t, 1000)), vec![(at(t, 20), at(t, 900))]);
    }

    #[test]
    fn no_refusal_no_window_and_an_open_one_ends_at_the_end() {
        let t = Instant::now();
        let mut g = Gaps::default();
        for ms in [10, 20, 30] {
            g.accepted(at(t, ms));
        }
        assert!(Gaps::default().finish(t).is_empty());
        assert!(g.finish(at(t, 40)).is_empty());
        let mut g = Gaps::default();
        g.accepted(at(t, 10));
        g.refused(at(t, 20));
        assert_eq!(g.finish(at(t, 500)), vec![(at(t, 20), at(t, 500))]);
    }

    #[test]
    fn a_window_never_starts_before_a_write_seen_to_succeed() {
        // A write sent at 5 ms fails after one sent later was answered at 15 ms: the window starts at 15 ms.
        let t = Instant::now();
        let mut g = Gaps::default();
        g.accepted(at(t, 15));
        g.refused(at(t, 5));
        g.accepted(at(t, 40));
        g.refused(at(t, 50));
        g.accepted(at(t, 70));
        assert_eq!(g.finish(at(t, 100)), vec![(at(t, 15), at(t, 40)), (at(t, 50), at(t, 70))]);
    }

    #[test]
    fn shard_truth_sums_its_windows() {
        let w = |s, r| GroundTruth { write_stopped_ms: s, write_resumed_ms: r, unavailable_ms: r - s };
        let t = ShardTruth::from_windows("slots 0-5460".into(), false, vec![w(100, 900), w(2000, 2010)]);
        assert_eq!((t.write_stopped_ms, t.write_resumed_ms, t.unavailable_ms), (Some(100), Some(2010), 810));
        let none = ShardTruth::from_windows("slots 0-5460".into(), true, vec![]);
        assert_eq!((none.write_stopped_ms, none.unavailable_ms, none.windows.len()), (None, 0, 0));
        assert_eq!(crate::topology::key_slot(shard_key(5461).as_bytes()), 5461);
    }
}
