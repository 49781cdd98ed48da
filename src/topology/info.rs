//! Parsers for the `key:value` text replies `CLUSTER INFO` and `INFO`, and for the
//! `key=value` lines of `CLIENT LIST`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fields of `CLUSTER INFO` the probe cares about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `cluster_state`: `ok` or `fail`.
    pub state: String,
    /// `cluster_slots_assigned`.
    pub slots_assigned: u32,
    /// `cluster_slots_ok`.
    pub slots_ok: u32,
    /// `cluster_slots_pfail`.
    pub slots_pfail: u32,
    /// `cluster_slots_fail`.
    pub slots_fail: u32,
    /// `cluster_known_nodes`.
    pub known_nodes: u32,
    /// `cluster_size`: number of primaries serving at least one slot.
    pub size: u32,
    /// `cluster_current_epoch`.
    pub current_epoch: u64,
    /// `cluster_my_epoch`.
    pub my_epoch: u64,
}

impl ClusterInfo {
    /// Whether `cluster_state` is `ok`.
    pub fn is_ok(&self) -> bool {
        self.state == "ok"
    }
}

/// Why a `CLUSTER INFO` reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoParseError {
    /// A mandatory field is absent.
    #[error("CLUSTER INFO: missing field `{0}`")]
    MissingField(&'static str),
    /// A numeric field does not hold a number.
    #[error("CLUSTER INFO: invalid `{field}` value {value:?}")]
    InvalidField {
        /// Name of the field as Redis prints it.
        field: &'static str,
        /// The text found.
        value: String,
    },
}

/// Parses `CLUSTER INFO`. `cluster_state` is required; absent numeric fields read as
/// 0, present but non-numeric ones are an error.
pub fn parse_cluster_info(text: &str) -> Result<ClusterInfo, InfoParseError> {
    let map = parse_info(text);
    let state = map.get("cluster_state").ok_or(InfoParseError::MissingField("cluster_state"))?.clone();
    fn num<T: std::str::FromStr + Default>(
        map: &BTreeMap<String, String>,
        field: &'static str,
    ) -> Result<T, InfoParseError> {
        match map.get(field) {
            None => Ok(T::default()),
            Some(v) => v.parse::<T>().map_err(|_| InfoParseError::InvalidField { field, value: v.clone() }),
        }
    }
    Ok(ClusterInfo {
        state,
        slots_assigned: num(&map, "cluster_slots_assigned")?,
        slots_ok: num(&map, "cluster_slots_ok")?,
        slots_pfail: num(&map, "cluster_slots_pfail")?,
        slots_fail: num(&map, "cluster_slots_fail")?,
        known_nodes: num(&map, "cluster_known_nodes")?,
        size: num(&map, "cluster_size")?,
        current_epoch: num(&map, "cluster_current_epoch")?,
        my_epoch: num(&map, "cluster_my_epoch")?,
    })
}

