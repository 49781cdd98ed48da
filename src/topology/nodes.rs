//! Parser for the text reply of `CLUSTER NODES`: one line per node with its id,
//! address, flags, replication parent, gossip timestamps, config epoch, link state
//! and the slots it serves.

use super::endpoint::Endpoint;
use super::role::Role;
use super::slot::SlotRange;
use serde::{Deserialize, Serialize};

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    /// 40-character node id.
    pub id: String,
    /// Client address (`ip:port`); empty host and port 0 for `noaddr` nodes.
    pub endpoint: Endpoint,
    /// Cluster bus port after `@`, absent in pre-4.0 output.
    pub bus_port: Option<u16>,
    /// Announced hostname after the first `,` of the address, if any.
    pub hostname: Option<String>,
    /// Role derived from the `master`/`slave` flags.
    pub role: Role,
    /// Id of the primary this node replicates (`-` becomes `None`).
    pub primary_id: Option<String>,
    /// Flags such as `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`,
    /// `noaddr`, `nofailover`; `noflags` yields an empty list.
    pub flags: Vec<String>,
    /// Unix time in ms the pending ping was sent, 0 if none is pending.
    pub ping_sent: u64,
    /// Unix time in ms the last pong was received.
    pub pong_recv: u64,
    /// Config epoch of the node (or of its primary, for a replica).
    pub config_epoch: u64,
    /// Whether the cluster-bus link to the node is `connected`.
    pub link_connected: bool,
    /// Slots served, without importing/migrating markers.
    pub slots: Vec<SlotRange>,
}

impl ClusterNode {
    /// Whether the node carries `flag` (e.g. `"nofailover"`).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether this line describes the node that answered the command.
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }

    /// Whether the node is flagged `fail` or `fail?` (suspected).
    pub fn is_failed(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    /// First 8 characters of the node id, as operators usually quote it.
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }
}

pub(crate) fn short(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// Why a `CLUSTER NODES` reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodesParseError {
    /// A line ends before a mandatory field.
    #[error("CLUSTER NODES line {line}: missing field `{field}`")]
    MissingField {
        /// 1-based line number.
        line: usize,
        /// Name of the missing field.
        field: &'static str,
    },
    /// A field does not have the expected format.
    #[error("CLUSTER NODES line {line}: invalid `{field}` value {value:?}")]
    InvalidField {
        /// 1-based line number.
        line: usize,
        /// Name of the offending field.
        field: &'static str,
        /// The text found.
        value: String,
    },
}

/// Parses a whole `CLUSTER NODES` reply; blank lines are skipped and CRLF is accepted.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<ClusterNode>, NodesParseError> {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| parse_line(i + 1, l)).collect()
}

