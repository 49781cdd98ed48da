//! The connection factory: the one place that turns a [`Target`] into connected fred clients, for every mode,
//! with a reconnect policy that never gives up, timeouts on everything, TLS and auth.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use fred::types::config::UnresponsiveConfig;
use fred::types::{ClusterHash, CustomCommand};

use crate::error::{AppError, AppResult};
use crate::mode::Mode;
use crate::settings::Target;
use crate::topology::Endpoint;

/// The `CLIENT SETNAME` of every connection this tool opens, so `client-list` can mark them.
pub const CLIENT_NAME: &str = "redis-failover-probe";

/// Reconnect backoff: 50 ms doubling up to `max`, forever. The default cap is short (250 ms) because the probe's
/// own backoff adds straight to the outage it measures; `--reconnect-max 5s` models the original tool's client.
pub fn reconnect_policy(max: Duration) -> ReconnectPolicy {
    let max_ms = max.as_millis().clamp(50, u32::MAX as u128) as u32;
    // max_attempts = 0 means forever: once attempts run out a fred client is dead for good.
    ReconnectPolicy::new_exponential(0, 50, max_ms, 2)
}

/// A connected client and what it is connected to.
#[derive(Clone)]
pub struct Connection {
    /// The fred client: clustered for oss-cluster, centralized otherwise.
    pub client: Client,
    /// The mode it was made for.
    pub mode: Mode,
    /// The seeds of the target it was made for (the key of the known-nodes cache).
    pub seeds: Vec<Endpoint>,
}

impl Connection {
    /// The endpoints this client currently holds connections to.
    pub fn reached(&self) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .client
            .active_connections()
            .into_iter()
            .map(|s| Endpoint { host: s.host.to_string(), port: s.port })
            .collect();
        out.sort();
        out
    }

    /// Closes the client, bounded so a dead server cannot hold the tool.
    pub async fn close(&self) {
        quit(&self.client).await;
    }
}

/// Closes a client without waiting more than a moment.
pub async fn quit(client: &Client) {
    let _ = tokio::time::timeout(Duration::from_millis(500), client.quit()).await;
}

/// Builds fred clients for one target.
#[derive(Clone)]
pub struct Factory {
    target: Target,
    tls: Option<fred::types::config::TlsConfig>,
    // One provider for every client, so the token is fetched once per refresh, not once per connection.
    credentials: Option<Arc<crate::credentials::CommandCredentials>>,
}

impl Factory {
    /// Prepares a factory; reads the CA file and builds the TLS configuration once.
    pub fn new(target: Target) -> AppResult<Self> {
        let tls = if target.tls { Some(crate::tls::client_config(&target)?) } else { None };
        let credentials = target.password_command.as_ref().map(|cmd| {
            Arc::new(crate::credentials::CommandCredentials::new(
                cmd.clone(),
                target.username.clone(),
                target.password_refresh,
            ))
        });
        Ok(Factory { target, tls, credentials })
    }

    /// The target this factory connects to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A fred `Server` for an endpoint. With TLS, an IP endpoint is verified against the seed's hostname,
    /// because clusters advertise IPs while certificates name the cache.
    pub fn server(&self, ep: &Endpoint) -> Server {
        let mut server = Server::new(ep.host.clone(), ep.port);
        if self.tls.is_some() {
            let name = if ep.host.parse::<std::net::IpAddr>().is_ok() {
                self.target.seeds.first().map(|s| s.host.clone()).unwrap_or_else(|| ep.host.clone())
            } else {
                ep.host.clone()
            };
            server.tls_server_name = Some(name.into());
        }
        server
    }

