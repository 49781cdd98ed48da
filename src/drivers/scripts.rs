//! The driver scripts, shipped inside the binary and written next to the installs on first use (one directory
//! per content, so a newer binary never runs an older script): `node_common.js` with the protocol loop for both
//! node libraries, `node_redis.js`, `ioredis.js`, and `redis_py.py`.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::install::Found;
use super::Lib;
use crate::error::AppError;

/// Every script, by file name.
pub const SCRIPTS: [(&str, &str); 4] = [
    ("node_common.js", include_str!("scripts/node_common.js")),
    ("node_redis.js", include_str!("scripts/node_redis.js")),
    ("ioredis.js", include_str!("scripts/ioredis.js")),
    ("redis_py.py", include_str!("scripts/redis_py.py")),
];

/// The script that drives `lib`.
pub fn script_for(lib: Lib) -> Option<&'static str> {
    match lib {
        Lib::NodeRedis => Some("node_redis.js"),
        Lib::Ioredis => Some("ioredis.js"),
        Lib::RedisPy => Some("redis_py.py"),
        Lib::RedisRs => None,
    }
}

/// Writes the scripts under `root` (once per content) and returns their directory.
pub fn materialize(root: &Path) -> Result<PathBuf, AppError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, body) in SCRIPTS {
        for b in name.bytes().chain(body.bytes()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let dir = root.join("drivers").join(format!("v{}-{hash:016x}", super::protocol::PROTOCOL));
    let fail =
        |e: std::io::Error| AppError::Driver(format!("cannot write the driver scripts to {}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    for (name, body) in SCRIPTS {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(body) {
            // Written aside and renamed, so two runs starting at once never read half a script.
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::write(&tmp, body).map_err(fail)?;
            std::fs::rename(&tmp, &path).map_err(fail)?;
        }
    }
    Ok(dir)
}

/// The command that starts `lib`'s driver from its install.
pub fn command(lib: Lib, found: &Found) -> Result<Command, AppError> {
    let script = script_for(lib).ok_or_else(|| AppError::Driver(format!("{} has no driver script", lib.name())))?;
    let dir = materialize(&super::install::root()?)?;
    let mut cmd = Command::new(&found.program);
    cmd.arg(dir.join(script)).current_dir(&found.dir).env("PYTHONUNBUFFERED", "1").env("PYTHONDONTWRITEBYTECODE", "1");
    if matches!(lib, Lib::NodeRedis | Lib::Ioredis) {
        cmd.env("NODE_PATH", found.dir.join("node_modules"));
    }
    Ok(cmd)
}
