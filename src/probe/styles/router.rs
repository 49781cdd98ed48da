//! The routing state of a client style: the slot map, the per-node connections, which nodes are failing, and
//! how a new map is read (one node after another, or every candidate at once).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::pool::{lock, NodePool};
use crate::connect::Factory;
use crate::duration::human;
use crate::errfmt::fred_error;
use crate::error::{AppError, AppResult};
use crate::inspect;
use crate::topology::{Endpoint, SlotRange, Topology};

/// How long a parallel refresh waits, after its first answer, for one that routes the failing slot elsewhere.
/// How many nodes a majority read asks.
const MAJORITY_OF: usize = 3;

const GRACE: Duration = Duration::from_millis(50);

/// Slot map, per-node connections, node health.
pub(super) struct Router {
    pub(super) pool: Arc<NodePool>,
    seeds: Mutex<Vec<Endpoint>>,
    /// Bound of each node asked during a refresh.
    pub(super) ask_timeout: Duration,
    map: RwLock<Topology>,
    /// Bumped at each installed map, so operations that queued for a refresh can tell one happened.
    generation: AtomicU64,
    pub(super) refreshing: tokio::sync::Mutex<()>,
    /// Single slots pointed at the node a MOVED named, until the next map (redis-py's slot patching).
    patches: Mutex<HashMap<u16, Endpoint>>,
    pub(super) failing: Mutex<HashMap<Endpoint, Failing>>,
}

/// A node failing since `since`, with no answer in between.
pub(super) struct Failing {
    pub(super) since: Instant,
    pub(super) stuck_reported: bool,
    /// Its connection was seen down (not only a command timing out).
    pub(super) disconnected: bool,
}

impl Failing {
    pub(super) fn new(since: Instant) -> Self {
        Failing { since, stuck_reported: false, disconnected: false }
    }
}

impl Router {
    /// Loads the map from the seeds, in order, over direct connections.
    pub(super) async fn connect(factory: Arc<Factory>) -> AppResult<Router> {
        let seeds = factory.target().seeds.clone();
        let ask_timeout = factory.target().timeout;
        let pool = NodePool::new(factory);
        let mut last = None;
        for seed in &seeds {
            match initial_map(&pool, seed, ask_timeout).await {
                Ok(map) => {
                    return Ok(Router {
                        pool,
                        seeds: Mutex::new(seeds),
                        ask_timeout,
                        patches: Mutex::new(HashMap::new()),
                        map: RwLock::new(map),
                        generation: AtomicU64::new(0),
                        refreshing: tokio::sync::Mutex::new(()),
                        failing: Mutex::new(HashMap::new()),
                    })
                }
                Err(e @ (AppError::Auth(_) | AppError::WrongMode(_) | AppError::BadInput(_))) => {
                    pool.close().await;
                    return Err(e);
                }
                Err(e) => last = Some(e),
            }
        }
        pool.close().await;
        Err(last.unwrap_or_else(|| AppError::BadInput("no seed endpoint given".into())))
    }

    pub(super) fn route(&self, slot: u16) -> Option<Endpoint> {
        if let Some(ep) = lock(&self.patches).get(&slot) {
            return Some(ep.clone());
        }
        read(&self.map).primary_for_slot(slot).map(|n| n.endpoint.clone())
    }

    /// Points `slot` at `to` until the next map is installed.
    pub(super) fn patch_slot(&self, slot: u16, to: &Endpoint) {
        lock(&self.patches).insert(slot, to.clone());
    }

    /// Every node of the shard that owns `slot`, primary first.
    pub(super) fn shard_nodes(&self, slot: u16) -> Vec<Endpoint> {
        read(&self.map)
            .shard_for_slot(slot)
            .map(|s| s.nodes().map(|n| n.endpoint.clone()).collect())
            .unwrap_or_default()
    }

    /// The seeds as the client holds them now.
    pub(super) fn seeds(&self) -> Vec<Endpoint> {
        lock(&self.seeds).clone()
    }

    /// Replaces the seeds (a client with dynamic startup nodes).
    pub(super) fn set_seeds(&self, seeds: Vec<Endpoint>) {
        *lock(&self.seeds) = seeds;
    }

