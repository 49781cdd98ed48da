//! Slot map per shard, built from whichever source is at hand: the structured
//! replies of `CLUSTER SHARDS` (RESP3 maps or RESP2 flat key/value arrays) and
//! `CLUSTER SLOTS` as fred [`Value`]s, or parsed `CLUSTER NODES` lines.

use super::endpoint::Endpoint;
use super::nodes::{short, ClusterNode};
use super::role::Role;
use super::slot::{merge, SlotRange, MAX_SLOT};
use fred::types::Value;
use serde::{Deserialize, Serialize};

/// A node as seen inside a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardNode {
    /// Node id (absent only in `CLUSTER SLOTS` replies of very old servers).
    pub id: Option<String>,
    /// Address clients should use.
    pub endpoint: Endpoint,
    /// Announced hostname, if any.
    pub hostname: Option<String>,
    /// Role the node reports.
    pub role: Role,
    /// `health` from `CLUSTER SHARDS` (`online`, `fail`, `loading`); for shards built
    /// from `CLUSTER NODES`, `fail` or `online` from the flags; `None` from `CLUSTER SLOTS`.
    pub health: Option<String>,
    /// `replication-offset` from `CLUSTER SHARDS`.
    pub replication_offset: Option<u64>,
}

impl ShardNode {
    /// Whether the node's health says it has failed.
    pub fn is_failed(&self) -> bool {
        matches!(self.health.as_deref(), Some("fail") | Some("failed"))
    }

    /// First 8 characters of the node id, if known.
    pub fn short_id(&self) -> Option<&str> {
        self.id.as_deref().map(short)
    }
}

/// A primary, its replicas and the slots they serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Slots served, merged and sorted (empty for a primary without slots).
    pub slots: Vec<SlotRange>,
    /// The serving primary: a healthy node reporting role primary if there is one,
    /// else any node reporting primary, else the first node listed.
    pub primary: ShardNode,
    /// Every other node of the shard. A failed former primary can appear here still
    /// reporting role primary until it rejoins as a replica.
    pub replicas: Vec<ShardNode>,
}

impl Shard {
    /// Whether the shard serves `slot`.
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|r| r.contains(slot))
    }

    /// Number of slots the shard serves.
    pub fn slot_count(&self) -> u32 {
        self.slots.iter().map(SlotRange::len).sum()
    }

    /// The primary followed by the replicas.
    pub fn nodes(&self) -> impl Iterator<Item = &ShardNode> {
        std::iter::once(&self.primary).chain(self.replicas.iter())
    }
}

/// Which port of a `CLUSTER SHARDS` node to use when both `port` and `tls-port` are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortPreference {
    /// `port`, falling back to `tls-port`.
    #[default]
    Plain,
    /// `tls-port`, falling back to `port`.
    Tls,
}

/// Why a `CLUSTER SHARDS` or `CLUSTER SLOTS` reply does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardsParseError {
    /// The value at `path` is not what the command returns there.
    #[error("{command}: expected {expected} at {path}")]
    Shape {
        /// `CLUSTER SHARDS` or `CLUSTER SLOTS`.
        command: &'static str,
        /// Location in the reply, e.g. `shard[1].nodes[0].port`.
        path: String,
        /// What should have been there.
        expected: &'static str,
    },
}

const SHARDS: &str = "CLUSTER SHARDS";
const SLOTS: &str = "CLUSTER SLOTS";

fn shape(command: &'static str, path: impl Into<String>, expected: &'static str) -> ShardsParseError {
    ShardsParseError::Shape { command, path: path.into(), expected }
}

/// Key/value view of a RESP3 map or of a RESP2 flat `[k1, v1, k2, v2, ...]` array.
fn pairs(value: &Value) -> Option<Vec<(String, &Value)>> {
    match value {
        Value::Map(map) => Some(map.iter().filter_map(|(k, v)| k.as_str().map(|k| (k.to_string(), v))).collect()),
        Value::Array(items) if items.len() % 2 == 0 => {
            items.chunks(2).map(|kv| text(&kv[0]).map(|k| (k, &kv[1]))).collect()
        }
        _ => None,
    }
}

fn get<'a>(pairs: &[(String, &'a Value)], key: &str) -> Option<&'a Value> {
    pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| *v)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(_) | Value::Bytes(_) | Value::Integer(_) => value.as_str().map(|s| s.into_owned()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(i) => u64::try_from(*i).ok(),
        Value::String(_) | Value::Bytes(_) => value.as_str()?.trim().parse().ok(),
        _ => None,
    }
}

