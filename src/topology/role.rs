//! Replication role of a cluster node, normalised across the spellings Redis uses
//! (`master`/`slave` in `CLUSTER NODES`, `master`/`replica` in `CLUSTER SHARDS`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a node serves slots itself or replicates another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves writes for its slots (Redis calls it `master`).
    Primary,
    /// Replicates a primary (Redis calls it `slave` or `replica`).
    Replica,
    /// Neither role is reported, e.g. a node still in handshake.
    Unknown,
}

impl Role {
    /// Maps a role word as Redis prints it; anything unrecognised is [`Role::Unknown`].
    pub fn from_redis(word: &str) -> Role {
        match word.to_ascii_lowercase().as_str() {
            "master" | "primary" => Role::Primary,
            "slave" | "replica" => Role::Replica,
            _ => Role::Unknown,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
            Role::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_redis_spellings() {
        assert_eq!(Role::from_redis("master"), Role::Primary);
        assert_eq!(Role::from_redis("MASTER"), Role::Primary);
        assert_eq!(Role::from_redis("slave"), Role::Replica);
        assert_eq!(Role::from_redis("replica"), Role::Replica);
        assert_eq!(Role::from_redis("handshake"), Role::Unknown);
    }

    #[test]
    fn serialises_snake_case() {
        assert_eq!(serde_json::to_string(&Role::Primary).unwrap(), "\"primary\"");
        assert_eq!(serde_json::from_str::<Role>("\"replica\"").unwrap(), Role::Replica);
        assert_eq!(Role::Unknown.to_string(), "unknown");
    }
}
