//! The keeper of a detached lab. `lab up --detach` starts the binary again in keeper mode, in a session of its
//! own: the keeper starts the lab, so every node is its child, writes the state file, and stays. Scenarios of
//! `lab run` run inside it (asked over a Unix socket in the lab dir), so the nodes a replacement starts are its
//! children too; `lab down` asks it to stop, and it kills and reaps every process before it exits. Without a
//! keeper the processes would belong to PID 1 once `lab up` exited, and in a container whose PID 1 does not reap,
//! every stopped node would stay a zombie.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{process, Lab, LabState, Scenario, ScenarioKind, ScenarioReport};
use crate::error::{AppError, AppResult};
use crate::exit::ExitCode;

/// What `lab run` or `lab down` asks of a keeper: one JSON line on its socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Run a scenario and reply with its report.
    Run {
        /// The scenario.
        scenario: ScenarioKind,
        /// Target shard.
        shard: Option<usize>,
        /// hang-primary: how long, ms.
        hang_for_ms: Option<u64>,
        /// replace-node: the replica instead of the primary.
        replica: bool,
        /// replace-node, rolling-replace: the drain, ms.
        drain_ms: Option<u64>,
    },
    /// Stop every process, remove the state file and exit.
    Down,
}

/// The keeper's answer: one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The scenario ran.
    Ran {
        /// Its report.
        report: Box<ScenarioReport>,
    },
    /// The scenario failed: the error line and its exit code.
    Failed {
        /// What went wrong.
        error: String,
        /// The exit code it carries.
        exit: i32,
    },
    /// Every process is stopped and reaped; the keeper exits.
    Stopped,
}

/// The keeper's socket of a lab.
pub fn socket(state: &LabState) -> PathBuf {
    state.dir.join("keeper.sock")
}

/// Whether a keeper serves this state's lab: its pid runs this binary in keeper mode and its socket exists.
pub fn alive(state: &LabState) -> bool {
    let Some(pid) = state.keeper_pid else { return false };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    process::pid_running(pid) && cmdline.split(|b| *b == 0).any(|arg| arg == b"--keeper") && socket(state).exists()
}

/// Serves `lab` until `lab down` or a signal: runs scenarios one at a time, rewrites `state_file` after each, and
/// on the way out stops and reaps every process and removes the state file.
pub async fn serve(mut lab: Lab, state_file: &Path) -> AppResult<()> {
    let mut state = lab.state();
    state.keeper_pid = Some(std::process::id());
    let path = socket(&state);
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).map_err(|e| AppError::Lab(format!("cannot listen on {}: {e}", path.display())))?;
    state.write(state_file)?;
    let stop = crate::signals::interrupted();
    tokio::pin!(stop);
    let mut answered_down: Option<UnixStream> = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                match serve_one(&mut lab, stream, state_file).await {
                    Some(stream) => {
                        answered_down = Some(stream);
                        break;
                    }
                    None => continue,
                }
            }
        }
    }
    lab.shutdown().await;
    let _ = std::fs::remove_file(state_file);
    let _ = std::fs::remove_file(&path);
    // Only now, with every process reaped, does `lab down` hear that the lab is gone.
    if let Some(mut stream) = answered_down {
        let _ = write_reply(&mut stream, &Reply::Stopped).await;
    }
    Ok(())
}

/// Handles one connection; returns the stream when it asked for `Down` (answered once everything is stopped).
async fn serve_one(lab: &mut Lab, stream: UnixStream, state_file: &Path) -> Option<UnixStream> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    let mut stream = reader.into_inner();
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return None;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Down) => return Some(stream),
        Ok(Request::Run { scenario, shard, hang_for_ms, replica, drain_ms }) => {
            let scenario = Scenario::from_kind(
                scenario,
                shard,
                hang_for_ms.map(Duration::from_millis),
                replica,
                drain_ms.map(Duration::from_millis),
            );
            let result = lab.run(&scenario).await;
            // New nodes and retired ones are recorded even when the scenario failed half-way.
            let mut state = lab.state();
            state.keeper_pid = Some(std::process::id());
            let written = state.write(state_file);
            match (result, written) {
                (Ok(report), Ok(())) => Reply::Ran { report: Box::new(report) },
                (Err(e), _) | (Ok(_), Err(e)) => Reply::Failed { error: e.to_string(), exit: e.exit_code().code() },
            }
        }
        Err(e) => Reply::Failed { error: format!("not a keeper request: {e}"), exit: ExitCode::BadInput.code() },
    };
    let _ = write_reply(&mut stream, &reply).await;
    None
}

async fn write_reply(stream: &mut UnixStream, reply: &Reply) -> std::io::Result<()> {
    let line = serde_json::to_string(reply).unwrap_or_default() + "\n";
    stream.write_all(line.as_bytes()).await?;
    stream.flush().await
}

/// Sends one request to the keeper of `state` and waits up to `limit` for its reply.
pub async fn ask(state: &LabState, request: &Request, limit: Duration) -> AppResult<Reply> {
    let path = socket(state);
    let talk = async {
        let mut stream = UnixStream::connect(&path).await?;
        let line = serde_json::to_string(request).unwrap_or_default() + "\n";
        stream.write_all(line.as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).await?;
        Ok::<String, std::io::Error>(reply)
    };
    let text = tokio::time::timeout(limit, talk)
        .await
        .map_err(|_| {
            AppError::Lab(format!("the lab's keeper did not answer within {}", crate::duration::human(limit)))
        })?
        .map_err(|e| AppError::Lab(format!("the lab's keeper ({}): {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| AppError::Lab(format!("the lab's keeper answered nonsense: {e}")))
}

/// The error a keeper's `Failed` reply stands for, with the same exit code.
pub fn failure(error: String, exit: i32) -> AppError {
    if exit == ExitCode::BadInput.code() {
        AppError::BadInput(error)
    } else {
        AppError::Lab(error.strip_prefix("lab: ").unwrap_or(&error).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_are_one_json_line_each() {
        let r = Request::Run {
            scenario: ScenarioKind::KillPrimary,
            shard: Some(1),
            hang_for_ms: None,
            replica: false,
            drain_ms: Some(0),
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains('\n') && line.contains(r#""request":"run""#), "{line}");
        assert!(matches!(serde_json::from_str::<Request>(&line).unwrap(), Request::Run { shard: Some(1), .. }));
        let failed = serde_json::to_string(&Reply::Failed { error: "x".into(), exit: 2 }).unwrap();
        assert!(matches!(serde_json::from_str::<Reply>(&failed).unwrap(), Reply::Failed { exit: 2, .. }));
    }

    #[test]
    fn a_failure_keeps_its_exit_code() {
        assert_eq!(failure("--shard 3: no such shard".into(), 2).exit_code(), ExitCode::BadInput);
        let lab = failure("lab: promotion after kill: not done within 25s".into(), 4);
        assert_eq!(lab.exit_code(), ExitCode::Lab);
        assert_eq!(lab.to_string(), "lab: promotion after kill: not done within 25s");
    }
}
