//! What one probe operation came to: success, or a failure sorted into an
//! [`ErrorClass`] that says *why* a shard was unavailable (refused
//! connection, cluster redirect, read-only replica, ...). Classification works
//! on fred errors and on the raw Redis / IO text they carry.

use std::fmt;

use fred::error::{Error as FredError, ErrorKind};
use serde::{Deserialize, Serialize};

/// Why a probe failed; the snake_case names are part of the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The operation or the connection attempt timed out.
    Timeout,
    /// TCP connection refused: nothing listens on the address (yet).
    ConnectionRefused,
    /// An established connection was reset, closed or cancelled.
    ConnectionClosed,
    /// `MOVED`: the slot lives on another node.
    Moved,
    /// `ASK`: the slot is being migrated.
    Ask,
    /// `CLUSTERDOWN`: the cluster is not serving this slot.
    ClusterDown,
    /// `READONLY`: a write reached a replica.
    ReadOnly,
    /// `LOADING`: the node is loading its dataset.
    Loading,
    /// `MASTERDOWN`: a replica lost its link to the master.
    MasterDown,
    /// `NOAUTH` / `WRONGPASS`: authentication required or rejected.
    Auth,
    /// `NOPERM`: the ACL user may not run the command.
    NoPerm,
    /// `TRYAGAIN`: multi-key operation during resharding.
    TryAgain,
    /// The shard answered, but a read returned a value other than the one written.
    WrongValue,
    /// Anything not recognised above.
    Other,
}

impl ErrorClass {
    /// Every class, in declaration (and `Ord`) order.
    pub const ALL: [ErrorClass; 14] = [
        ErrorClass::Timeout,
        ErrorClass::ConnectionRefused,
        ErrorClass::ConnectionClosed,
        ErrorClass::Moved,
        ErrorClass::Ask,
        ErrorClass::ClusterDown,
        ErrorClass::ReadOnly,
        ErrorClass::Loading,
        ErrorClass::MasterDown,
        ErrorClass::Auth,
        ErrorClass::NoPerm,
        ErrorClass::TryAgain,
        ErrorClass::WrongValue,
        ErrorClass::Other,
    ];

    /// The snake_case name, identical to the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionRefused => "connection_refused",
            ErrorClass::ConnectionClosed => "connection_closed",
            ErrorClass::Moved => "moved",
            ErrorClass::Ask => "ask",
            ErrorClass::ClusterDown => "cluster_down",
            ErrorClass::ReadOnly => "read_only",
            ErrorClass::Loading => "loading",
            ErrorClass::MasterDown => "master_down",
            ErrorClass::Auth => "auth",
            ErrorClass::NoPerm => "no_perm",
            ErrorClass::TryAgain => "try_again",
            ErrorClass::WrongValue => "wrong_value",
            ErrorClass::Other => "other",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maps the leading word of a Redis error reply to its class.
fn class_of_redis_prefix(word: &str) -> Option<ErrorClass> {
    let word = word.trim_start_matches('-');
    Some(match word {
        "MOVED" => ErrorClass::Moved,
        "ASK" => ErrorClass::Ask,
        "CLUSTERDOWN" => ErrorClass::ClusterDown,
        "READONLY" => ErrorClass::ReadOnly,
        "LOADING" => ErrorClass::Loading,
        "MASTERDOWN" => ErrorClass::MasterDown,
        "NOAUTH" | "WRONGPASS" => ErrorClass::Auth,
        "NOPERM" => ErrorClass::NoPerm,
        "TRYAGAIN" => ErrorClass::TryAgain,
        _ => return None,
    })
}

/// Classifies Redis error-reply or IO error text.
///
/// Redis replies are recognised by their leading word (`MOVED`, `ASK`,
/// `CLUSTERDOWN`, `READONLY`, `LOADING`, `MASTERDOWN`, `NOAUTH`, `WRONGPASS`,
/// `NOPERM`, `TRYAGAIN`), also after a `Kind Error: ` prefix as in fred's
/// `Display`. Otherwise the text is searched case-insensitively: "refused",
/// then "timeout"/"timed out"/"unresponsive", then "reset", "broken pipe",
/// "aborted", "closed", "eof", "canceled"; the first match wins.
pub fn classify_message(msg: &str) -> ErrorClass {
    let msg = msg.trim();
    let first = msg.split_whitespace().next().unwrap_or("");
    if let Some(class) = class_of_redis_prefix(first) {
        return class;
    }
    // fred's Display is "<Kind> Error: <details>"; io errors may be wrapped too.
    if let Some((_, rest)) = msg.split_once(": ") {
        let word = rest.split_whitespace().next().unwrap_or("");
        if let Some(class) = class_of_redis_prefix(word) {
            return class;
        }
    }

    let lower = msg.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["invalid username-password"]) {
        ErrorClass::Auth
    } else if has(&["refused"]) {
        ErrorClass::ConnectionRefused
    } else if has(&["timeout", "timed out", "timedout", "unresponsive"]) {
        ErrorClass::Timeout
    } else if has(&["reset", "broken pipe", "brokenpipe", "aborted", "closed", "eof", "canceled", "cancelled"]) {
        ErrorClass::ConnectionClosed
    } else {
        ErrorClass::Other
    }
}

