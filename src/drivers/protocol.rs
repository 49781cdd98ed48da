//! The driver protocol, version 1: JSON lines on the driver's stdin (requests, from the tool) and stdout
//! (answers and events, from the driver). Documented in the README; a driver names its library and version in
//! its first line, so a recorded run says exactly what was measured.
//!
//! Tool to driver: `connect` once, then any number of `set`/`get`/`del`, each with an `id`; end of input (or
//! `quit`) closes the library's client and ends the driver. Driver to tool: `hello`, then `ready` (or `fatal`),
//! then one answer per request (in any order, matched by `id`) and `event` lines whenever the library reports
//! something of itself.

use serde::{Deserialize, Serialize};

use crate::events::ClientEventKind;
use crate::probe::outcome::{classify_message, ErrorClass};

/// The protocol version this tool speaks.
pub const PROTOCOL: u32 = 1;

/// A line from the tool to a driver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Make the library's cluster client from the seeds and the user's own options, and connect it.
    Connect {
        /// `host:port` of each seed, in order.
        seeds: Vec<String>,
        /// ACL user, when one is configured.
        #[serde(skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// Password, when one is configured (never logged by the drivers).
        #[serde(skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// Whether the target speaks TLS.
        tls: bool,
        /// CA bundle to verify the server with, when one is configured.
        #[serde(skip_serializing_if = "Option::is_none")]
        tls_ca: Option<String>,
        /// Skip TLS verification.
        insecure: bool,
        /// The library's own connect timeout, per node (the target's timeout).
        connect_timeout_ms: u64,
        /// How long connecting the client (seeds and slot map) may take before the driver reports `fatal`.
        ready_within_ms: u64,
        /// The application's own options, handed to the library's constructor as they are.
        options: serde_json::Value,
    },
    /// `SET key value PX px`.
    Set {
        /// Request id, echoed in the answer.
        id: u64,
        /// The probe key.
        key: String,
        /// The value written.
        value: String,
        /// TTL in milliseconds.
        px: i64,
        /// The driver answers `timeout` when the library has not answered within this.
        timeout_ms: u64,
    },
    /// `GET key`.
    Get {
        /// Request id.
        id: u64,
        /// The probe key.
        key: String,
        /// As for `set`.
        timeout_ms: u64,
    },
    /// `DEL key` (cleanup at the end of a run).
    Del {
        /// Request id.
        id: u64,
        /// The probe key.
        key: String,
        /// As for `set`.
        timeout_ms: u64,
    },
    /// Close the client and exit.
    Quit,
}

/// The driver's first line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hello {
    /// Protocol version, [`PROTOCOL`].
    pub protocol: u32,
    /// The library as published: `redis` (node-redis), `ioredis`, `redis-py`.
    pub library: String,
    /// The library's installed version, read at run time.
    pub version: String,
    /// The runtime: `node v20.20.2`, `python 3.11.7`.
    #[serde(default)]
    pub runtime: String,
}

/// One answer to a `set`, `get` or `del`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    /// The request's id.
    pub id: u64,
    /// Whether the library returned a reply (error replies are `ok: false`).
    pub ok: bool,
    /// What `get` read (`null`: no such key).
    #[serde(default)]
    pub value: Option<String>,
    /// The library's own latency of the call, measured in the driver (ms).
    #[serde(default)]
    pub ms: Option<f64>,
    /// The library's error text, as it gave it.
    #[serde(default)]
    pub error: Option<String>,
    /// The error's class or type name in the library (`ConnectionError`, `ClusterAllFailedError`).
    #[serde(default)]
    pub name: Option<String>,
    /// The driver's own timer fired before the library answered.
    #[serde(default)]
    pub timeout: bool,
}

/// Something the library reported of itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LibraryEvent {
    /// `error`, `reconnecting`, `reconnected`, `refresh`, `node_added`, `node_removed`.
    pub event: String,
    /// The node concerned, `host:port`, where the library says.
    #[serde(default)]
    pub server: Option<String>,
    /// The library's text.
    #[serde(default)]
    pub detail: String,
}

/// Any line a driver prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// `{"hello": {...}}`.
    Hello(Hello),
    /// `{"ready": true}`.
    Ready,
    /// `{"fatal": "text"}`: the driver cannot go on.
    Fatal(String),
    /// `{"id": ..}`.
    Answer(Answer),
    /// `{"event": ..}`.
    Event(LibraryEvent),
}

impl Line {
    /// What kind of line this is, for an error message.
    pub fn kind(&self) -> &'static str {
        match self {
            Line::Hello(_) => "a hello line",
            Line::Ready => "a ready line",
            Line::Fatal(_) => "a fatal line",
            Line::Answer(_) => "an answer",
            Line::Event(_) => "an event",
        }
    }
}

/// Parses one driver line; `Err` is a line that is not the protocol, quoted short.
pub fn parse_line(line: &str) -> Result<Line, String> {
    let bad = || format!("not protocol output: {}", quote(line));
    let v: serde_json::Value = serde_json::from_str(line.trim()).map_err(|_| bad())?;
    let obj = v.as_object().ok_or_else(bad)?;
    if let Some(h) = obj.get("hello") {
        return serde_json::from_value(h.clone()).map(Line::Hello).map_err(|_| bad());
    }
    if obj.get("ready").and_then(|r| r.as_bool()) == Some(true) {
        return Ok(Line::Ready);
    }
    if let Some(f) = obj.get("fatal") {
        return Ok(Line::Fatal(f.as_str().map_or_else(|| f.to_string(), str::to_string)));
    }
    if obj.contains_key("id") {
        return serde_json::from_value(v).map(Line::Answer).map_err(|_| bad());
    }
    if obj.contains_key("event") {
        return serde_json::from_value(v).map(Line::Event).map_err(|_| bad());
    }
    Err(bad())
}

