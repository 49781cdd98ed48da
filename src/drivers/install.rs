//! Installing real client libraries into the user's cache directory and finding them again: npm into a prefix
//! of its own per install, pip into a venv of its own, so no install touches the system or another install.
//! `$XDG_CACHE_HOME/redis-failover-probe/clients/ioredis@5/` (or `~/.cache/...`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Lib, RealClient};
use crate::error::AppError;

/// How long one install may take (npm and pip have their own network timeouts too).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Where installs live.
pub fn root() -> Result<PathBuf, AppError> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache"),
            None => return Err(AppError::Driver("neither XDG_CACHE_HOME nor HOME is set: nowhere to install".into())),
        },
    };
    Ok(base.join("redis-failover-probe").join("clients"))
}

/// One installed library, as `clients list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// `ioredis@5`: what `real:` takes.
    pub name: String,
    /// The version installed: `5.8.2`.
    pub version: String,
    /// Its directory.
    pub path: String,
}

/// Where an install is and what runs it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The install's directory.
    pub dir: PathBuf,
    /// The program to run the driver with: `node`, or the venv's python.
    pub program: PathBuf,
}

/// Finds `real`'s install, or says the one command that makes it.
pub fn locate(real: &RealClient) -> Result<Found, AppError> {
    let dir = root()?.join(real.install_name());
    let hint = || {
        AppError::Driver(format!(
            "{real} is not installed: run `redis-failover-probe clients install {}`",
            real.install_name()
        ))
    };
    match real.lib {
        Lib::NodeRedis | Lib::Ioredis => {
            if installed_version(real.lib, &dir).is_none() {
                return Err(hint());
            }
            let node = which("node").ok_or_else(|| {
                AppError::Driver(format!("{real} needs node, which is not on PATH (apt-get install nodejs)"))
            })?;
            Ok(Found { dir, program: node })
        }
        Lib::RedisPy => {
            let python = dir.join("venv/bin/python");
            if installed_version(real.lib, &dir).is_none() || !python.exists() {
                return Err(hint());
            }
            Ok(Found { dir, program: python })
        }
        Lib::RedisRs => Err(AppError::Driver("real:redis-rs runs in process: nothing to locate".into())),
    }
}