/// Classifies a fred error from its kind, then from its details text.
///
/// Server replies are checked first because fred files e.g. `NOPERM` or
/// `READONLY` under generic kinds. A `Timeout` kind is always [`ErrorClass::Timeout`],
/// `Canceled` (in-flight commands dropped with their connection) is
/// [`ErrorClass::ConnectionClosed`], an unrecognised `IO` error is
/// `ConnectionClosed` and an unrecognised `Auth` error is `Auth`.
pub fn classify(err: &FredError) -> ErrorClass {
    let details = err.details();
    match err.kind() {
        ErrorKind::Timeout => ErrorClass::Timeout,
        ErrorKind::Canceled => ErrorClass::ConnectionClosed,
        ErrorKind::Auth => match classify_message(details) {
            ErrorClass::NoPerm => ErrorClass::NoPerm,
            _ => ErrorClass::Auth,
        },
        ErrorKind::IO => match classify_message(details) {
            ErrorClass::Other => ErrorClass::ConnectionClosed,
            class => class,
        },
        _ => classify_message(details),
    }
}

/// The Redis command a probe issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `SET` of the probe key.
    Set,
    /// `GET` of the probe key, compared with what was written.
    Get,
    /// `PING`.
    Ping,
}

impl Op {
    /// The snake_case name, identical to the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
            Op::Ping => "ping",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one probe against one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// Every operation of the probe succeeded (and read back the right value).
    Ok,
    /// The probe failed at `op`.
    Failed {
        /// Why it failed.
        class: ErrorClass,
        /// Which operation failed.
        op: Op,
        /// The error text as received.
        message: String,
    },
}

impl ProbeOutcome {
    /// A failure with an explicit class.
    pub fn failed(class: ErrorClass, op: Op, message: impl Into<String>) -> Self {
        ProbeOutcome::Failed { class, op, message: message.into() }
    }

    /// A failure classified from a fred error; the message is its readable text ([`crate::errfmt::fred_error`]).
    pub fn from_error(op: Op, err: &FredError) -> Self {
        ProbeOutcome::failed(classify(err), op, crate::errfmt::fred_error(err))
    }

    /// A read that returned something other than what was written.
    pub fn wrong_value(expected: &str, got: Option<&str>) -> Self {
        let got = got.map_or_else(|| "nil".to_owned(), |g| format!("{g:?}"));
        ProbeOutcome::failed(ErrorClass::WrongValue, Op::Get, format!("expected {expected:?}, read {got}"))
    }