    pub(super) fn shard_slots(&self, slot: u16) -> Vec<SlotRange> {
        read(&self.map).shard_for_slot(slot).map(|s| s.slots.clone()).unwrap_or_default()
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(super) fn map(&self) -> Topology {
        read(&self.map).clone()
    }

    pub(super) fn known(&self) -> Vec<Endpoint> {
        read(&self.map).endpoints()
    }

    /// The primaries of the current map, one per shard.
    pub(super) fn primaries(&self) -> Vec<Endpoint> {
        read(&self.map).shards.iter().map(|s| s.primary.endpoint.clone()).collect()
    }

    pub(super) fn failing_nodes(&self) -> BTreeSet<Endpoint> {
        lock(&self.failing).keys().cloned().collect()
    }

    /// Installs `map` and returns the one it replaced; connections to nodes that left it (and are no seeds)
    /// are closed, as cluster clients do.
    pub(super) fn install(&self, map: Topology) -> Topology {
        let mut keep: BTreeSet<Endpoint> = map.endpoints().into_iter().collect();
        keep.extend(self.seeds());
        let old = std::mem::replace(&mut *write(&self.map), map);
        lock(&self.patches).clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.pool.retain(&keep);
        lock(&self.failing).retain(|ep, _| keep.contains(ep));
        old
    }

    /// Asks the first `MAJORITY_OF` of `candidates` at once (each bounded) and installs the routing most of
    /// the answers agree on; ties go to the earlier candidate (valkey-glide's majority view).
    pub(super) async fn read_majority(&self, candidates: &[Endpoint]) -> Option<(Topology, Endpoint)> {
        let mut asks = JoinSet::new();
        for (i, ep) in candidates.iter().take(MAJORITY_OF).enumerate() {
            let (pool, ep, bound) = (Arc::clone(&self.pool), ep.clone(), self.ask_timeout);
            asks.spawn(async move { ask(&pool, &ep, bound).await.map(|m| (i, m, ep)) });
        }
        let mut answers = Vec::new();
        while let Some(done) = asks.join_next().await {
            if let Ok(Some(answer)) = done {
                answers.push(answer);
            }
        }
        answers.sort_by_key(|(i, _, _)| *i);
        let routing = |m: &Topology| -> Vec<(Vec<SlotRange>, Endpoint)> {
            m.shards.iter().map(|s| (s.slots.clone(), s.primary.endpoint.clone())).collect()
        };
        let votes: Vec<usize> = answers
            .iter()
            .map(|(_, m, _)| answers.iter().filter(|(_, o, _)| routing(o) == routing(m)).count())
            .collect();
        let best = votes.iter().copied().max()?;
        let winner = votes.iter().position(|v| *v == best)?;
        answers.into_iter().nth(winner).map(|(_, m, ep)| (m, ep))
    }

    /// Asks `candidates` one after another; the first map with slots wins.
    pub(super) async fn read_in_order(&self, candidates: &[Endpoint]) -> Option<(Topology, Endpoint)> {
        for ep in candidates {
            if let Some(map) = ask(&self.pool, ep, self.ask_timeout).await {
                return Some((map, ep.clone()));
            }
        }
        None
    }

    /// Asks every candidate at once and waits for every answer, or [`GRACE`] after the first. Of the maps that
    /// came back, the one with the newest cluster epoch wins (a node that was hung and just resumed still
    /// serves the map from before the failover it missed), then one that routes `away.1` to a node other than
    /// `away.0`, then the first.
    pub(super) async fn read_all(
        &self,
        candidates: &[Endpoint],
        away: Option<(&Endpoint, u16)>,
    ) -> Option<(Topology, Endpoint)> {
        let mut asks = JoinSet::new();
        for ep in candidates {
            let (pool, ep, bound) = (Arc::clone(&self.pool), ep.clone(), self.ask_timeout);
            asks.spawn(async move { ask(&pool, &ep, bound).await.map(|m| (m, ep)) });
        }
        let mut answers: Vec<(Topology, Endpoint)> = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, asks.join_next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => asks.join_next().await,
            };
            let Some(done) = next else { break };
            let Ok(Some(answer)) = done else { continue };
            answers.push(answer);
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + GRACE);
        }
        asks.abort_all();
        best_map(answers, away)
    }
}

/// The newest of several maps: highest `cluster_current_epoch`, then one that routes `away.1` off `away.0`,
/// then the earliest answer.
fn best_map(answers: Vec<(Topology, Endpoint)>, away: Option<(&Endpoint, u16)>) -> Option<(Topology, Endpoint)> {
    let rank = |map: &Topology| {
        let epoch = map.info.as_ref().map(|i| i.current_epoch).unwrap_or(0);
        let moved_away =
            away.is_some_and(|(failed, slot)| map.primary_for_slot(slot).is_some_and(|n| n.endpoint != *failed));
        (epoch, moved_away)
    };
    let mut best: Option<(Topology, Endpoint)> = None;
    for answer in answers {
        if best.as_ref().is_none_or(|(b, _)| rank(&answer.0) > rank(b)) {
            best = Some(answer);
        }
    }
    best
}

/// One node's slot map, bounded; `None` when it has none to give in time.
async fn ask(pool: &Arc<NodePool>, ep: &Endpoint, bound: Duration) -> Option<Topology> {
    let read = async {
        let client = pool.get(ep).await.ok()?;
        inspect::read_topology(&client).await.ok()
    };
    match tokio::time::timeout(bound, read).await {
        Ok(Some((map, _))) if map.covered_slots() > 0 => Some(map),
        _ => None,
    }
}

async fn initial_map(pool: &Arc<NodePool>, seed: &Endpoint, bound: Duration) -> AppResult<Topology> {
    let client = pool.get(seed).await?;
    match tokio::time::timeout(bound * 3, inspect::read_topology(&client)).await {
        Ok(Ok((map, _))) if map.covered_slots() > 0 => Ok(map),
        Ok(Ok(_)) => Err(AppError::Connect(format!("{seed} reports no slots: is the cluster set up?"))),
        Ok(Err(e)) if e.details().to_ascii_lowercase().contains("cluster support disabled") => {
            Err(AppError::WrongMode(format!(
                "{seed} is not a cluster node (cluster support disabled): client styles emulate cluster clients"
            )))
        }
        Ok(Err(e)) => Err(AppError::Connect(format!("reading the slot map from {seed} failed: {}", fred_error(&e)))),
        Err(_) => {
            Err(AppError::Connect(format!("{seed} did not answer CLUSTER SHARDS/SLOTS within {}", human(bound * 3))))
        }
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
