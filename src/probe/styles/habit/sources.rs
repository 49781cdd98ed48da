//! Whom a [`Habit`]'s refresh asks, in which order ([`sources`]); what becomes of its seeds afterwards
//! ([`seeds_after_refresh`], [`seeds_after_failure`]); and where a command for a dead node's slot goes
//! ([`dead_node_route`]). Randomness (shuffled sources, a random node) comes from the caller's `seed`, so
//! the same seed gives the same order.

use std::collections::BTreeSet;

use super::{DeadNode, Failing, Habit, Order, SeedsWhen, Step};
use crate::topology::Endpoint;

/// What the client knows when it refreshes.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The node that answered the MOVED or ASK behind this refresh, if one did.
    pub redirector: Option<&'a Endpoint>,
    /// The node that MOVED named, if any.
    pub redirect_target: Option<&'a Endpoint>,
    /// The nodes of the current map.
    pub known: &'a [Endpoint],
    /// Nodes the map no longer names but whose connections the client kept (asked after `known` unless the
    /// habit forgets retired nodes).
    pub retired: &'a [Endpoint],
    /// Nodes failing now (connection errors or timeouts with no answer since).
    pub failing: &'a BTreeSet<Endpoint>,
    /// The seeds as the client holds them now (see [`seeds_after_refresh`]).
    pub seeds: &'a [Endpoint],
    /// The previous refresh got no answer from any known node.
    pub previous_round_failed: bool,
    /// Randomness for shuffled steps.
    pub seed: u64,
}

impl<'a> View<'a> {
    /// A view with nothing redirected, nothing retired, no failed round and shuffle seed `seed`.
    pub fn of(known: &'a [Endpoint], failing: &'a BTreeSet<Endpoint>, seeds: &'a [Endpoint], seed: u64) -> Self {
        View {
            redirector: None,
            redirect_target: None,
            known,
            retired: &[],
            failing,
            seeds,
            previous_round_failed: false,
            seed,
        }
    }
}

/// The nodes a refresh asks, in order, each once.
pub fn sources(habit: &Habit, view: &View<'_>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    let mut rng = SplitMix(view.seed);
    let push_all = |out: &mut Vec<Endpoint>, nodes: Vec<Endpoint>| {
        for ep in nodes {
            if !out.contains(&ep) {
                out.push(ep);
            }
        }
    };
    let no_connection_left = view.known.iter().all(|ep| view.failing.contains(ep));
    for step in &habit.refresh.sources {
        match *step {
            Step::Redirector => push_all(&mut out, view.redirector.cloned().into_iter().collect()),
            Step::RedirectTarget => push_all(&mut out, view.redirect_target.cloned().into_iter().collect()),
            Step::Known(order) => {
                let mut nodes = view.known.to_vec();
                if !habit.connections.forget_retired {
                    nodes.extend(view.retired.iter().cloned());
                }
                push_all(&mut out, arrange(nodes, order, view.failing, &mut rng));
            }
            Step::Seeds(order, when) => {
                let take = match when {
                    SeedsWhen::Always => true,
                    SeedsWhen::NoConnectionLeft => no_connection_left,
                    SeedsWhen::AfterFailedRound => view.previous_round_failed,
                };
                if take {
                    push_all(&mut out, arrange(view.seeds.to_vec(), order, view.failing, &mut rng));
                }
            }
        }
    }
    out
}

/// `nodes` in `order`: shuffled or as listed, failing ones kept, moved last or dropped.
fn arrange(mut nodes: Vec<Endpoint>, order: Order, failing: &BTreeSet<Endpoint>, rng: &mut SplitMix) -> Vec<Endpoint> {
    if order.shuffled {
        rng.shuffle(&mut nodes);
    }
    match order.failing {
        Failing::Include => nodes,
        Failing::Skip => nodes.into_iter().filter(|ep| !failing.contains(ep)).collect(),
        Failing::Last => {
            let (bad, mut good): (Vec<Endpoint>, Vec<Endpoint>) =
                nodes.into_iter().partition(|ep| failing.contains(ep));
            good.extend(bad);
            good
        }
    }
}

/// The seeds after a refresh that discovered `discovered`: replaced by them for a habit with dynamic seeds
/// (redis-py's `dynamic_startup_nodes=True`), else unchanged.
pub fn seeds_after_refresh(habit: &Habit, seeds: &[Endpoint], discovered: &[Endpoint]) -> Vec<Endpoint> {
    if habit.dynamic_seeds && !discovered.is_empty() {
        discovered.to_vec()
    } else {
        seeds.to_vec()
    }
}

