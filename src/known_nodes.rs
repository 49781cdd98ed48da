//! The cluster nodes last seen behind a set of seeds, kept in a small file of the user's cache directory, so a
//! later run whose seed node died (or was replaced) can still reach the cluster through a node it knew. Holds
//! host:port pairs only, never credentials. Best effort: a cache that cannot be read or written is no error.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::topology::{Endpoint, Topology};

/// What the cache holds for one set of seeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownNodes {
    /// The seeds these nodes were found behind.
    pub seeds: Vec<Endpoint>,
    /// Every node of the last topology read (primaries and replicas).
    pub nodes: Vec<Endpoint>,
    /// When they were seen (RFC 3339).
    pub seen_at: String,
}

/// The cache directory: `$RFP_CACHE_DIR`, else `$XDG_CACHE_HOME/redis-failover-probe`, else
/// `~/.cache/redis-failover-probe`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RFP_CACHE_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("redis-failover-probe"))
}

/// The file for `seeds` (order does not matter).
fn file_for(seeds: &[Endpoint]) -> Option<PathBuf> {
    Some(cache_dir()?.join("known-nodes").join(format!("{}.json", file_name(seeds))))
}

fn file_name(seeds: &[Endpoint]) -> String {
    let mut names: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    names.sort();
    names.dedup();
    let joined = names.join("+");
    let safe: String = joined
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') { c } else { '_' })
        .collect();
    safe.chars().take(200).collect()
}

/// Records the nodes of `topology` as known behind `seeds`. Written only when the node set changed.
pub fn remember(seeds: &[Endpoint], topology: &Topology, seen_at: &str) {
    let mut nodes = topology.endpoints();
    nodes.sort();
    nodes.dedup();
    if nodes.is_empty() || seeds.is_empty() {
        return;
    }
    if recall(seeds).is_some_and(|k| k.nodes == nodes) {
        return;
    }
    let Some(path) = file_for(seeds) else { return };
    let known = KnownNodes { seeds: seeds.to_vec(), nodes, seen_at: seen_at.to_string() };
    let Ok(text) = serde_json::to_string_pretty(&known) else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Written aside and renamed, so a reader never sees half a file.
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The nodes last known behind `seeds`, if any were recorded.
pub fn recall(seeds: &[Endpoint]) -> Option<KnownNodes> {
    let text = std::fs::read_to_string(file_for(seeds)?).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_ignore_seed_order_and_strip_odd_characters() {
        let a = [Endpoint::new("10.0.0.1", 7000), Endpoint::new("h/x", 7001)];
        let b = [a[1].clone(), a[0].clone()];
        assert_eq!(file_name(&a), file_name(&b));
        assert!(!file_name(&a).contains('/'), "{}", file_name(&a));
    }
}