fn parse_line(line: usize, text: &str) -> Result<ClusterNode, NodesParseError> {
    let mut fields = text.split_whitespace();
    let mut next = |field: &'static str| fields.next().ok_or(NodesParseError::MissingField { line, field });
    let invalid =
        |field: &'static str, value: &str| NodesParseError::InvalidField { line, field, value: value.to_string() };
    let number = |field: &'static str, value: &str| value.parse::<u64>().map_err(|_| invalid(field, value));

    let id = next("id")?.to_string();
    let address = next("address")?;
    let flags_text = next("flags")?;
    let primary = next("primary")?;
    let ping_sent = number("ping_sent", next("ping_sent")?)?;
    let pong_recv = number("pong_recv", next("pong_recv")?)?;
    let config_epoch = number("config_epoch", next("config_epoch")?)?;
    let link = next("link_state")?;
    let slot_fields: Vec<&str> = fields.collect();

    // Since 7.0 a `,hostname` (possibly empty) may follow the address, and 7.2 adds
    // `,aux=value` fields after it; neither belongs to the endpoint.
    let mut parts = address.split(',');
    let hostport_bus = parts.next().unwrap_or_default();
    let hostname = parts.next().filter(|h| !h.is_empty() && !h.contains('=')).map(str::to_string);
    let (hostport, bus) = match hostport_bus.split_once('@') {
        Some((hp, bus)) => (hp, Some(bus)),
        None => (hostport_bus, None),
    };
    let endpoint: Endpoint = hostport.parse().map_err(|_| invalid("address", address))?;
    let bus_port = bus.map(|b| b.parse::<u16>().map_err(|_| invalid("address", address))).transpose()?;

    let flags: Vec<String> =
        flags_text.split(',').filter(|f| !f.is_empty() && *f != "noflags").map(str::to_string).collect();
    let role = if flags.iter().any(|f| f == "master") {
        Role::Primary
    } else if flags.iter().any(|f| f == "slave") {
        Role::Replica
    } else {
        Role::Unknown
    };

    let primary_id = (primary != "-").then(|| primary.to_string());

    let link_connected = match link {
        "connected" => true,
        "disconnected" => false,
        other => return Err(invalid("link_state", other)),
    };

    let mut slots = Vec::new();
    for s in slot_fields {
        // `[slot->-id]` / `[slot-<-id]` mark migrating/importing slots, not ownership.
        if s.starts_with('[') {
            continue;
        }
        slots.push(s.parse::<SlotRange>().map_err(|_| invalid("slot", s))?);
    }

    Ok(ClusterNode {
        id,
        endpoint,
        bus_port,
        hostname,
        role,
        primary_id,
        flags,
        ping_sent,
        pong_recv,
        config_epoch,
        link_connected,
        slots,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ID_A: &str = "905eb478a604058b5b22d6b3be7ae1276f14f0a3";
    pub(crate) const ID_B: &str = "ab72b247816ba07eb33bbfc995cfce10d935c7be";
    pub(crate) const ID_C: &str = "e9c462eebdba24108359eddc390dffe26905001c";
    pub(crate) const ID_A1: &str = "03bccb10549f46b701e6ecbfaf94d45053701f79";
    pub(crate) const ID_B1: &str = "6857aedc9a3148654999b718f57cfe1f3be75436";
    pub(crate) const ID_C1: &str = "fbea8fa2b41441750ee47b12696db7ebeefa985c";
    pub(crate) const ID_NEW: &str = "f375c0843b563645186df82938db470f55d86e67";

    /// Healthy Redis 7.0 cluster, seen from 127.0.0.1:7000.
    pub(crate) const HEALTHY: &str = "\
905eb478a604058b5b22d6b3be7ae1276f14f0a3 127.0.0.1:7000@17000 myself,master - 0 1700000000000 1 connected 0-5460
ab72b247816ba07eb33bbfc995cfce10d935c7be 127.0.0.1:7001@17001 master - 0 1700000001000 2 connected 5461-10922
e9c462eebdba24108359eddc390dffe26905001c 127.0.0.1:7002@17002 master - 0 1700000002000 3 connected 10923-16383
03bccb10549f46b701e6ecbfaf94d45053701f79 127.0.0.1:7003@17003 slave 905eb478a604058b5b22d6b3be7ae1276f14f0a3 0 1700000003000 1 connected
6857aedc9a3148654999b718f57cfe1f3be75436 127.0.0.1:7004@17004 slave ab72b247816ba07eb33bbfc995cfce10d935c7be 0 1700000004000 2 connected
fbea8fa2b41441750ee47b12696db7ebeefa985c 127.0.0.1:7005@17005 slave e9c462eebdba24108359eddc390dffe26905001c 0 1700000005000 3 connected
";

    /// Same cluster after 7000 died and 7003 won the election (seen from 7001).
    pub(crate) const AFTER_FAILOVER: &str = "\
905eb478a604058b5b22d6b3be7ae1276f14f0a3 127.0.0.1:7000@17000 master,fail - 1700000010000 1700000006000 1 disconnected
ab72b247816ba07eb33bbfc995cfce10d935c7be 127.0.0.1:7001@17001 myself,master - 0 1700000020000 2 connected 5461-10922
e9c462eebdba24108359eddc390dffe26905001c 127.0.0.1:7002@17002 master - 0 1700000021000 3 connected 10923-16383
03bccb10549f46b701e6ecbfaf94d45053701f79 127.0.0.1:7003@17003 master - 0 1700000022000 7 connected 0-5460
6857aedc9a3148654999b718f57cfe1f3be75436 127.0.0.1:7004@17004 slave ab72b247816ba07eb33bbfc995cfce10d935c7be 0 1700000023000 2 connected
fbea8fa2b41441750ee47b12696db7ebeefa985c 127.0.0.1:7005@17005 slave e9c462eebdba24108359eddc390dffe26905001c 0 1700000024000 3 connected
";

    #[test]
    fn parses_healthy_cluster() {
        let nodes = parse_cluster_nodes(HEALTHY).unwrap();
        assert_eq!(nodes.len(), 6);
        let me = &nodes[0];
        assert_eq!(me.id, ID_A);
        assert_eq!(me.short_id(), "905eb478");
        assert_eq!(me.endpoint, Endpoint::new("127.0.0.1", 7000));
        assert_eq!(me.bus_port, Some(17000));
        assert_eq!(me.hostname, None);
        assert_eq!(me.role, Role::Primary);
        assert_eq!(me.primary_id, None);
        assert_eq!(me.flags, vec!["myself", "master"]);
        assert!(me.is_myself());
        assert!(!me.is_failed());
        assert_eq!(me.ping_sent, 0);
        assert_eq!(me.pong_recv, 1_700_000_000_000);
        assert_eq!(me.config_epoch, 1);
        assert!(me.link_connected);
        assert_eq!(me.slots, vec![SlotRange::new(0, 5460)]);

        let replica = &nodes[4];
        assert_eq!(replica.id, ID_B1);
        assert_eq!(replica.role, Role::Replica);
        assert_eq!(replica.primary_id.as_deref(), Some(ID_B));
        assert_eq!(replica.config_epoch, 2);
        assert!(replica.slots.is_empty());
        assert!(!replica.is_myself());
        assert_eq!(nodes.iter().filter(|n| n.role == Role::Primary).count(), 3);
    }

    #[test]
    fn parses_failed_node() {
        let nodes = parse_cluster_nodes(AFTER_FAILOVER).unwrap();
        let dead = &nodes[0];
        assert_eq!(dead.flags, vec!["master", "fail"]);
        assert!(dead.is_failed());
        assert!(!dead.link_connected);
        assert_eq!(dead.ping_sent, 1_700_000_010_000);
        assert!(dead.slots.is_empty());
        let promoted = &nodes[3];
        assert_eq!(promoted.id, ID_A1);
        assert_eq!(promoted.role, Role::Primary);
        assert_eq!(promoted.config_epoch, 7);
        assert_eq!(promoted.slots, vec![SlotRange::new(0, 5460)]);
    }

    #[test]
    fn parses_pfail_noaddr_handshake_hostname_and_migration() {
        let text = "\
e9c462eebdba24108359eddc390dffe26905001c :0@0 master,fail?,noaddr - 1700000010000 1700000006000 3 disconnected 10923-16383\r
464f24147ad773f35fcc1ec33158ebbcccaab7fd 10.0.0.9:6379@16379 handshake - 1700000011000 0 0 disconnected\r
ab72b247816ba07eb33bbfc995cfce10d935c7be 10.0.0.2:6379@16379,redis-1.redis.svc myself,master - 0 0 2 connected 5461-10921 10922 [10922->-503692cf44df8b83408f14022ca9edc479592aff] [5000-<-905eb478a604058b5b22d6b3be7ae1276f14f0a3]\r
503692cf44df8b83408f14022ca9edc479592aff 10.0.0.3:6379@16379,,shard-id=5c4f2ef3ab51d8a2a3b8b07bb37a0a96cfa0b4c7 slave,nofailover ab72b247816ba07eb33bbfc995cfce10d935c7be 0 1700000012000 2 connected\r
\r
";
        let nodes = parse_cluster_nodes(text).unwrap();
        assert_eq!(nodes.len(), 4);

        let noaddr = &nodes[0];
        assert_eq!(noaddr.endpoint, Endpoint::new("", 0));
        assert!(noaddr.endpoint.is_unknown());
        assert_eq!(noaddr.bus_port, Some(0));
        assert!(noaddr.has_flag("noaddr"));
        assert!(noaddr.is_failed(), "fail? counts as failed");
        assert_eq!(noaddr.slots, vec![SlotRange::new(10923, 16383)]);

        let hs = &nodes[1];
        assert_eq!(hs.role, Role::Unknown);
        assert_eq!(hs.flags, vec!["handshake"]);

        let me = &nodes[2];
        assert_eq!(me.hostname.as_deref(), Some("redis-1.redis.svc"));
        assert_eq!(me.endpoint, Endpoint::new("10.0.0.2", 6379));
        assert_eq!(me.bus_port, Some(16379));
        assert_eq!(me.slots, vec![SlotRange::new(5461, 10921), SlotRange::single(10922)]);

        let aux = &nodes[3];
        assert_eq!(aux.hostname, None, "empty hostname before aux fields");
        assert!(aux.has_flag("nofailover"));
        assert_eq!(aux.role, Role::Replica);
    }

    #[test]
    fn parses_old_format_and_ipv6() {
        let text =
            "905eb478a604058b5b22d6b3be7ae1276f14f0a3 2001:db8::7:7000 myself,master - 0 0 1 connected 0-16383\n\
                    ab72b247816ba07eb33bbfc995cfce10d935c7be 2001:db8::8:7001@17001 noflags - 0 0 0 connected";
        let nodes = parse_cluster_nodes(text).unwrap();
        assert_eq!(nodes[0].endpoint, Endpoint::new("2001:db8::7", 7000));
        assert_eq!(nodes[0].bus_port, None);
        assert_eq!(nodes[0].endpoint.to_string(), "[2001:db8::7]:7000");
        assert_eq!(nodes[1].endpoint.port, 7001);
        assert!(nodes[1].flags.is_empty());
        assert_eq!(nodes[1].role, Role::Unknown);
    }

    #[test]
    fn reports_line_and_field_on_error() {
        let text =
            format!("{}\nab72b247 127.0.0.1:7001@17001 master - 0 x 2 connected", HEALTHY.lines().next().unwrap());
        assert_eq!(
            parse_cluster_nodes(&text),
            Err(NodesParseError::InvalidField { line: 2, field: "pong_recv", value: "x".into() })
        );
        assert_eq!(
            parse_cluster_nodes("\n\nab72b247 127.0.0.1:7001@17001 master - 0"),
            Err(NodesParseError::MissingField { line: 3, field: "pong_recv" })
        );
        let err = parse_cluster_nodes("id 127.0.0.1:7001@17001 master - 0 0 1 connected 0-99999").unwrap_err();
        assert_eq!(err, NodesParseError::InvalidField { line: 1, field: "slot", value: "0-99999".into() });
        assert_eq!(err.to_string(), "CLUSTER NODES line 1: invalid `slot` value \"0-99999\"");
        assert!(matches!(
            parse_cluster_nodes("id nohost master - 0 0 1 connected"),
            Err(NodesParseError::InvalidField { field: "address", .. })
        ));
        assert!(matches!(
            parse_cluster_nodes("id 1.2.3.4:5@6 master - 0 0 1 linked"),
            Err(NodesParseError::InvalidField { field: "link_state", .. })
        ));
    }

    #[test]
    fn round_trips_through_json() {
        let nodes = parse_cluster_nodes(HEALTHY).unwrap();
        let json = serde_json::to_value(&nodes[3]).unwrap();
        assert_eq!(json["primary_id"], ID_A);
        assert_eq!(json["role"], "replica");
        assert_eq!(json["link_connected"], true);
        assert_eq!(json["endpoint"]["port"], 7003);
        let back: ClusterNode = serde_json::from_value(json).unwrap();
        assert_eq!(back, nodes[3]);
    }
}