    /// Whether the probe succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, ProbeOutcome::Ok)
    }

    /// The failure class, if the probe failed.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            ProbeOutcome::Ok => None,
            ProbeOutcome::Failed { class, .. } => Some(*class),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_redis_replies() {
        let cases = [
            ("MOVED 3999 127.0.0.1:6381", ErrorClass::Moved),
            ("ASK 3999 127.0.0.1:6381", ErrorClass::Ask),
            ("CLUSTERDOWN The cluster is down", ErrorClass::ClusterDown),
            ("CLUSTERDOWN Hash slot not served", ErrorClass::ClusterDown),
            ("READONLY You can't write against a read only replica.", ErrorClass::ReadOnly),
            ("LOADING Redis is loading the dataset in memory", ErrorClass::Loading),
            (
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                ErrorClass::MasterDown,
            ),
            ("NOAUTH Authentication required.", ErrorClass::Auth),
            ("WRONGPASS invalid username-password pair or user is disabled.", ErrorClass::Auth),
            ("ERR invalid username-password pair or user is disabled.", ErrorClass::Auth),
            ("NOPERM User x has no permissions to run the 'cluster' command", ErrorClass::NoPerm),
            ("TRYAGAIN Multiple keys request during rehashing of slot", ErrorClass::TryAgain),
            ("-MOVED 12182 10.0.0.3:6379", ErrorClass::Moved),
            ("ERR unknown command 'FOO'", ErrorClass::Other),
            ("", ErrorClass::Other),
        ];
        for (msg, want) in cases {
            assert_eq!(classify_message(msg), want, "{msg}");
        }
    }

    #[test]
    fn classifies_io_text() {
        let cases = [
            ("Connection refused (os error 111)", ErrorClass::ConnectionRefused),
            ("Connection reset by peer (os error 104)", ErrorClass::ConnectionClosed),
            ("Broken pipe (os error 32)", ErrorClass::ConnectionClosed),
            (
                r#"Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }"#,
                ErrorClass::ConnectionRefused,
            ),
            (r#"Os { code: 110, kind: TimedOut, message: "Connection timed out" }"#, ErrorClass::Timeout),
            ("Kind(UnexpectedEof)", ErrorClass::ConnectionClosed),
            ("Kind(BrokenPipe)", ErrorClass::ConnectionClosed),
            ("Connection closed.", ErrorClass::ConnectionClosed),
            ("Canceled.", ErrorClass::ConnectionClosed),
            ("Request timed out.", ErrorClass::Timeout),
            ("connect timeout", ErrorClass::Timeout),
        ];
        for (msg, want) in cases {
            assert_eq!(classify_message(msg), want, "{msg}");
        }
    }

    #[test]
    fn classifies_fred_display_text() {
        let err = FredError::new(ErrorKind::Cluster, "MOVED 3999 127.0.0.1:6381");
        assert_eq!(err.to_string(), "Cluster Error: MOVED 3999 127.0.0.1:6381");
        assert_eq!(classify_message(&err.to_string()), ErrorClass::Moved);
    }

    #[test]
    fn classifies_fred_errors() {
        let cases = [
            (ErrorKind::Timeout, "Request timed out.", ErrorClass::Timeout),
            (ErrorKind::Timeout, "whatever", ErrorClass::Timeout),
            (ErrorKind::Canceled, "Canceled.", ErrorClass::ConnectionClosed),
            (ErrorKind::Canceled, "Max reconnection attempts reached.", ErrorClass::ConnectionClosed),
            (
                ErrorKind::IO,
                r#"Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }"#,
                ErrorClass::ConnectionRefused,
            ),
            (ErrorKind::IO, "Failed to connect.", ErrorClass::ConnectionClosed),
            (ErrorKind::IO, "Unresponsive connection.", ErrorClass::Timeout),
            (ErrorKind::Auth, "WRONGPASS invalid username-password pair or user is disabled.", ErrorClass::Auth),
            (ErrorKind::Auth, "something else", ErrorClass::Auth),
            (ErrorKind::Unknown, "NOPERM User x has no permissions to run the 'cluster' command", ErrorClass::NoPerm),
            (ErrorKind::Cluster, "ASK 1 127.0.0.1:7001", ErrorClass::Ask),
            (ErrorKind::Cluster, "CLUSTERDOWN The cluster is down", ErrorClass::ClusterDown),
            (ErrorKind::Unknown, "READONLY You can't write against a read only replica.", ErrorClass::ReadOnly),
            (ErrorKind::Routing, "Failed to route command.", ErrorClass::Other),
        ];
        for (kind, details, want) in cases {
            let err = FredError::new(kind.clone(), details);
            assert_eq!(classify(&err), want, "{kind:?} {details}");
        }
    }

    #[test]
    fn names_match_serde() {
        for class in ErrorClass::ALL {
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(class.to_string(), class.as_str());
        }
        assert_eq!(ErrorClass::ConnectionRefused.as_str(), "connection_refused");
        assert_eq!(ErrorClass::NoPerm.as_str(), "no_perm");
    }

    #[test]
    fn outcome_json_and_helpers() {
        assert!(ProbeOutcome::Ok.is_ok());
        assert_eq!(serde_json::to_string(&ProbeOutcome::Ok).unwrap(), r#"{"status":"ok"}"#);
        let failed = ProbeOutcome::failed(ErrorClass::ReadOnly, Op::Set, "READONLY x");
        assert!(!failed.is_ok());
        assert_eq!(failed.class(), Some(ErrorClass::ReadOnly));
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"status":"failed","class":"read_only","op":"set","message":"READONLY x"}"#
        );
        let back: ProbeOutcome = serde_json::from_str(&serde_json::to_string(&failed).unwrap()).unwrap();
        assert_eq!(back, failed);

        let err = FredError::new(ErrorKind::IO, "Connection closed.");
        assert_eq!(
            ProbeOutcome::from_error(Op::Ping, &err),
            ProbeOutcome::failed(ErrorClass::ConnectionClosed, Op::Ping, "Connection closed.")
        );
        // An io::Error as fred carries it: classified from the raw text, shown readable.
        let err = FredError::from(std::io::Error::from_raw_os_error(111));
        assert_eq!(
            ProbeOutcome::from_error(Op::Set, &err),
            ProbeOutcome::failed(ErrorClass::ConnectionRefused, Op::Set, "connection refused")
        );
        assert_eq!(
            ProbeOutcome::wrong_value("a", None),
            ProbeOutcome::failed(ErrorClass::WrongValue, Op::Get, "expected \"a\", read nil")
        );
    }
}