/// The version installed in `dir`, read from the package's own metadata.
pub fn installed_version(lib: Lib, dir: &Path) -> Option<String> {
    match lib {
        Lib::NodeRedis | Lib::Ioredis => {
            let text =
                std::fs::read_to_string(dir.join("node_modules").join(lib.package()).join("package.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v.get("version")?.as_str().map(str::to_string)
        }
        Lib::RedisPy => {
            let lib_dir = dir.join("venv/lib");
            for py in std::fs::read_dir(lib_dir).ok()?.flatten() {
                for entry in std::fs::read_dir(py.path().join("site-packages")).ok()?.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(v) = name.strip_prefix("redis-").and_then(|n| n.strip_suffix(".dist-info")) {
                        return Some(v.to_string());
                    }
                }
            }
            None
        }
        Lib::RedisRs => Some(super::redis_rs::VERSION.to_string()),
    }
}

/// Every install under [`root`], sorted by name; redis-rs (linked in) first.
pub fn list() -> Result<Vec<Installed>, AppError> {
    let root = root()?;
    let mut out = vec![Installed {
        name: format!("redis-rs@{}", super::redis_rs::VERSION),
        version: super::redis_rs::VERSION.to_string(),
        path: "(linked into this binary)".into(),
    }];
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(real) = RealClient::parse(&name) else { continue };
            if let Some(version) = installed_version(real.lib, &e.path()) {
                found.push(Installed { name, version, path: e.path().display().to_string() });
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(found);
    Ok(out)
}

/// The registry requirement for `real`: npm takes `ioredis@5` as it is; pip takes `redis==8.*`.
pub fn requirement(real: &RealClient) -> String {
    match (real.lib, real.version.as_deref()) {
        (Lib::RedisPy, None) => "redis".into(),
        (Lib::RedisPy, Some(v)) if v.split('.').count() >= 3 => format!("redis=={v}"),
        (Lib::RedisPy, Some(v)) => format!("redis=={v}.*"),
        (lib, None) => format!("{}@latest", lib.package()),
        (lib, Some(v)) => format!("{}@{v}", lib.package()),
    }
}

/// Installs `real` (again, when it is there: an install is cheap and brings the newest matching version).
/// Progress goes to stderr; the result is what was installed.
pub async fn install(real: &RealClient) -> Result<Installed, AppError> {
    if real.lib == Lib::RedisRs {
        return Err(AppError::BadInput(format!(
            "redis-rs needs no install: it is linked into this binary ({})",
            super::redis_rs::VERSION
        )));
    }
    let dir = root()?.join(real.install_name());
    std::fs::create_dir_all(&dir).map_err(|e| AppError::Driver(format!("cannot create {}: {e}", dir.display())))?;
    let want = requirement(real);
    match real.lib {
        Lib::NodeRedis | Lib::Ioredis => {
            let npm = which("npm").ok_or_else(|| {
                AppError::Driver("npm is not on PATH: install Node.js and npm (apt-get install nodejs npm)".into())
            })?;
            let prefix = dir.display().to_string();
            let args = [
                "install",
                "--prefix",
                &prefix,
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--fetch-timeout=60000",
                &want,
            ];
            run(real, &npm, &args).await?;
        }
        Lib::RedisPy => {
            let python = which("python3").ok_or_else(|| {
                AppError::Driver("python3 is not on PATH (apt-get install python3 python3-venv)".into())
            })?;
            let venv = dir.join("venv");
            if !venv.join("bin/python").exists() {
                let v = venv.display().to_string();
                run(real, &python, &["-m", "venv", &v])
                    .await
                    .map_err(|e| AppError::Driver(format!("{e} (on Debian/Ubuntu: apt-get install python3-venv)")))?;
            }
            let pip = venv.join("bin/pip");
            run(
                real,
                &pip,
                &["install", "--quiet", "--disable-pip-version-check", "--timeout", "60", "--upgrade", &want],
            )
            .await?;
        }
        Lib::RedisRs => unreachable!("refused above"),
    }
    let version = installed_version(real.lib, &dir).ok_or_else(|| {
        AppError::Driver(format!("{real}: the install finished but {} is not in {}", want, dir.display()))
    })?;
    Ok(Installed { name: real.install_name(), version, path: dir.display().to_string() })
}

/// Runs one install step, bounded, its output passed to stderr; a failure is one line with its last words.
async fn run(real: &RealClient, program: &Path, args: &[&str]) -> Result<(), AppError> {
    let name = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    eprintln!("{}: {name} {}", real.install_name(), args.join(" "));
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AppError::Driver(format!("{}: cannot run {name}: {e}", real.install_name())))?;
    let out = tokio::time::timeout(INSTALL_TIMEOUT, child.wait_with_output()).await.map_err(|_| {
        AppError::Driver(format!(
            "{}: {name} did not finish within {}",
            real.install_name(),
            humantime::format_duration(INSTALL_TIMEOUT)
        ))
    })?;
    let out = out.map_err(|e| AppError::Driver(format!("{}: {name}: {e}", real.install_name())))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
    Err(AppError::Driver(format!("{}: {name} failed ({}): {}", real.install_name(), out.status, last.trim())))
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_follow_each_registrys_syntax() {
        let r = |s: &str| requirement(&RealClient::parse(s).unwrap());
        assert_eq!(r("node-redis@4"), "redis@4");
        assert_eq!(r("ioredis"), "ioredis@latest");
        assert_eq!(r("redis-py@8"), "redis==8.*");
        assert_eq!(r("redis-py@7.4"), "redis==7.4.*");
        assert_eq!(r("redis-py@5.12.1"), "redis==5.12.1");
    }

    #[test]
    fn versions_are_read_from_the_packages_own_metadata() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(installed_version(Lib::Ioredis, dir.path()), None);
        let pkg = dir.path().join("node_modules/ioredis");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("package.json"), r#"{"name":"ioredis","version":"5.8.2"}"#).unwrap();
        assert_eq!(installed_version(Lib::Ioredis, dir.path()).as_deref(), Some("5.8.2"));
        let site = dir.path().join("venv/lib/python3.11/site-packages/redis-8.1.0.dist-info");
        std::fs::create_dir_all(site).unwrap();
        assert_eq!(installed_version(Lib::RedisPy, dir.path()).as_deref(), Some("8.1.0"));
    }
}
