//! Reading a new slot map and installing it: single-flight, from the sources direct or a habit names, and
//! the bookkeeping of an install (which shard it moved, the client event, the seeds a dynamic client keeps).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::cluster::Inner;
use super::habit::{self, refresh_delay, Consensus, Trigger};
use super::policy::{direct_candidates, Cause};
use super::pool::lock;
use crate::events::ClientEventKind;
use crate::topology::{self, Endpoint, Topology};

/// Who a refresh was asked for, beyond its cause.
#[derive(Default, Clone)]
pub(super) struct Asked {
    /// The node that answered the redirect behind it.
    pub(super) redirector: Option<Endpoint>,
    /// The node the redirect named.
    pub(super) redirect_target: Option<Endpoint>,
    /// direct: prefer a map that routes this slot off this failing node.
    pub(super) away: Option<(Endpoint, u16)>,
}

impl Inner {
    /// Reads a new map and installs it; single-flight. `seen` is the map generation the caller acted on: if
    /// another refresh installed a newer map meanwhile, that one is used. Returns whether a map was installed.
    pub(super) async fn refresh(&self, cause: Cause, seen: u64, asked: &Asked) -> bool {
        let r = &self.router;
        let _one_at_a_time = r.refreshing.lock().await;
        if r.generation() != seen {
            return true;
        }
        let known = r.known();
        let seeds = r.seeds();
        let failing = r.failing_nodes();
        let candidates = match &self.habit {
            Some(h) => {
                let view = habit::View {
                    redirector: asked.redirector.as_ref(),
                    redirect_target: asked.redirect_target.as_ref(),
                    previous_round_failed: self.round_failed.load(Ordering::SeqCst),
                    ..habit::View::of(&known, &failing, &seeds, self.roll())
                };
                habit::sources(h, &view)
            }
            None => direct_candidates(asked.redirector.as_ref(), &known, &seeds),
        };
        let consensus = self.habit.as_ref().map_or(Consensus::NewestEpoch, |h| h.refresh.consensus);
        let read = match consensus {
            Consensus::First => r.read_in_order(&candidates).await,
            Consensus::Majority => r.read_majority(&candidates).await,
            Consensus::NewestEpoch => r.read_all(&candidates, asked.away.as_ref().map(|(e, s)| (e, *s))).await,
        };
        match read {
            Some((map, from)) => {
                let from_seed = !known.contains(&from);
                self.round_failed.store(from_seed, Ordering::SeqCst);
                if let Some(h) = &self.habit {
                    r.set_seeds(habit::seeds_after_refresh(h, &seeds, &map.endpoints()));
                }
                self.install(map, &cause, &from, from_seed);
                true
            }
            None => {
                self.round_failed.store(true, Ordering::SeqCst);
                if let Some(h) = &self.habit {
                    // A client that defers a failed startup node asks it last next time.
                    let mut seeds = r.seeds();
                    for ep in &failing {
                        seeds = habit::seeds_after_failure(h, &seeds, ep);
                    }
                    r.set_seeds(seeds);
                }
                self.emit(
                    ClientEventKind::TopologyResyncFailed,
                    None,
                    format!(
                        "{}: none of {} node(s) returned a slot map",
                        cause.describe().replacen("refreshed", "refresh", 1),
                        candidates.len()
                    ),
                );
                false
            }
        }
    }

    fn install(&self, map: Topology, cause: &Cause, from: &Endpoint, from_seed: bool) {
        let at_ms = self.ms(Instant::now());
        let shards = map.shards.len();
        let old = self.router.install(map);
        if self.habit.as_ref().is_some_and(|h| h.connections.dead_node == super::habit::DeadNode::DropToRandom) {
            // A client that dropped dead nodes from its pool connects to every node of a new map again: the
            // next command finds out whether a node is still dead.
            lock(&self.router.failing).clear();
        }
        let changed = !topology::diff(&old, &self.router.map()).is_empty();
        {
            let how = cause.how(at_ms, from, from_seed);
            let mut book = lock(&self.book);
            for (slot, failed_at) in book.open() {
                if self.router.route(slot).as_ref() != Some(&failed_at) {
                    book.rerouted_by(slot, how.clone());
                }
            }
        }
        // direct refreshes on every failure, and habits may refresh on a timer: only a map that changed is
        // news, unless a failure asked for it.
        let news = changed || matches!(cause, Cause::Moved { .. } | Cause::ReconnectFailures { .. });
        if news {
            let seed = if from_seed { ", a seed" } else { "" };
            self.emit(
                ClientEventKind::TopologyResync,
                Some(from),
                format!("{} (map read from {from}{seed}, {shards} shard(s))", cause.describe()),
            );
        }
    }

    /// A refresh nobody waits for (direct after a timeout; a lazy habit).
    pub(super) fn refresh_in_background(self: &Arc<Self>, cause: Cause) {
        let inner = Arc::clone(self);
        let seen = self.router.generation();
        tokio::spawn(async move {
            if !inner.is_closed() {
                inner.refresh(cause, seen, &Asked::default()).await;
            }
        });
    }

    /// The refresh `trigger` asks for, as the habit makes it: the command waits the trigger's delay (ioredis's
    /// `retryDelayOnFailover`, redis-py's 0.25 s on CLUSTERDOWN), then waits for the refresh, unless the habit
    /// refreshes lazily (then it runs in the background and this returns at once).
    pub(super) async fn refresh_for(self: &Arc<Self>, trigger: Trigger, endpoint: Option<&Endpoint>, asked: Asked) {
        let failing_for = endpoint.and_then(|ep| self.failing_for(ep)).unwrap_or_default();
        let cause = Cause::of(trigger, endpoint, failing_for);
        let seen = self.router.generation();
        let delay = refresh_delay(&trigger);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.habit.as_ref().is_some_and(|h| h.refresh.lazy) {
            let inner = Arc::clone(self);
            tokio::spawn(async move {
                if !inner.is_closed() {
                    inner.refresh(cause, seen, &asked).await;
                }
            });
        } else {
            self.refresh(cause, seen, &asked).await;
        }
    }
}