fn slot_number(command: &'static str, value: &Value, path: String) -> Result<u16, ShardsParseError> {
    number(value)
        .filter(|n| *n <= u64::from(MAX_SLOT))
        .map(|n| n as u16)
        .ok_or_else(|| shape(command, path, "slot number 0-16383"))
}

fn port_number(value: Option<&Value>) -> Option<u16> {
    value.and_then(number).and_then(|p| u16::try_from(p).ok())
}

fn usable_host(host: Option<String>) -> Option<String> {
    host.filter(|h| !h.is_empty() && h != "?")
}

fn sort_shards(shards: &mut [Shard]) {
    shards.sort_by(|a, b| {
        let first = |s: &Shard| s.slots.first().map_or(u32::MAX, |r| u32::from(r.start));
        first(a).cmp(&first(b)).then_with(|| a.primary.endpoint.cmp(&b.primary.endpoint))
    });
}

fn choose_primary(mut nodes: Vec<ShardNode>) -> (ShardNode, Vec<ShardNode>) {
    let pick = nodes
        .iter()
        .position(|n| n.role == Role::Primary && !n.is_failed())
        .or_else(|| nodes.iter().position(|n| n.role == Role::Primary))
        .unwrap_or(0);
    let primary = nodes.remove(pick);
    (primary, nodes)
}

/// Parses a `CLUSTER SHARDS` reply, using `port` before `tls-port`.
pub fn parse_cluster_shards(value: &Value) -> Result<Vec<Shard>, ShardsParseError> {
    parse_cluster_shards_with(value, PortPreference::Plain)
}

/// Parses a `CLUSTER SHARDS` reply (RESP3 maps or RESP2 flat arrays) into shards
/// sorted by first slot. The host is `endpoint`, or `ip` when the endpoint is empty
/// or `?`. Shards without nodes are dropped.
pub fn parse_cluster_shards_with(value: &Value, ports: PortPreference) -> Result<Vec<Shard>, ShardsParseError> {
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(shape(SHARDS, "reply", "array of shards")),
    };
    let mut shards = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("shard[{i}]");
        let fields = pairs(item).ok_or_else(|| shape(SHARDS, path.clone(), "map"))?;

        let mut slots = Vec::new();
        match get(&fields, "slots") {
            Some(Value::Array(bounds)) if bounds.len() % 2 == 0 => {
                for (j, pair) in bounds.chunks(2).enumerate() {
                    let start = slot_number(SHARDS, &pair[0], format!("{path}.slots[{}]", 2 * j))?;
                    let end = slot_number(SHARDS, &pair[1], format!("{path}.slots[{}]", 2 * j + 1))?;
                    if start > end {
                        return Err(shape(SHARDS, format!("{path}.slots[{}]", 2 * j), "start <= end"));
                    }
                    slots.push(SlotRange::new(start, end));
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(shape(SHARDS, format!("{path}.slots"), "array of start/end pairs")),
        }

        let node_values = match get(&fields, "nodes") {
            Some(Value::Array(nodes)) => nodes.as_slice(),
            Some(Value::Null) | None => &[],
            Some(_) => return Err(shape(SHARDS, format!("{path}.nodes"), "array of nodes")),
        };
        let nodes = node_values
            .iter()
            .enumerate()
            .map(|(j, v)| parse_shards_node(v, &format!("{path}.nodes[{j}]"), ports))
            .collect::<Result<Vec<_>, _>>()?;
        if nodes.is_empty() {
            continue;
        }
        let (primary, replicas) = choose_primary(nodes);
        shards.push(Shard { slots: merge(&slots), primary, replicas });
    }
    sort_shards(&mut shards);
    Ok(shards)
}

fn parse_shards_node(value: &Value, path: &str, ports: PortPreference) -> Result<ShardNode, ShardsParseError> {
    let fields = pairs(value).ok_or_else(|| shape(SHARDS, path, "map"))?;
    let field_text = |k: &str| get(&fields, k).and_then(text);
    let hostname = field_text("hostname").filter(|h| !h.is_empty());
    let host = usable_host(field_text("endpoint"))
        .or_else(|| usable_host(field_text("ip")))
        .or_else(|| hostname.clone())
        .or_else(|| field_text("endpoint"))
        .ok_or_else(|| shape(SHARDS, format!("{path}.endpoint"), "endpoint or ip"))?;
    let plain = port_number(get(&fields, "port")).filter(|p| *p != 0);
    let tls = port_number(get(&fields, "tls-port")).filter(|p| *p != 0);
    let port = match ports {
        PortPreference::Plain => plain.or(tls),
        PortPreference::Tls => tls.or(plain),
    }
    .ok_or_else(|| shape(SHARDS, format!("{path}.port"), "port or tls-port"))?;
    Ok(ShardNode {
        id: field_text("id").filter(|id| !id.is_empty()),
        endpoint: Endpoint::new(host, port),
        hostname,
        role: field_text("role").map_or(Role::Unknown, |r| Role::from_redis(&r)),
        health: field_text("health"),
        replication_offset: get(&fields, "replication-offset").and_then(number),
    })
}