/// At most 120 characters of a line, for an error message.
pub fn quote(line: &str) -> String {
    let line = line.trim();
    let short: String = line.chars().take(120).collect();
    if short.len() < line.len() {
        format!("'{short}...'")
    } else {
        format!("'{short}'")
    }
}

/// The class of a library's error: a Redis reply word anywhere in its text (libraries prefix replies with
/// their own words), then the connection words of the text, then the library's error type.
pub fn classify_library(name: Option<&str>, text: &str) -> ErrorClass {
    let reply_word = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase()))
        .map(classify_message)
        .find(|c| !matches!(c, ErrorClass::Other | ErrorClass::ConnectionClosed | ErrorClass::Timeout));
    if let Some(class) = reply_word {
        return class;
    }
    match classify_message(text) {
        ErrorClass::Other => {}
        class => return class,
    }
    match name.unwrap_or("") {
        "TimeoutError" | "MaxRetriesPerRequestError" => ErrorClass::Timeout,
        "ClusterDownError" => ErrorClass::ClusterDown,
        "ConnectionError" | "SocketClosedUnexpectedlyError" | "ClientClosedError" | "DisconnectsClientError" => {
            ErrorClass::ConnectionClosed
        }
        "MovedError" => ErrorClass::Moved,
        "AskError" => ErrorClass::Ask,
        "TryAgainError" => ErrorClass::TryAgain,
        "ReadOnlyError" => ErrorClass::ReadOnly,
        "AuthenticationError" | "AuthenticationWrongNumberOfArgsError" => ErrorClass::Auth,
        "NoPermissionError" => ErrorClass::NoPerm,
        "BusyLoadingError" => ErrorClass::Loading,
        _ => ErrorClass::Other,
    }
}

/// The client event a library event stands for; `None` for an event this tool does not know.
pub fn event_kind(event: &str) -> Option<ClientEventKind> {
    Some(match event {
        "error" => ClientEventKind::Error,
        "reconnecting" => ClientEventKind::Reconnecting,
        "reconnected" => ClientEventKind::Reconnected,
        "refresh" | "node_added" | "node_removed" => ClientEventKind::TopologyResync,
        "refresh_failed" => ClientEventKind::TopologyResyncFailed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_or_say_what_they_were() {
        let h = parse_line(r#"{"hello":{"protocol":1,"library":"ioredis","version":"5.8.2","runtime":"node v20"}}"#);
        assert!(matches!(h, Ok(Line::Hello(h)) if h.version == "5.8.2" && h.protocol == 1));
        assert_eq!(parse_line(r#"{"ready":true}"#), Ok(Line::Ready));
        assert_eq!(parse_line(r#"{"fatal":"no"}"#), Ok(Line::Fatal("no".into())));
        let a = parse_line(r#"{"id":7,"ok":false,"error":"Connection is closed.","name":"Error","ms":3.5}"#);
        assert!(matches!(a, Ok(Line::Answer(a)) if a.id == 7 && !a.ok && a.ms == Some(3.5)));
        let e = parse_line(r#"{"event":"node_removed","server":"127.0.0.1:7001"}"#);
        assert!(matches!(e, Ok(Line::Event(e)) if e.server.as_deref() == Some("127.0.0.1:7001")));
        assert_eq!(parse_line("Debugger listening").unwrap_err(), "not protocol output: 'Debugger listening'");
        assert!(parse_line(r#"{"id":"x"}"#).is_err());
        assert!(parse_line(&"x".repeat(300)).unwrap_err().ends_with("...'"));
    }

    #[test]
    fn requests_are_one_json_object_with_an_op() {
        let r = Request::Set { id: 3, key: "k".into(), value: "v".into(), px: 500, timeout_ms: 1000 };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"op":"set","id":3,"key":"k","value":"v","px":500,"timeout_ms":1000}"#);
        assert_eq!(serde_json::to_string(&Request::Quit).unwrap(), r#"{"op":"quit"}"#);
    }

    #[test]
    fn library_errors_are_classified_by_reply_word_text_then_type() {
        let cases = [
            (Some("ReplyError"), "CLUSTERDOWN The cluster is down", ErrorClass::ClusterDown),
            (Some("ClusterDownError"), "The cluster is down", ErrorClass::ClusterDown),
            (Some("Error"), "connect ECONNREFUSED 127.0.0.1:7000", ErrorClass::ConnectionRefused),
            (
                Some("ConnectionError"),
                "Error 111 connecting to 127.0.0.1:7000. Connection refused.",
                ErrorClass::ConnectionRefused,
            ),
            (Some("TimeoutError"), "Timeout reading from 127.0.0.1:7000", ErrorClass::Timeout),
            (Some("SocketClosedUnexpectedlyError"), "Socket closed unexpectedly", ErrorClass::ConnectionClosed),
            (Some("ConnectionError"), "Error while reading from socket", ErrorClass::ConnectionClosed),
            (Some("ReplyError"), "ERR MOVED 3999 127.0.0.1:7002", ErrorClass::Moved),
            (Some("MaxRetriesPerRequestError"), "Reached the max retries per request limit", ErrorClass::Timeout),
            (None, "something new", ErrorClass::Other),
        ];
        for (name, text, want) in cases {
            assert_eq!(classify_library(name, text), want, "{name:?} {text}");
        }
    }
}
