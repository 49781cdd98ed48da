//! Real client libraries in the loop: `--client real:ioredis@5[,options=FILE]`. A preset is a model of a client;
//! a real client is the library itself, at the version and with the options the application uses.
//!
//! node-redis, ioredis and redis-py run in a driver process (a small script shipped inside this binary,
//! [`scripts`]) that speaks JSON lines ([`protocol`]) with the tool; redis-rs is linked in and runs in process
//! ([`redis_rs`]). Either way the engine keeps the schedule, the keys, the bookkeeping and the classification:
//! the library performs each SET and GET and reports its own events. Libraries are installed into the user's
//! cache directory with `clients install` ([`install`]).

pub mod install;
mod prober;
pub mod process;
pub mod protocol;
pub mod redis_rs;
pub mod scripts;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use prober::RealConnection;

use crate::error::AppError;

/// A library this tool can drive for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    /// node-redis (`redis` on npm), `createCluster`.
    NodeRedis,
    /// ioredis (npm), `Redis.Cluster`.
    Ioredis,
    /// redis-py (`redis` on PyPI), `redis.asyncio.cluster.RedisCluster`.
    RedisPy,
    /// redis-rs (the `redis` crate), its async cluster client, linked into this binary.
    RedisRs,
}

impl Lib {
    /// Every library, in listing order.
    pub const ALL: [Lib; 4] = [Lib::NodeRedis, Lib::Ioredis, Lib::RedisPy, Lib::RedisRs];

    /// The name `real:` takes and presets use: `node-redis`.
    pub fn name(self) -> &'static str {
        match self {
            Lib::NodeRedis => "node-redis",
            Lib::Ioredis => "ioredis",
            Lib::RedisPy => "redis-py",
            Lib::RedisRs => "redis-rs",
        }
    }

    /// The package in its registry: `redis` (npm, PyPI), `ioredis`.
    pub fn package(self) -> &'static str {
        match self {
            Lib::NodeRedis | Lib::RedisPy | Lib::RedisRs => "redis",
            Lib::Ioredis => "ioredis",
        }
    }

    fn from_name(name: &str) -> Option<Lib> {
        Lib::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// `real:LIB[@VERSION][,options=FILE]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RealClient {
    /// The library.
    pub lib: Lib,
    /// The version asked for, as typed (`4`, `5.12.1`); `None`: the newest (for redis-rs: the one linked in).
    pub version: Option<String>,
    /// The application's options, a JSON file handed to the library's constructor as it is.
    pub options: Option<PathBuf>,
}

impl RealClient {
    /// Parses what follows `real:`: `ioredis@5`, `node-redis@5.12.1,options=nr.json`.
    pub fn parse(text: &str) -> Result<RealClient, String> {
        let mut parts = text.split(',').map(str::trim);
        let head = parts.next().unwrap_or("");
        let (name, version) = match head.split_once('@') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (head, None),
        };
        let libs: Vec<&str> = Lib::ALL.iter().map(|l| l.name()).collect();
        let lib = Lib::from_name(name)
            .ok_or_else(|| format!("unknown real client '{name}': real: takes {}", libs.join(", ")))?;
        if let Some(v) = &version {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) {
                return Err(format!("real:{name}@{v}: a version is digits and dots, e.g. @5 or @5.12.1"));
            }
        }
        if lib == Lib::RedisRs {
            if let Some(v) = version.as_deref().filter(|v| !redis_rs::VERSION.starts_with(*v)) {
                return Err(format!("real:redis-rs is linked into this binary at {}, not {v}", redis_rs::VERSION));
            }
        }
        let mut options = None;
        for p in parts.filter(|p| !p.is_empty()) {
            match p.split_once('=') {
                Some(("options", file)) if !file.trim().is_empty() => options = Some(PathBuf::from(file.trim())),
                _ => return Err(format!("real:{head}: unknown parameter '{p}' (real clients take options=FILE.json)")),
            }
        }
        if lib == Lib::RedisRs && options.is_some() {
            return Err("real:redis-rs takes no options file (its builder is set from the target)".into());
        }
        Ok(RealClient { lib, version, options })
    }

    /// `ioredis@5`, `ioredis@latest`: the install's name and directory.
    pub fn install_name(&self) -> String {
        format!("{}@{}", self.lib.name(), self.version.as_deref().unwrap_or("latest"))
    }

    /// The user's options, read and checked: a JSON object (`{}` when no file was given).
    pub fn load_options(&self) -> Result<serde_json::Value, AppError> {
        let Some(path) = &self.options else { return Ok(serde_json::json!({})) };
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| AppError::BadInput(format!("options={shown}: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| AppError::BadInput(format!("options={shown}: not JSON ({e})")))?;
        if !value.is_object() {
            return Err(AppError::BadInput(format!("options={shown}: must be a JSON object")));
        }
        Ok(value)
    }

    /// The preset that models this library at this version, among `presets`: same library, and the preset's
    /// version a prefix of `version` (the installed one, `4.7.1`, else the one asked for).
    pub fn preset_among<'a>(&self, presets: &[&'a str], version: &str) -> Option<&'a str> {
        let version = if version.is_empty() { self.version.as_deref().unwrap_or("") } else { version };
        presets.iter().copied().find(|p| {
            p.split_once('@').is_some_and(|(lib, v)| {
                lib == self.lib.name() && (version == v || version.starts_with(&format!("{v}.")))
            })
        })
    }

    /// Checks, before anything starts, that this client can run: its runtime and install are there and its
    /// options file reads. Errors name the one command that fixes them.
    pub fn preflight(&self) -> Result<(), AppError> {
        self.load_options()?;
        if self.lib == Lib::RedisRs {
            return Ok(());
        }
        install::locate(self).map(|_| ())
    }
}

impl fmt::Display for RealClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "real:{}", self.lib.name())?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        if let Some(o) = &self.options {
            write!(f, ",options={}", o.display())?;
        }
        Ok(())
    }
}

/// How long a real client may take to connect: its seeds and slot map, bounded by the target's timeout.
pub fn connect_wait(timeout: Duration) -> Duration {
    (timeout * 5).max(Duration::from_secs(5))
}

/// Starts a real client on `target`: its driver process, or redis-rs in process.
pub async fn connect(
    label: &str,
    real: &RealClient,
    target: &crate::settings::Target,
    events: Option<process::EventSink>,
) -> Result<RealConnection, AppError> {
    let options = real.load_options()?;
    match real.lib {
        Lib::RedisRs => {
            redis_rs::RedisRs::connect(label, target, events).await.map(|r| RealConnection::InProcess(Arc::new(r)))
        }
        _ => {
            let found = install::locate(real)?;
            let cmd = scripts::command(real.lib, &found)?;
            let connect = protocol::Request::Connect {
                seeds: target.seeds.iter().map(|e| e.to_string()).collect(),
                username: target.username.clone(),
                password: target.password.as_ref().map(|p| p.expose().to_string()),
                tls: target.tls,
                tls_ca: target.tls_ca.as_ref().map(|p| p.display().to_string()),
                insecure: target.insecure,
                connect_timeout_ms: u64::try_from(target.timeout.as_millis()).unwrap_or(u64::MAX),
                ready_within_ms: u64::try_from(connect_wait(target.timeout).as_millis()).unwrap_or(u64::MAX),
                options,
            };
            let wait = connect_wait(target.timeout);
            let d = process::Driver::start(label, cmd, connect, wait, events).await?;
            Ok(RealConnection::Process(Arc::new(d)))
        }
    }
}