    fn builder(&self, server: ServerConfig) -> Builder {
        let timeout = self.target.timeout;
        let config = Config {
            server,
            username: self.target.username.clone(),
            password: self.target.password.as_ref().map(|p| p.expose().to_string()),
            tls: self.tls.clone(),
            fail_fast: true,
            ..Default::default()
        };
        let mut config = config;
        if let Some(c) = &self.credentials {
            config.credential_provider = Some(c.clone());
        }
        let mut builder = Builder::from_config(config);
        builder.set_policy(reconnect_policy(self.target.reconnect_max));
        builder.with_connection_config(|c| {
            c.connection_timeout = timeout;
            c.internal_command_timeout = timeout;
            c.auto_client_setname = false;
            // One attempt per command: a probe that fails is a data point, not something to hide behind retries.
            c.max_command_attempts = 1;
            c.unresponsive =
                UnresponsiveConfig { max_timeout: Some(timeout * 2), interval: Duration::from_millis(100) };
        });
        builder.with_performance_config(|p| {
            p.default_command_timeout = timeout;
            p.broadcast_channel_capacity = 256;
        });
        builder
    }

    /// Connects a client for the target's mode and checks that the server is what the mode says.
    pub async fn connect(&self) -> AppResult<Connection> {
        match self.target.mode {
            Mode::OssCluster => match self.connect_cluster(&self.target.seeds).await {
                Err(AppError::Connect(why)) => self.connect_through_known(why).await,
                other => other,
            },
            Mode::Standalone | Mode::Enterprise => {
                let mut last = None;
                for seed in &self.target.seeds {
                    match self.node(seed).await {
                        Ok(client) => {
                            self.check_not_cluster(&client, seed).await?;
                            return Ok(Connection { client, mode: self.target.mode, seeds: self.target.seeds.clone() });
                        }
                        Err(e @ (AppError::Auth(_) | AppError::BadInput(_))) => return Err(e),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| AppError::BadInput("no endpoint given".into())))
            }
        }
    }

    /// A cluster client over `hosts` (fred's discovery policy as the target says).
    async fn connect_cluster(&self, hosts: &[Endpoint]) -> AppResult<Connection> {
        let list = hosts.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ");
        let servers = hosts.iter().map(|e| self.server(e)).collect();
        let policy = if self.target.fred_use_cache {
            fred::types::config::ClusterDiscoveryPolicy::UseCache
        } else {
            fred::types::config::ClusterDiscoveryPolicy::ConfigEndpoint
        };
        let server = ServerConfig::Clustered { hosts: servers, policy };
        let client = self.builder(server).build().map_err(|e| AppError::BadInput(e.to_string()))?;
        self.init(&client, &list).await.map_err(|e| match e {
            AppError::Connect(m) if m.contains("cluster support disabled") => AppError::WrongMode(format!(
                "{list} is not a cluster node (cluster support disabled): use --mode standalone, or --mode \
                 enterprise for a proxy endpoint"
            )),
            other => other,
        })?;
        Ok(Connection { client, mode: Mode::OssCluster, seeds: self.target.seeds.clone() })
    }

    /// The seeds did not answer (`why`): tries the nodes an earlier run saw behind them, one at a time, and says
    /// on stderr which one answered. Without such nodes, or when none answers, the seeds' error stands.
    async fn connect_through_known(&self, why: String) -> AppResult<Connection> {
        let Some(known) = crate::known_nodes::recall(&self.target.seeds) else {
            return Err(AppError::Connect(why));
        };
        for node in known.nodes.iter().filter(|n| !self.target.seeds.contains(n)) {
            if let Ok(conn) = self.connect_cluster(std::slice::from_ref(node)).await {
                eprintln!("note: {why}; connected through {node}, a node seen behind these seeds at {}", known.seen_at);
                return Ok(conn);
            }
        }
        Err(AppError::Connect(format!(
            "{why} (nor did any of the {} node(s) seen behind it at {})",
            known.nodes.len(),
            known.seen_at
        )))
    }