/// The seeds after `failed` failed: a habit that defers a failed node asks it last next time (redis-py moves
/// it to the end of its startup nodes); the others keep their seeds as they are.
pub fn seeds_after_failure(habit: &Habit, seeds: &[Endpoint], failed: &Endpoint) -> Vec<Endpoint> {
    let defers = habit.refresh.sources.iter().any(|s| matches!(s, Step::Seeds(o, _) if o.failing == Failing::Last));
    if !defers || !seeds.contains(failed) {
        return seeds.to_vec();
    }
    let mut out: Vec<Endpoint> = seeds.iter().filter(|ep| *ep != failed).cloned().collect();
    out.push(failed.clone());
    out
}

/// Where a command for a slot whose owner broke its connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadRoute {
    /// To the owner, over the connection that is reconnecting.
    Owner(Endpoint),
    /// To this connected node of the owner's shard (a replica, or the promoted one).
    Shard(Endpoint),
    /// To this pooled node instead, picked at random; it answers MOVED.
    Random(Endpoint),
    /// Nowhere: the pool is empty (the client reconnects to its seeds).
    Nowhere,
}

/// Where `habit` sends a command for a slot owned by `owner`, whose connection broke, with `pool` the nodes
/// it still holds working connections to and `shard` the other nodes of the owner's shard.
pub fn dead_node_route(habit: &Habit, owner: &Endpoint, shard: &[Endpoint], pool: &[Endpoint], seed: u64) -> DeadRoute {
    let fallback = habit.connections.dead_node == DeadNode::ReconnectWithFallback;
    if let Some(peer) = shard.iter().find(|ep| fallback && *ep != owner && pool.contains(ep)) {
        return DeadRoute::Shard(peer.clone());
    }
    match habit.connections.dead_node {
        DeadNode::Reconnect => DeadRoute::Owner(owner.clone()),
        DeadNode::DropToRandom | DeadNode::ReconnectWithFallback => {
            let others: Vec<&Endpoint> = pool.iter().filter(|ep| *ep != owner).collect();
            if others.is_empty() {
                return DeadRoute::Nowhere;
            }
            let i = SplitMix(seed).below(others.len());
            DeadRoute::Random(others[i].clone())
        }
    }
}

