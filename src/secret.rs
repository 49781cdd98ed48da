//! Secrets: a wrapper that never prints its value, and a last-line scrubber for anything that leaves the process.

use std::fmt;
use std::sync::{Mutex, OnceLock};

/// A password, access key or token. `Debug` and `Display` show `***`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it with the scrubber, so it is masked in any text the tool prints or writes.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The secret value, for the one place that sends it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a secret value so that [`scrub`] masks it. Values shorter than 3 characters are not registered:
/// masking them would mangle ordinary text and they are not worth protecting that way.
pub fn register(value: &str) {
    if value.len() < 3 {
        return;
    }
    let mut list = registry().lock().unwrap_or_else(|p| p.into_inner());
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
        // Longest first, so a secret that contains another is masked whole.
        list.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// Masks every registered secret and every URL password in `text`.
pub fn scrub(text: &str) -> String {
    let mut out = redact_urls(text);
    let list = registry().lock().unwrap_or_else(|p| p.into_inner());
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// Replaces the password of every `scheme://user:password@host` in `text` with `***`, without parsing the URL,
/// so that even a malformed URL in an error message is masked.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '`' || c == '/' || c == ')')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    // A lone userinfo is the password in redis:// URLs (`redis://secret@host`).
                    None if !userinfo.is_empty() => out.push_str("***"),
                    None => {}
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_displays_its_value() {
        let s = Secret::new("hunter2-value");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2-value");
    }

    #[test]
    fn scrub_masks_registered_values() {
        let _ = Secret::new("tok-123456-abc");
        assert_eq!(scrub("auth failed for tok-123456-abc!"), "auth failed for ***!");
    }

    #[test]
    fn url_passwords_are_masked_even_when_malformed() {
        assert_eq!(
            redact_urls("bad url 'rediss://user:p@ss:w0rd@host:99999/0' here"),
            "bad url 'rediss://user:***@host:99999/0' here"
        );
        assert_eq!(redact_urls("redis://onlypass@h:1"), "redis://***@h:1");
        assert_eq!(redact_urls("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact_urls("no url"), "no url");
    }
}