    async fn check_not_cluster(&self, client: &Client, seed: &Endpoint) -> AppResult<()> {
        // An ACL user without INFO rights cannot be checked; the probes will still show MOVED if the mode is wrong.
        let Ok(info) = info_section(client, "cluster").await else {
            return Ok(());
        };
        if info.get("cluster_enabled").map(String::as_str) == Some("1") {
            quit(client).await;
            return Err(AppError::WrongMode(format!(
                "{seed} is a cluster node (cluster_enabled:1): use --mode oss-cluster{}",
                if self.target.mode == Mode::Enterprise {
                    " (an enterprise endpoint is a proxy that hides its nodes, not a cluster node)"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// A direct connection to one node, for per-node commands (CLUSTER NODES, CLIENT LIST, INFO).
    pub async fn node(&self, ep: &Endpoint) -> AppResult<Client> {
        let mut builder = self.builder(ServerConfig::Centralized { server: self.server(ep) });
        // fred reconnects by default on a CLUSTERDOWN, LOADING or READONLY reply, and re-sends what was in flight
        // on the new connection: a SET could then land after a newer one. A node's connection answers with the
        // error instead; what to do about it is the caller's (the client style's) decision.
        builder.with_connection_config(|c| c.reconnect_errors = Vec::new());
        let client = builder.build().map_err(|e| AppError::BadInput(e.to_string()))?;
        self.init(&client, &ep.to_string()).await?;
        Ok(client)
    }

    async fn init(&self, client: &Client, what: &str) -> AppResult<()> {
        // fred bounds the TCP connect and the handshake; this outer bound covers DNS and a cluster's several nodes.
        let bound = self.target.timeout * 3 + Duration::from_millis(500);
        let result = tokio::time::timeout(bound, client.init()).await;
        let err = match result {
            Ok(Ok(_)) => {
                let _ = client.client_setname(CLIENT_NAME).await;
                return Ok(());
            }
            Ok(Err(e)) => connect_error(what, &e, self.target.tls),
            Err(_) => AppError::Connect(format!(
                "{what} did not answer within {}{}",
                crate::duration::human(bound),
                plaintext_hint(self.target.tls)
            )),
        };
        quit(client).await;
        Err(err)
    }
}

fn plaintext_hint(tls: bool) -> &'static str {
    if tls {
        " (if this is a plaintext port, use redis://)"
    } else {
        " (if this is a TLS port, use rediss://)"
    }
}

/// A readable reason for common TLS and socket failures, with hints for the TLS ones; anything else through
/// the tool's one formatter of library errors.
fn readable(details: &str) -> String {
    let known = [
        ("UnknownIssuer", "the server certificate is not trusted (unknown issuer): pass --tls-ca FILE with its CA"),
        ("NotValidForName", "the server certificate does not match the host name"),
        ("Expired", "the server certificate has expired"),
        ("BadSignature", "the server certificate has a bad signature"),
        ("ConnectionReset", "connection reset by the server"),
        ("ConnectionRefused", "connection refused"),
        ("UnexpectedEof", "the server closed the connection"),
        ("InvalidContentType", "the server did not answer with TLS"),
        ("CorruptMessage", "the server did not answer with TLS"),
    ];
    for (needle, text) in known {
        if details.contains(needle) {
            return text.to_string();
        }
    }
    crate::errfmt::readable(first_line(details))
}

/// Turns a fred error met while connecting into the one line the user sees.
pub fn connect_error(what: &str, err: &fred::error::Error, tls: bool) -> AppError {
    let details = err.details().to_string();
    let lower = details.to_ascii_lowercase();
    if matches!(err.kind(), ErrorKind::Auth)
        || lower.contains("wrongpass")
        || lower.contains("noauth")
        || lower.contains("invalid password")
        || lower.contains("invalid username-password")
    {
        return AppError::Auth(format!("authentication failed at {what}: {}", first_line(&details)));
    }
    if matches!(err.kind(), ErrorKind::Tls) || lower.contains("certificate") || lower.contains("tls") {
        let hint = if lower.contains("corrupt") || lower.contains("invalidcontenttype") || lower.contains("eof") {
            " (is this a plaintext port? use redis://)"
        } else {
            ""
        };
        return AppError::Connect(format!("TLS handshake with {what} failed: {}{hint}", readable(&details)));
    }
    if lower.contains("refused") {
        return AppError::Connect(format!("cannot connect to {what}: connection refused"));
    }
    if lower.contains("lookup") || lower.contains("resolve") || lower.contains("name or service not known") {
        return AppError::Connect(format!("cannot resolve the host of {what}: {}", readable(&details)));
    }
    if matches!(err.kind(), ErrorKind::Timeout) || lower.contains("timed out") || lower.contains("timeout") {
        return AppError::Connect(format!("{what} did not answer in time{}", plaintext_hint(tls)));
    }
    if lower.contains("noperm") {
        return AppError::Auth(format!("{what}: permission denied: {}", first_line(&details)));
    }
    AppError::Connect(format!("cannot connect to {what}: {}{}", readable(&details), {
        if lower.contains("closed") || lower.contains("reset") || lower.contains("eof") {
            plaintext_hint(tls)
        } else {
            ""
        }
    }))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// Sends any command (`["CLUSTER", "NODES"]`) and returns the raw reply.
pub async fn command(client: &Client, parts: &[&str]) -> Result<Value, fred::error::Error> {
    let (name, args) = parts.split_first().expect("a command has a name");
    let cmd = CustomCommand::new(name.to_string(), ClusterHash::Random, false);
    client.custom(cmd, args.iter().map(|a| a.to_string()).collect::<Vec<String>>()).await
}

/// Sends a command whose reply is text (CLUSTER NODES, INFO, CLIENT LIST).
pub async fn text_command(client: &Client, parts: &[&str]) -> Result<String, fred::error::Error> {
    let value = command(client, parts).await?;
    Ok(match value {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        other => other.as_string().unwrap_or_default(),
    })
}

/// `INFO <section>` parsed into fields.
pub async fn info_section(client: &Client, section: &str) -> Result<BTreeMap<String, String>, fred::error::Error> {
    Ok(crate::topology::parse_info(&text_command(client, &["INFO", section]).await?))
}

/// Whether an error is the server refusing a command (NOPERM, unknown command, or a proxy's refusal).
pub fn is_refused(err: &fred::error::Error) -> bool {
    let d = err.details().to_ascii_uppercase();
    d.contains("NOPERM")
        || d.contains("UNKNOWN COMMAND")
        || d.contains("CLUSTER SUPPORT DISABLED")
        || d.contains("NOT SUPPORTED")
        || d.contains("UNKNOWN SUBCOMMAND")
        || d.contains("NOT ALLOWED")
}

/// Shared handle to one factory.
pub type SharedFactory = Arc<Factory>;

/// Sends a command routed to the node that owns `slot` (cluster clients), or to the one node otherwise.
pub async fn command_for_slot(client: &Client, slot: u16, parts: &[&str]) -> Result<Value, fred::error::Error> {
    let (name, args) = parts.split_first().expect("a command has a name");
    let cmd = CustomCommand::new(name.to_string(), ClusterHash::Custom(slot), false);
    client.custom(cmd, args.iter().map(|a| a.to_string()).collect::<Vec<String>>()).await
}

/// A short random id for this run, so probe keys of concurrent runs never collide with each other or user data.
pub fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_carry_no_debug_text() {
        let unreachable = fred::error::Error::from(std::io::Error::from_raw_os_error(113));
        let line = connect_error("127.0.0.1:6379", &unreachable, false).to_string();
        assert!(line.ends_with("cannot connect to 127.0.0.1:6379: no route to host"), "{line}");
        let reset = fred::error::Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let line = connect_error("127.0.0.1:6379", &reset, true).to_string();
        assert!(!line.contains("Kind(") && !line.contains("kind:"), "{line}");
        assert!(line.contains("connection reset"), "{line}");
    }
}
