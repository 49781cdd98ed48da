//! Tokens from a command (`--password-command`), e.g. the Azure CLI's access-token query for Microsoft Entra ID
//! authentication: run once, used as the password, run again before it expires, and fred re-authenticates its
//! connections. The token is registered as a secret, so it is never printed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::error::{Error, ErrorKind};
use fred::types::config::{CredentialProvider, Server};

use crate::secret::Secret;

/// How long the command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A credential provider that runs a shell command and uses its output as the password.
#[derive(Debug)]
pub struct CommandCredentials {
    command: String,
    username: Option<String>,
    refresh: Duration,
    cache: Mutex<Option<(Instant, Secret)>>,
}

impl CommandCredentials {
    /// A provider running `command` (through `sh -c`), refreshing every `refresh`.
    pub fn new(command: String, username: Option<String>, refresh: Duration) -> Self {
        CommandCredentials { command, username, refresh, cache: Mutex::new(None) }
    }

    /// Runs the command now and returns its trimmed output.
    pub async fn run_command(&self) -> Result<Secret, String> {
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(format!("--password-command could not run: {e}")),
            Err(_) => return Err("--password-command did not finish within 30s".into()),
        };
        if !out.status.success() {
            // Its stderr may hold the token's neighbours (tenant ids, hints); keep only the first line.
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "--password-command failed ({}): {}",
                out.status,
                crate::secret::scrub(err.lines().next().unwrap_or(""))
            ));
        }
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if token.is_empty() {
            return Err("--password-command printed nothing".into());
        }
        Ok(Secret::new(token))
    }

    /// The current token: cached while younger than the refresh interval.
    pub async fn token(&self) -> Result<Secret, String> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, token)) = cache.as_ref() {
                if at.elapsed() < self.refresh {
                    return Ok(token.clone());
                }
            }
        }
        let token = self.run_command().await?;
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), token.clone()));
        }
        Ok(token)
    }
}

#[async_trait::async_trait]
impl CredentialProvider for CommandCredentials {
    async fn fetch(&self, _server: Option<&Server>) -> Result<(Option<String>, Option<String>), Error> {
        let token = self.token().await.map_err(|e| Error::new(ErrorKind::Auth, e))?;
        Ok((self.username.clone(), Some(token.expose().to_string())))
    }

    fn refresh_interval(&self) -> Option<Duration> {
        Some(self.refresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_token_is_cached_until_the_refresh_interval() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("n");
        let cmd = format!("echo x >> {0}; echo token-$(wc -l < {0})", counter.display());
        let c = CommandCredentials::new(cmd, None, Duration::from_millis(200));
        assert_eq!(c.token().await.unwrap().expose(), "token-1");
        assert_eq!(c.token().await.unwrap().expose(), "token-1");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(c.token().await.unwrap().expose(), "token-2");
        assert_eq!(crate::secret::scrub("auth token-2 failed"), "auth *** failed");
    }

    #[tokio::test]
    async fn a_failing_command_is_one_clear_line() {
        let c = CommandCredentials::new("echo nope >&2; exit 3".into(), None, Duration::from_secs(60));
        let e = c.token().await.unwrap_err();
        assert!(e.contains("--password-command failed") && e.contains("nope"), "{e}");
        let c = CommandCredentials::new("true".into(), None, Duration::from_secs(60));
        assert!(c.token().await.unwrap_err().contains("printed nothing"));
    }
}
