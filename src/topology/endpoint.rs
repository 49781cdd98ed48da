//! Network address of a cluster node (`host:port`), with the bracket rules needed
//! for IPv6 so that endpoints print and parse the way operators type them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Host and port a Redis node advertises to clients.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// Host name or IP address; IPv6 addresses are stored without brackets.
    pub host: String,
    /// TCP port (0 when Redis does not know the address, e.g. `noaddr` nodes).
    pub port: u16,
}

impl Endpoint {
    /// Builds an endpoint, stripping brackets from an IPv6 host such as `[::1]`.
    pub fn new(host: impl Into<String>, port: u16) -> Endpoint {
        let host = host.into();
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner.to_string(),
            None => host,
        };
        Endpoint { host, port }
    }

    /// Whether Redis reported no usable address (`:0` for `noaddr`, `?` for an unknown endpoint).
    pub fn is_unknown(&self) -> bool {
        self.port == 0 || self.host.is_empty() || self.host == "?"
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a string is not a `host:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointParseError {
    /// There is no `:port` part.
    #[error("endpoint {0:?} has no port (expected host:port or [ipv6]:port)")]
    MissingPort(String),
    /// The port is not a number in 0..=65535.
    #[error("endpoint {input:?} has an invalid port {port:?}")]
    InvalidPort {
        /// The whole input.
        input: String,
        /// The text after the last `:`.
        port: String,
    },
    /// A `[` opens an IPv6 address that is never closed.
    #[error("endpoint {0:?} has an unclosed '['")]
    UnclosedBracket(String),
}

impl FromStr for Endpoint {
    type Err = EndpointParseError;

    /// Parses `host:port`, `[ipv6]:port`, and also bare `ipv6:port` as `CLUSTER NODES`
    /// prints it (the last `:` separates the port).
    fn from_str(s: &str) -> Result<Endpoint, EndpointParseError> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) =
                rest.split_once(']').ok_or_else(|| EndpointParseError::UnclosedBracket(s.to_string()))?;
            let port = after.strip_prefix(':').ok_or_else(|| EndpointParseError::MissingPort(s.to_string()))?;
            (host, port)
        } else {
            s.rsplit_once(':').ok_or_else(|| EndpointParseError::MissingPort(s.to_string()))?
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| EndpointParseError::InvalidPort { input: s.to_string(), port: port.to_string() })?;
        Ok(Endpoint { host: host.to_string(), port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_ipv4_and_hostnames() {
        let e: Endpoint = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(e, Endpoint::new("127.0.0.1", 7000));
        assert_eq!(e.to_string(), "127.0.0.1:7000");
        let h: Endpoint = "redis-0.redis.svc:6379".parse().unwrap();
        assert_eq!(h.host, "redis-0.redis.svc");
        assert_eq!(h.port, 6379);
    }

    #[test]
    fn parses_and_prints_ipv6() {
        let e: Endpoint = "[2001:db8::1]:6380".parse().unwrap();
        assert_eq!(e.host, "2001:db8::1");
        assert_eq!(e.port, 6380);
        assert_eq!(e.to_string(), "[2001:db8::1]:6380");
        // CLUSTER NODES prints IPv6 without brackets.
        let bare: Endpoint = "::1:30001".parse().unwrap();
        assert_eq!(bare, Endpoint::new("[::1]", 30001));
        assert_eq!(bare.to_string(), "[::1]:30001");
    }

    #[test]
    fn noaddr_is_unknown() {
        let e: Endpoint = ":0".parse().unwrap();
        assert_eq!(e, Endpoint::new("", 0));
        assert!(e.is_unknown());
        assert!(Endpoint::new("?", 6379).is_unknown());
        assert!(!Endpoint::new("10.0.0.1", 6379).is_unknown());
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!("localhost".parse::<Endpoint>(), Err(EndpointParseError::MissingPort("localhost".into())));
        assert!(matches!("localhost:99999".parse::<Endpoint>(), Err(EndpointParseError::InvalidPort { .. })));
        assert!(matches!("[::1:6379".parse::<Endpoint>(), Err(EndpointParseError::UnclosedBracket(_))));
        assert!(matches!("[::1]6379".parse::<Endpoint>(), Err(EndpointParseError::MissingPort(_))));
    }

    #[test]
    fn orders_by_host_then_port_and_serialises() {
        let mut v = [Endpoint::new("b", 1), Endpoint::new("a", 7001), Endpoint::new("a", 7000)];
        v.sort();
        assert_eq!(v[0], Endpoint::new("a", 7000));
        assert_eq!(v[2], Endpoint::new("b", 1));
        assert_eq!(serde_json::to_string(&v[0]).unwrap(), r#"{"host":"a","port":7000}"#);
    }
}
