//! Which address a rehearsal's probes start from on a cluster lab.

use serde::{Deserialize, Serialize};

/// The seed of the probes on a cluster lab (`--seed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedKind {
    /// A stable discovery endpoint (HAProxy forwarding to any live node), as a managed OSS cluster's public
    /// address is.
    #[default]
    Proxy,
    /// No proxy: the node that owns slot 0 (the default victim of kill-primary), as a client configured with one
    /// node's address.
    Node,
}

impl SeedKind {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            SeedKind::Proxy => "proxy",
            SeedKind::Node => "node",
        }
    }
}

impl std::fmt::Display for SeedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn flag_values() {
        for k in SeedKind::value_variants() {
            assert_eq!(k.to_possible_value().unwrap().get_name(), k.as_str());
        }
        assert_eq!(SeedKind::default(), SeedKind::Proxy);
    }
}