/// Parses a `CLUSTER SLOTS` reply into shards sorted by first slot. Ranges served by
/// the same primary (same id, or same endpoint without ids) are joined into one shard.
pub fn parse_cluster_slots(value: &Value) -> Result<Vec<Shard>, ShardsParseError> {
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(shape(SLOTS, "reply", "array of slot ranges")),
    };
    let mut shards: Vec<Shard> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("range[{i}]");
        let entry = match item {
            Value::Array(entry) if entry.len() >= 3 => entry,
            _ => return Err(shape(SLOTS, path, "[start, end, primary, replicas...]")),
        };
        let start = slot_number(SLOTS, &entry[0], format!("{path}[0]"))?;
        let end = slot_number(SLOTS, &entry[1], format!("{path}[1]"))?;
        if start > end {
            return Err(shape(SLOTS, format!("{path}[0]"), "start <= end"));
        }
        let primary = parse_slots_node(&entry[2], format!("{path}[2]"), Role::Primary)?;
        let replicas = entry[3..]
            .iter()
            .enumerate()
            .map(|(j, v)| parse_slots_node(v, format!("{path}[{}]", j + 3), Role::Replica))
            .collect::<Result<Vec<_>, _>>()?;

        let existing = shards.iter_mut().find(|s| match (&s.primary.id, &primary.id) {
            (Some(a), Some(b)) => a == b,
            _ => s.primary.endpoint == primary.endpoint,
        });
        match existing {
            Some(shard) => {
                shard.slots.push(SlotRange::new(start, end));
                for r in replicas {
                    if !shard.replicas.iter().any(|known| known.endpoint == r.endpoint) {
                        shard.replicas.push(r);
                    }
                }
            }
            None => shards.push(Shard { slots: vec![SlotRange::new(start, end)], primary, replicas }),
        }
    }
    for shard in &mut shards {
        shard.slots = merge(&shard.slots);
    }
    sort_shards(&mut shards);
    Ok(shards)
}

fn parse_slots_node(value: &Value, path: String, role: Role) -> Result<ShardNode, ShardsParseError> {
    let parts = match value {
        Value::Array(parts) if parts.len() >= 2 => parts,
        _ => return Err(shape(SLOTS, path, "[host, port, id?, metadata?]")),
    };
    let port = port_number(parts.get(1)).ok_or_else(|| shape(SLOTS, format!("{path}[1]"), "port number"))?;
    let id = parts.get(2).and_then(text).filter(|id| !id.is_empty());
    let meta = parts.get(3).and_then(pairs).unwrap_or_default();
    let hostname = get(&meta, "hostname").and_then(text).filter(|h| !h.is_empty());
    // With an unknown preferred endpoint Redis sends NULL or `?` and puts the IP in the metadata.
    let host = usable_host(text(&parts[0]))
        .or_else(|| usable_host(get(&meta, "ip").and_then(text)))
        .or_else(|| hostname.clone())
        .unwrap_or_else(|| "?".to_string());
    Ok(ShardNode { id, endpoint: Endpoint::new(host, port), hostname, role, health: None, replication_offset: None })
}

impl From<&ClusterNode> for ShardNode {
    /// Shard view of a `CLUSTER NODES` line; health is `fail` for `fail`/`fail?`, else `online`.
    fn from(node: &ClusterNode) -> ShardNode {
        ShardNode {
            id: Some(node.id.clone()),
            endpoint: node.endpoint.clone(),
            hostname: node.hostname.clone(),
            role: node.role,
            health: Some(if node.is_failed() { "fail" } else { "online" }.to_string()),
            replication_offset: None,
        }
    }
}