/// Parses `INFO` (or `CLUSTER INFO`) text into `field -> value`, skipping `# Section`
/// headers and blank lines; the value is everything after the first `:`.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Splits a compound `INFO` value such as `ip=10.0.0.3,port=6379,state=online` into
/// `key -> value`; items without `=` are ignored.
pub fn parse_info_subfields(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .filter_map(|item| item.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// One connection from `CLIENT LIST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientEntry {
    /// Connection id.
    pub id: u64,
    /// Peer address (`ip:port`).
    pub addr: String,
    /// Local address the client connected to (empty before Redis 6.2).
    pub laddr: String,
    /// Name set with `CLIENT SETNAME` (empty if none).
    pub name: String,
    /// Connection age in seconds.
    pub age: u64,
    /// Idle time in seconds.
    pub idle: u64,
    /// Last command run, e.g. `client|list`.
    pub cmd: String,
    /// Client flags letters, e.g. `N`, `S` (replica), `M` (primary).
    pub flags: String,
    /// Selected database.
    pub db: u32,
    /// ACL user (empty before Redis 6).
    pub user: String,
    /// Every `key=value` pair of the line, including the ones above.
    pub fields: BTreeMap<String, String>,
}

/// Parses `CLIENT LIST`. Lines without an `id=` field are skipped; missing or
/// non-numeric numeric fields read as 0 so that newer Redis fields never break parsing.
pub fn parse_client_list(text: &str) -> Vec<ClientEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: BTreeMap<String, String> = line
                .split_whitespace()
                .filter_map(|tok| tok.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = fields.get("id")?.parse::<u64>().ok()?;
            let text = |k: &str| fields.get(k).cloned().unwrap_or_default();
            let num = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            Some(ClientEntry {
                id,
                addr: text("addr"),
                laddr: text("laddr"),
                name: text("name"),
                age: num("age"),
                idle: num("idle"),
                cmd: text("cmd"),
                flags: text("flags"),
                db: fields.get("db").and_then(|v| v.parse().ok()).unwrap_or(0),
                user: text("user"),
                fields,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER_INFO: &str = "cluster_state:ok\r\n\
cluster_slots_assigned:16384\r\n\
cluster_slots_ok:16384\r\n\
cluster_slots_pfail:0\r\n\
cluster_slots_fail:0\r\n\
cluster_known_nodes:6\r\n\
cluster_size:3\r\n\
cluster_current_epoch:6\r\n\
cluster_my_epoch:2\r\n\
cluster_stats_messages_ping_sent:1483972\r\n\
cluster_stats_messages_pong_sent:1483968\r\n\
cluster_stats_messages_sent:2967940\r\n\
cluster_stats_messages_received:2967940\r\n\
total_cluster_links_buffer_limit_exceeded:0\r\n";

    #[test]
    fn parses_cluster_info() {
        let info = parse_cluster_info(CLUSTER_INFO).unwrap();
        assert_eq!(
            info,
            ClusterInfo {
                state: "ok".into(),
                slots_assigned: 16384,
                slots_ok: 16384,
                slots_pfail: 0,
                slots_fail: 0,
                known_nodes: 6,
                size: 3,
                current_epoch: 6,
                my_epoch: 2,
            }
        );
        assert!(info.is_ok());
    }

    #[test]
    fn parses_failing_cluster_info() {
        let text = "cluster_state:fail\ncluster_slots_assigned:16384\ncluster_slots_ok:10923\n\
                    cluster_slots_pfail:0\ncluster_slots_fail:5461\ncluster_known_nodes:6\n\
                    cluster_size:3\ncluster_current_epoch:7\ncluster_my_epoch:7\n";
        let info = parse_cluster_info(text).unwrap();
        assert!(!info.is_ok());
        assert_eq!(info.slots_fail, 5461);
        assert_eq!(info.current_epoch, 7);
    }

    #[test]
    fn cluster_info_errors() {
        assert_eq!(
            parse_cluster_info("# Server\r\nredis_version:7.0.15\r\n"),
            Err(InfoParseError::MissingField("cluster_state"))
        );
        assert_eq!(
            parse_cluster_info("cluster_state:ok\ncluster_size:three\n"),
            Err(InfoParseError::InvalidField { field: "cluster_size", value: "three".into() })
        );
        let sparse = parse_cluster_info("cluster_state:ok\n").unwrap();
        assert_eq!(sparse.known_nodes, 0);
    }

    const INFO_REPLICATION: &str = "# Replication\r\n\
role:master\r\n\
connected_slaves:1\r\n\
slave0:ip=127.0.0.1,port=7003,state=online,offset=72156,lag=0\r\n\
master_failover_state:no-failover\r\n\
master_replid:6c4f4b4a5f1d0b6f3b7e3e0c9b2b8d6a1f0e7c3d\r\n\
master_replid2:0000000000000000000000000000000000000000\r\n\
master_repl_offset:72156\r\n\
second_repl_offset:-1\r\n\
repl_backlog_active:1\r\n\
repl_backlog_size:1048576\r\n\
repl_backlog_first_byte_offset:1\r\n\
repl_backlog_histlen:72156\r\n\
\r\n\
# Keyspace\r\n\
db0:keys=1042,expires=0,avg_ttl=0\r\n";

    #[test]
    fn parses_info_replication() {
        let info = parse_info(INFO_REPLICATION);
        assert_eq!(info.get("role").map(String::as_str), Some("master"));
        assert_eq!(info["connected_slaves"], "1");
        assert_eq!(info["master_repl_offset"], "72156");
        assert_eq!(info["second_repl_offset"], "-1");
        assert!(!info.contains_key("# Replication"));
        assert!(!info.keys().any(|k| k.is_empty() || k.starts_with('#')));
        assert_eq!(info.len(), 13);
        let slave0 = parse_info_subfields(&info["slave0"]);
        assert_eq!(slave0["ip"], "127.0.0.1");
        assert_eq!(slave0["port"], "7003");
        assert_eq!(slave0["state"], "online");
        assert_eq!(slave0["offset"], "72156");
        assert_eq!(parse_info_subfields(&info["db0"])["keys"], "1042");
    }

    #[test]
    fn parses_replica_info() {
        let text = "# Replication\nrole:slave\nmaster_host:127.0.0.1\nmaster_port:7000\n\
                    master_link_status:down\nmaster_link_down_since_seconds:3\n";
        let info = parse_info(text);
        assert_eq!(info["role"], "slave");
        assert_eq!(info["master_link_status"], "down");
        assert_eq!(info["master_port"], "7000");
    }

    const CLIENT_LIST: &str = "\
id=3 addr=127.0.0.1:52314 laddr=127.0.0.1:7000 fd=8 name= age=1543 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22426 events=r cmd=client|list user=default redir=-1 resp=2
id=7 addr=127.0.0.1:52330 laddr=127.0.0.1:7000 fd=11 name=failover-probe age=12 idle=1 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=42 obl=0 oll=0 omem=0 tot-mem=1928 events=r cmd=set user=probe redir=-1 resp=3
id=5 addr=127.0.0.1:41012 laddr=127.0.0.1:7000 fd=10 name= age=1540 idle=1 flags=S db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1928 events=r cmd=replconf user=default redir=-1 resp=2
";

    #[test]
    fn parses_client_list() {
        let clients = parse_client_list(CLIENT_LIST);
        assert_eq!(clients.len(), 3);
        let me = &clients[0];
        assert_eq!(me.id, 3);
        assert_eq!(me.addr, "127.0.0.1:52314");
        assert_eq!(me.laddr, "127.0.0.1:7000");
        assert_eq!(me.name, "");
        assert_eq!(me.age, 1543);
        assert_eq!(me.idle, 0);
        assert_eq!(me.cmd, "client|list");
        assert_eq!(me.flags, "N");
        assert_eq!(me.db, 0);
        assert_eq!(me.user, "default");
        assert_eq!(me.fields["qbuf-free"], "20448");
        assert_eq!(me.fields["resp"], "2");

        let probe = &clients[1];
        assert_eq!(probe.name, "failover-probe");
        assert_eq!(probe.user, "probe");
        assert_eq!(probe.idle, 1);
        assert_eq!(probe.fields["resp"], "3");

        assert_eq!(clients[2].flags, "S");
        assert_eq!(clients[2].cmd, "replconf");
    }

    #[test]
    fn client_list_tolerates_old_and_odd_lines() {
        let text = "id=9 addr=10.0.0.5:5000 fd=6 name=old age=x idle=2 flags=N db=3 cmd=get\r\n\
                    garbage line\r\n\r\n";
        let clients = parse_client_list(text);
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].id, 9);
        assert_eq!(clients[0].laddr, "");
        assert_eq!(clients[0].user, "");
        assert_eq!(clients[0].age, 0);
        assert_eq!(clients[0].db, 3);
        assert_eq!(clients[0].cmd, "get");
    }
}