/// splitmix64: small, deterministic, good enough to stand for a client's `Math.random`.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // The modulo bias is irrelevant for a handful of nodes.
        (self.next() % n.max(1) as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::styles::habit::preset;

    fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    fn view<'a>(known: &'a [Endpoint], failing: &'a BTreeSet<Endpoint>, seeds: &'a [Endpoint]) -> View<'a> {
        View::of(known, failing, seeds, 7)
    }

    #[test]
    fn node_redis_4_asks_the_redirector_then_the_root_nodes_only() {
        let h = preset("node-redis@4").unwrap();
        let (known, seeds) = ([ep(1), ep(2), ep(3)], [ep(9)]);
        let failing = BTreeSet::new();
        let mut v = view(&known, &failing, &seeds);
        let redirector = ep(2);
        v.redirector = Some(&redirector);
        assert_eq!(sources(&h, &v), [ep(2), ep(9)]);
    }

    #[test]
    fn node_redis_6_skips_reconnecting_nodes_and_ends_with_the_seeds() {
        let h = preset("node-redis@6").unwrap();
        let (known, seeds) = ([ep(1), ep(2), ep(3)], [ep(9), ep(1)]);
        let failing: BTreeSet<Endpoint> = [ep(2)].into_iter().collect();
        let got = sources(&h, &view(&known, &failing, &seeds));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(!got.contains(&ep(2)));
        assert_eq!(got.last(), Some(&ep(9)));
    }

    #[test]
    fn shuffles_are_permutations_and_repeatable() {
        let h = preset("ioredis@5").unwrap();
        let known: Vec<Endpoint> = (1..=6).map(ep).collect();
        let failing = BTreeSet::new();
        let a = sources(&h, &view(&known, &failing, &[]));
        let b = sources(&h, &view(&known, &failing, &[]));
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, known);
        let mut other = view(&known, &failing, &[]);
        other.seed = 8;
        assert_ne!(sources(&h, &other), a, "another seed, another order (for these two seeds)");
    }

    #[test]
    fn seeds_wait_for_their_condition() {
        let (known, seeds) = ([ep(1), ep(2)], [ep(9)]);
        let healthy = BTreeSet::new();
        let all_down: BTreeSet<Endpoint> = known.iter().cloned().collect();
        // ioredis, redis-rs and glide: the seeds only once no connection is left.
        for name in ["ioredis@5", "redis-rs@1.6", "glide@2"] {
            let h = preset(name).unwrap();
            assert!(!sources(&h, &view(&known, &healthy, &seeds)).contains(&ep(9)), "{name}");
            assert!(sources(&h, &view(&known, &all_down, &seeds)).contains(&ep(9)), "{name}");
        }
        // go-redis: after a round in which no known node answered.
        let h = preset("go-redis@9.22").unwrap();
        let mut v = view(&known, &all_down, &seeds);
        assert!(!sources(&h, &v).contains(&ep(9)));
        v.previous_round_failed = true;
        assert_eq!(sources(&h, &v).last(), Some(&ep(9)));
    }

    #[test]
    fn stackexchange_2_keeps_asking_retired_endpoints_and_3_2_does_not() {
        let (known, retired, seeds) = ([ep(1)], [ep(5)], [ep(9)]);
        let failing = BTreeSet::new();
        let mut v = view(&known, &failing, &seeds);
        v.retired = &retired;
        assert_eq!(sources(&preset("stackexchange@2").unwrap(), &v), [ep(1), ep(5), ep(9)]);
        assert_eq!(sources(&preset("stackexchange@3.2").unwrap(), &v), [ep(1), ep(9)]);
    }

    #[test]
    fn redis_py_asks_its_startup_nodes_failed_one_last_then_the_moved_target() {
        let h = preset("redis-py@8").unwrap();
        let seeds = [ep(1), ep(2), ep(3)];
        let failing: BTreeSet<Endpoint> = [ep(1)].into_iter().collect();
        let mut v = view(&[], &failing, &seeds);
        let target = ep(4);
        v.redirect_target = Some(&target);
        let got = sources(&h, &v);
        assert_eq!(&got[2..], [ep(1), ep(4)], "{got:?}");
        assert_eq!(seeds_after_failure(&h, &seeds, &ep(1)), [ep(2), ep(3), ep(1)]);
        assert_eq!(seeds_after_failure(&preset("jedis@7").unwrap(), &seeds, &ep(1)), seeds);
    }

    #[test]
    fn dynamic_seeds_replace_the_configured_ones() {
        let (seeds, found) = ([ep(1)], [ep(4), ep(5)]);
        let mut h = preset("redis-py@8").unwrap();
        assert_eq!(seeds_after_refresh(&h, &seeds, &found), found);
        assert_eq!(seeds_after_refresh(&h, &seeds, &[]), seeds, "a refresh that found nothing keeps them");
        h.dynamic_seeds = false;
        assert_eq!(seeds_after_refresh(&h, &seeds, &found), seeds);
    }

    #[test]
    fn ioredis_sends_a_dead_nodes_slot_to_a_random_pooled_node() {
        let h = preset("ioredis@5").unwrap();
        let pool = [ep(1), ep(2), ep(3)];
        for seed in 0..20 {
            match dead_node_route(&h, &ep(1), &[ep(4)], &pool, seed) {
                DeadRoute::Random(to) => assert!(to == ep(2) || to == ep(3), "{to}"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(dead_node_route(&h, &ep(1), &[ep(4)], &[ep(1)], 0), DeadRoute::Nowhere);
        let node_redis = preset("node-redis@4").unwrap();
        assert_eq!(dead_node_route(&node_redis, &ep(1), &[ep(2)], &pool, 0), DeadRoute::Owner(ep(1)));
    }

    #[test]
    fn redis_rs_sends_a_reconnecting_nodes_slot_to_its_shard_else_anywhere() {
        let h = preset("redis-rs@1.6").unwrap();
        let pool = [ep(2), ep(3), ep(4)];
        assert_eq!(dead_node_route(&h, &ep(1), &[ep(1), ep(4)], &pool, 0), DeadRoute::Shard(ep(4)));
        // The shard's other node is down too: any connected node, which answers MOVED.
        assert!(matches!(dead_node_route(&h, &ep(1), &[ep(5)], &pool, 0), DeadRoute::Random(_)));
    }
}
