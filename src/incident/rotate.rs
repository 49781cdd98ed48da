//! The baseline events file of a long run, capped in size: when `FILE` reaches half the cap it becomes
//! `FILE.1` (the older `FILE.1` is dropped) and a new `FILE` starts, so the two never hold more than the cap.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{AppError, AppResult};
use crate::events::Event;

/// A JSON-lines events file that rotates by size.
pub struct RotatingLog {
    path: PathBuf,
    cap: u64,
    written: u64,
    out: BufWriter<File>,
}

impl RotatingLog {
    /// Creates (truncates) `path`; `cap` bounds `path` and `path.1` together.
    pub fn create(path: &Path, cap: u64) -> AppResult<Self> {
        let out = open(path)?;
        Ok(RotatingLog { path: path.to_path_buf(), cap: cap.max(2), written: 0, out })
    }

    /// The rotated file's path: `FILE.1`.
    pub fn rotated_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".1");
        PathBuf::from(name)
    }

    /// Appends one event (passwords scrubbed) and flushes; rotates first when the line would pass half the cap.
    pub fn write(&mut self, ev: &Event) -> AppResult<()> {
        let line = crate::secret::scrub(&serde_json::to_string(ev).unwrap_or_default());
        let len = line.len() as u64 + 1;
        if self.written > 0 && self.written + len > self.cap / 2 {
            self.out.flush().map_err(|e| self.fail(e))?;
            std::fs::rename(&self.path, self.rotated_path()).map_err(|e| self.fail(e))?;
            self.out = open(&self.path)?;
            self.written = 0;
        }
        self.out
            .write_all(line.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"))
            .and_then(|_| self.out.flush())
            .map_err(|e| self.fail(e))?;
        self.written += len;
        Ok(())
    }

    fn fail(&self, e: std::io::Error) -> AppError {
        AppError::Local(format!("writing {} failed: {e}", self.path.display()))
    }
}

fn open(path: &Path) -> AppResult<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| AppError::BadInput(format!("cannot write the events file {}: {e}", path.display())))
}
