//! How the tool connects to Redis: the connection mode every layer below the command line shares.

use clap::ValueEnum;

/// How the tool connects to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One node, no cluster awareness.
    Standalone,
    /// A cluster-aware client: slot routing, MOVED/ASK, topology discovered from the seeds.
    OssCluster,
    /// One endpoint behind a proxy (Azure Enterprise policy): a plain client; CLUSTER commands may be refused.
    Enterprise,
}

impl Mode {
    /// The flag value, e.g. `oss-cluster`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::OssCluster => "oss-cluster",
            Mode::Enterprise => "enterprise",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