/// Builds shards from `CLUSTER NODES`: one per node with role primary (slots or not,
/// failed or not), with the replicas that name it as their primary, sorted by first
/// slot. Replicas whose primary is not listed belong to no shard.
pub fn shards_from_nodes(nodes: &[ClusterNode]) -> Vec<Shard> {
    let mut shards: Vec<Shard> = nodes
        .iter()
        .filter(|n| n.role == Role::Primary)
        .map(|p| {
            let mut replicas: Vec<ShardNode> = nodes
                .iter()
                .filter(|r| r.role == Role::Replica && r.primary_id.as_deref() == Some(p.id.as_str()))
                .map(ShardNode::from)
                .collect();
            replicas.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
            Shard { slots: merge(&p.slots), primary: ShardNode::from(p), replicas }
        })
        .collect();
    sort_shards(&mut shards);
    shards
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::nodes::parse_cluster_nodes;
    use crate::topology::nodes::tests::{AFTER_FAILOVER, HEALTHY, ID_A, ID_A1, ID_B, ID_B1, ID_C, ID_C1};
    use fred::types::{Key, Map};

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    fn b(x: &str) -> Value {
        Value::from(x.as_bytes())
    }

    fn n(x: i64) -> Value {
        Value::Integer(x)
    }

    fn arr(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    /// RESP2 encoding of a map: flat alternating keys and values.
    fn flat(entries: Vec<(&str, Value)>) -> Value {
        Value::Array(entries.into_iter().flat_map(|(k, v)| [s(k), v]).collect())
    }

    /// RESP3 encoding of a map.
    fn map(entries: Vec<(&str, Value)>) -> Value {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(Key::from(k), v);
        }
        Value::Map(m)
    }

    type MapFn = fn(Vec<(&str, Value)>) -> Value;

    fn shard_node(m: MapFn, id: &str, port: i64, role: &str, offset: i64, health: &str) -> Value {
        m(vec![
            ("id", s(id)),
            ("port", n(port)),
            ("ip", s("127.0.0.1")),
            ("endpoint", s("127.0.0.1")),
            ("role", s(role)),
            ("replication-offset", n(offset)),
            ("health", s(health)),
        ])
    }

    /// CLUSTER SHARDS of the healthy 3x2 cluster, shards listed out of slot order.
    fn healthy_shards(m: MapFn) -> Value {
        arr(vec![
            m(vec![
                ("slots", arr(vec![n(5461), n(10922)])),
                (
                    "nodes",
                    arr(vec![
                        shard_node(m, ID_B, 7001, "master", 72156, "online"),
                        shard_node(m, ID_B1, 7004, "replica", 72156, "online"),
                    ]),
                ),
            ]),
            m(vec![
                ("slots", arr(vec![n(0), n(5460)])),
                (
                    "nodes",
                    arr(vec![
                        shard_node(m, ID_A1, 7003, "replica", 72100, "online"),
                        shard_node(m, ID_A, 7000, "master", 72156, "online"),
                    ]),
                ),
            ]),
            m(vec![
                ("slots", arr(vec![n(10923), n(16383)])),
                (
                    "nodes",
                    arr(vec![
                        shard_node(m, ID_C, 7002, "master", 80000, "online"),
                        shard_node(m, ID_C1, 7005, "replica", 0, "loading"),
                    ]),
                ),
            ]),
        ])
    }

    fn check_healthy(shards: &[Shard]) {
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].slots, vec![SlotRange::new(0, 5460)]);
        assert_eq!(shards[0].primary.id.as_deref(), Some(ID_A));
        assert_eq!(shards[0].primary.endpoint, Endpoint::new("127.0.0.1", 7000));
        assert_eq!(shards[0].primary.role, Role::Primary);
        assert_eq!(shards[0].primary.replication_offset, Some(72156));
        assert_eq!(shards[0].replicas.len(), 1);
        assert_eq!(shards[0].replicas[0].id.as_deref(), Some(ID_A1));
        assert_eq!(shards[0].replicas[0].role, Role::Replica);
        assert_eq!(shards[0].replicas[0].replication_offset, Some(72100));
        assert_eq!(shards[1].primary.endpoint.port, 7001);
        assert_eq!(shards[2].slots, vec![SlotRange::new(10923, 16383)]);
        assert_eq!(shards[2].replicas[0].health.as_deref(), Some("loading"));
        assert!(!shards[2].replicas[0].is_failed());
        assert_eq!(shards.iter().map(Shard::slot_count).sum::<u32>(), 16384);
    }

    #[test]
    fn parses_cluster_shards_resp3() {
        let shards = parse_cluster_shards(&healthy_shards(map)).unwrap();
        check_healthy(&shards);
    }

    #[test]
    fn parses_cluster_shards_resp2() {
        let resp2 = parse_cluster_shards(&healthy_shards(flat)).unwrap();
        check_healthy(&resp2);
        assert_eq!(resp2, parse_cluster_shards(&healthy_shards(map)).unwrap());
    }

    #[test]
    fn cluster_shards_during_failover_picks_healthy_primary() {
        // Redis 7.2 keeps the failed old primary in its shard, still reporting master.
        let reply = arr(vec![flat(vec![
            ("slots", arr(vec![n(0), n(5460)])),
            (
                "nodes",
                arr(vec![
                    shard_node(flat, ID_A, 7000, "master", 72156, "fail"),
                    shard_node(flat, ID_A1, 7003, "master", 72160, "online"),
                ]),
            ),
        ])]);
        let shards = parse_cluster_shards(&reply).unwrap();
        assert_eq!(shards[0].primary.id.as_deref(), Some(ID_A1));
        assert_eq!(shards[0].replicas.len(), 1);
        assert!(shards[0].replicas[0].is_failed());
        assert_eq!(shards[0].replicas[0].role, Role::Primary);
    }

    #[test]
    fn cluster_shards_endpoint_port_and_bytes() {
        let node = |endpoint: &str| {
            map(vec![
                ("id", b(ID_A)),
                ("port", n(6379)),
                ("tls-port", n(6380)),
                ("ip", b("10.0.0.1")),
                ("endpoint", b(endpoint)),
                ("hostname", b("redis-0.redis.svc")),
                ("role", b("master")),
                ("replication-offset", n(10)),
                ("health", b("online")),
            ])
        };
        let reply = |endpoint: &str| {
            arr(vec![map(vec![
                ("slots", arr(vec![n(0), n(100), n(200), n(16383)])),
                ("nodes", arr(vec![node(endpoint)])),
            ])])
        };
        let plain = parse_cluster_shards(&reply("redis-0.redis.svc")).unwrap();
        assert_eq!(plain[0].primary.endpoint, Endpoint::new("redis-0.redis.svc", 6379));
        assert_eq!(plain[0].primary.hostname.as_deref(), Some("redis-0.redis.svc"));
        assert_eq!(plain[0].slots, vec![SlotRange::new(0, 100), SlotRange::new(200, 16383)]);
        let tls = parse_cluster_shards_with(&reply("?"), PortPreference::Tls).unwrap();
        assert_eq!(tls[0].primary.endpoint, Endpoint::new("10.0.0.1", 6380));

        // tls-cluster with the plain port disabled: only tls-port is reported.
        let tls_only = arr(vec![flat(vec![
            ("slots", arr(vec![])),
            (
                "nodes",
                arr(vec![flat(vec![
                    ("id", s(ID_B)),
                    ("tls-port", n(7443)),
                    ("ip", s("10.0.0.2")),
                    ("endpoint", s("10.0.0.2")),
                    ("role", s("master")),
                ])]),
            ),
        ])]);
        let shards = parse_cluster_shards(&tls_only).unwrap();
        assert_eq!(shards[0].primary.endpoint, Endpoint::new("10.0.0.2", 7443));
        assert!(shards[0].slots.is_empty());
        assert_eq!(shards[0].primary.health, None);
    }

    #[test]
    fn cluster_shards_shape_errors() {
        assert_eq!(
            parse_cluster_shards(&s("nope")),
            Err(ShardsParseError::Shape {
                command: "CLUSTER SHARDS",
                path: "reply".into(),
                expected: "array of shards"
            })
        );
        let bad_slot = arr(vec![flat(vec![("slots", arr(vec![n(0), n(16384)])), ("nodes", arr(vec![]))])]);
        let err = parse_cluster_shards(&bad_slot).unwrap_err();
        assert_eq!(err.to_string(), "CLUSTER SHARDS: expected slot number 0-16383 at shard[0].slots[1]");
        let no_port = arr(vec![flat(vec![
            ("slots", arr(vec![])),
            ("nodes", arr(vec![flat(vec![("id", s(ID_A)), ("ip", s("1.2.3.4"))])])),
        ])]);
        assert!(matches!(
            parse_cluster_shards(&no_port),
            Err(ShardsParseError::Shape { path, .. }) if path == "shard[0].nodes[0].port"
        ));
        assert_eq!(parse_cluster_shards(&Value::Null), Ok(vec![]));
    }

    fn slots_node(host: Value, port: i64, id: &str, meta: Value) -> Value {
        arr(vec![host, n(port), s(id), meta])
    }

    #[test]
    fn parses_cluster_slots() {
        // Primary 7000 serves two separate ranges; Redis lists them as two entries.
        let reply = arr(vec![
            arr(vec![
                n(0),
                n(5000),
                slots_node(s("127.0.0.1"), 7000, ID_A, arr(vec![])),
                slots_node(s("127.0.0.1"), 7003, ID_A1, arr(vec![])),
            ]),
            arr(vec![
                n(10923),
                n(16383),
                slots_node(s("127.0.0.1"), 7002, ID_C, flat(vec![("hostname", s("host-c"))])),
                slots_node(s("127.0.0.1"), 7005, ID_C1, map(vec![("hostname", s("host-c1"))])),
            ]),
            arr(vec![
                n(5001),
                n(5460),
                slots_node(s("127.0.0.1"), 7000, ID_A, arr(vec![])),
                slots_node(s("127.0.0.1"), 7003, ID_A1, arr(vec![])),
            ]),
            arr(vec![n(5461), n(10922), slots_node(s("127.0.0.1"), 7001, ID_B, arr(vec![]))]),
        ]);
        let shards = parse_cluster_slots(&reply).unwrap();
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].slots, vec![SlotRange::new(0, 5460)]);
        assert_eq!(shards[0].primary.id.as_deref(), Some(ID_A));
        assert_eq!(shards[0].replicas.len(), 1, "replica not duplicated");
        assert_eq!(shards[0].replicas[0].endpoint.port, 7003);
        assert_eq!(shards[0].replicas[0].role, Role::Replica);
        assert_eq!(shards[1].primary.endpoint.port, 7001);
        assert!(shards[1].replicas.is_empty());
        assert_eq!(shards[2].primary.hostname.as_deref(), Some("host-c"));
        assert_eq!(shards[2].replicas[0].hostname.as_deref(), Some("host-c1"));
        assert_eq!(shards[2].primary.health, None);
    }

    #[test]
    fn cluster_slots_unknown_endpoint_uses_metadata_ip() {
        let reply = arr(vec![arr(vec![
            n(0),
            n(16383),
            slots_node(Value::Null, 6379, ID_A, flat(vec![("ip", s("10.1.2.3"))])),
        ])]);
        let shards = parse_cluster_slots(&reply).unwrap();
        assert_eq!(shards[0].primary.endpoint, Endpoint::new("10.1.2.3", 6379));
        let old = arr(vec![arr(vec![n(0), n(16383), arr(vec![s("10.0.0.1"), n(6379)])])]);
        let shards = parse_cluster_slots(&old).unwrap();
        assert_eq!(shards[0].primary.id, None);
        assert!(matches!(
            parse_cluster_slots(&arr(vec![arr(vec![n(5), n(1), arr(vec![s("h"), n(1)])])])),
            Err(ShardsParseError::Shape { command: "CLUSTER SLOTS", .. })
        ));
    }

    #[test]
    fn shards_from_cluster_nodes() {
        let nodes = parse_cluster_nodes(HEALTHY).unwrap();
        let shards = shards_from_nodes(&nodes);
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].primary.id.as_deref(), Some(ID_A));
        assert_eq!(shards[0].primary.health.as_deref(), Some("online"));
        assert_eq!(shards[0].replicas[0].id.as_deref(), Some(ID_A1));
        assert_eq!(shards[1].slots, vec![SlotRange::new(5461, 10922)]);
        assert_eq!(shards[1].replicas[0].id.as_deref(), Some(ID_B1));
        assert_eq!(shards[2].replicas[0].endpoint.port, 7005);
        // Same slot map as CLUSTER SHARDS, node details aside.
        let from_shards = parse_cluster_shards(&healthy_shards(map)).unwrap();
        for (a, b) in shards.iter().zip(&from_shards) {
            assert_eq!(a.slots, b.slots);
            assert_eq!(a.primary.endpoint, b.primary.endpoint);
        }

        let after = shards_from_nodes(&parse_cluster_nodes(AFTER_FAILOVER).unwrap());
        assert_eq!(after.len(), 4);
        assert_eq!(after[0].primary.id.as_deref(), Some(ID_A1));
        assert!(after[0].replicas.is_empty());
        // The failed old primary keeps an empty shard of its own, sorted last.
        assert_eq!(after[3].primary.id.as_deref(), Some(ID_A));
        assert!(after[3].slots.is_empty());
        assert!(after[3].primary.is_failed());
        assert_eq!(after[0].primary.short_id(), Some("03bccb10"));
    }
}
