//! Azure Managed Redis maintenance notices: the pipe-delimited messages published on the `AzureRedisEvents`
//! channel before and during node maintenance, parsed into [`AzureNotice`], and a subscriber task that puts each
//! one on the run's timeline as an `azure_maintenance` notice.

use std::collections::BTreeMap;
use std::fmt;

use fred::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::connect::{quit, Factory};
use crate::error::{AppError, AppResult};
use crate::events::{Event, NoticeEvent};
use crate::topology::Endpoint;

/// The pub/sub channel Azure publishes maintenance notices on.
pub const AZURE_CHANNEL: &str = "AzureRedisEvents";

/// The `kind` of the notices this module sends.
pub const NOTICE_KIND: &str = "azure_maintenance";

/// The `NotificationType` of a notice. Serialised as the text Azure sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AzureKind {
    /// Maintenance is planned for the node.
    NodeMaintenanceScheduled,
    /// Maintenance will begin shortly.
    NodeMaintenanceStarting,
    /// Maintenance has begun.
    NodeMaintenanceStart,
    /// The replica has been promoted.
    NodeMaintenanceFailoverComplete,
    /// Maintenance of the node is over.
    NodeMaintenanceEnded,
    /// A type this tool does not know, kept as sent.
    Other(String),
}

impl AzureKind {
    /// The text Azure sends for this type.
    pub fn as_str(&self) -> &str {
        match self {
            AzureKind::NodeMaintenanceScheduled => "NodeMaintenanceScheduled",
            AzureKind::NodeMaintenanceStarting => "NodeMaintenanceStarting",
            AzureKind::NodeMaintenanceStart => "NodeMaintenanceStart",
            AzureKind::NodeMaintenanceFailoverComplete => "NodeMaintenanceFailoverComplete",
            AzureKind::NodeMaintenanceEnded => "NodeMaintenanceEnded",
            AzureKind::Other(s) => s,
        }
    }
}

impl From<String> for AzureKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "NodeMaintenanceScheduled" => AzureKind::NodeMaintenanceScheduled,
            "NodeMaintenanceStarting" => AzureKind::NodeMaintenanceStarting,
            "NodeMaintenanceStart" => AzureKind::NodeMaintenanceStart,
            "NodeMaintenanceFailoverComplete" => AzureKind::NodeMaintenanceFailoverComplete,
            "NodeMaintenanceEnded" => AzureKind::NodeMaintenanceEnded,
            _ => AzureKind::Other(s),
        }
    }
}

impl From<AzureKind> for String {
    fn from(k: AzureKind) -> String {
        match k {
            AzureKind::Other(s) => s,
            known => known.as_str().to_string(),
        }
    }
}

impl fmt::Display for AzureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parsed maintenance notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureNotice {
    /// `NotificationType`.
    pub kind: AzureKind,
    /// `StartTimeInUTC`, as sent.
    pub start_time_utc: Option<String>,
    /// `IsReplica`: whether the node under maintenance is a replica.
    pub is_replica: Option<bool>,
    /// `IPAddress` of the node under maintenance.
    pub ip: Option<String>,
    /// `SSLPort`.
    pub ssl_port: Option<u16>,
    /// `NonSSLPort`.
    pub non_ssl_port: Option<u16>,
    /// Any other fields, as sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Why a message on `AzureRedisEvents` is not a maintenance notice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzureParseError {
    /// The message is empty.
    #[error("empty maintenance notice")]
    Empty,
    /// The fields do not pair up into `key|value`.
    #[error("maintenance notice has an odd number of '|'-separated fields ({0})")]
    OddFields(usize),
    /// A key is empty.
    #[error("maintenance notice has an empty key at field {0}")]
    EmptyKey(usize),
    /// There is no `NotificationType`.
    #[error("maintenance notice has no NotificationType")]
    MissingType,
    /// A known field has a value of the wrong shape.
    #[error("maintenance notice field {key} has an invalid value {value:?}")]
    BadValue {
        /// The field.
        key: String,
        /// Its value.
        value: String,
    },
}

impl AzureNotice {
    /// Parses `key|value|key|value…`. Keys are matched case-insensitively, in any order; a repeated key keeps its
    /// last value; an empty value counts as absent; one trailing `|` is tolerated.
    pub fn parse(text: &str) -> Result<AzureNotice, AzureParseError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AzureParseError::Empty);
        }
        let mut fields: Vec<&str> = text.split('|').collect();
        // `Key|` is a key with an empty value; only an odd field count makes a trailing `|` a stray separator.
        if !fields.len().is_multiple_of(2) && fields.last() == Some(&"") {
            fields.pop();
        }
        if !fields.len().is_multiple_of(2) {
            return Err(AzureParseError::OddFields(fields.len()));
        }
        let mut kind = None;
        let mut notice = AzureNotice {
            kind: AzureKind::Other(String::new()),
            start_time_utc: None,
            is_replica: None,
            ip: None,
            ssl_port: None,
            non_ssl_port: None,
            extra: BTreeMap::new(),
        };
        for (i, pair) in fields.chunks(2).enumerate() {
            let (key, value) = (pair[0].trim(), pair[1].trim());
            if key.is_empty() {
                return Err(AzureParseError::EmptyKey(i * 2));
            }
            let present = (!value.is_empty()).then(|| value.to_string());
            match key.to_ascii_lowercase().as_str() {
                "notificationtype" => kind = present.map(AzureKind::from),
                "starttimeinutc" => notice.start_time_utc = present,
                "isreplica" => notice.is_replica = present.map(|v| parse_bool(key, &v)).transpose()?,
                "ipaddress" => notice.ip = present,
                "sslport" => notice.ssl_port = present.map(|v| parse_port(key, &v)).transpose()?,
                "nonsslport" => notice.non_ssl_port = present.map(|v| parse_port(key, &v)).transpose()?,
                _ => {
                    notice.extra.insert(key.to_string(), value.to_string());
                }
            }
        }
        notice.kind = kind.ok_or(AzureParseError::MissingType)?;
        Ok(notice)
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, AzureParseError> {
    // Azure sends .NET's `True`/`False`.
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(AzureParseError::BadValue { key: key.to_string(), value: v.to_string() }),
    }
}

fn parse_port(key: &str, v: &str) -> Result<u16, AzureParseError> {
    v.parse().map_err(|_| AzureParseError::BadValue { key: key.to_string(), value: v.to_string() })
}

impl fmt::Display for AzureNotice {
    /// One line: `NodeMaintenanceStarting at 2024-…: primary 10.0.0.4 (ssl 15000, non-ssl 13000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(t) = &self.start_time_utc {
            write!(f, " at {t} UTC")?;
        }
        let role = match self.is_replica {
            Some(true) => "replica",
            Some(false) => "primary",
            None => "node",
        };
        write!(f, ": {role} {}", self.ip.as_deref().unwrap_or("(no address)"))?;
        let ports: Vec<String> = [("ssl", self.ssl_port), ("non-ssl", self.non_ssl_port)]
            .into_iter()
            .filter_map(|(name, p)| p.map(|p| format!("{name} {p}")))
            .collect();
        if !ports.is_empty() {
            write!(f, " ({})", ports.join(", "))?;
        }
        Ok(())
    }
}

/// The notice for one message: parsed when it can be, else the parse error and the raw text, so nothing Azure
/// says is lost.
pub fn notice_for(clock: &Clock, text: &str) -> NoticeEvent {
    match AzureNotice::parse(text) {
        Ok(notice) => NoticeEvent {
            stamp: clock.now(),
            kind: NOTICE_KIND.to_string(),
            detail: format!("Azure maintenance: {notice}"),
            data: serde_json::to_value(&notice).ok(),
        },
        Err(e) => NoticeEvent {
            stamp: clock.now(),
            kind: NOTICE_KIND.to_string(),
            detail: format!("unreadable Azure maintenance notice ({e}): {text}"),
            data: None,
        },
    }
}

/// Subscribes to [`AZURE_CHANNEL`] on `endpoint` through a connection from the factory, and spawns a task that
/// sends an `azure_maintenance` notice for every message. The task subscribes again after each reconnect (fred
/// reconnects forever, but a new connection has no subscriptions) and ends when the event channel closes.
pub async fn subscribe_azure_events(
    factory: &Factory,
    endpoint: &Endpoint,
    clock: Clock,
    tx: UnboundedSender<Event>,
) -> AppResult<JoinHandle<()>> {
    let client = factory.node(endpoint).await?;
    // Both receivers before SUBSCRIBE, so neither the first message nor a quick reconnect is missed.
    let mut messages = client.message_rx();
    let mut reconnects = client.reconnect_rx();
    if let Err(e) = client.subscribe(AZURE_CHANNEL).await {
        quit(&client).await;
        return Err(AppError::Connect(format!(
            "cannot subscribe to {AZURE_CHANNEL} at {endpoint}: {}",
            crate::errfmt::fred_error(&e)
        )));
    }
    // A server can refuse SUBSCRIBE (an ACL user without the channel) while fred reports success: ask the server,
    // on another connection, whether anyone listens on the channel now.
    if let Ok(checker) = factory.node(endpoint).await {
        let numsub = crate::connect::command(&checker, &["PUBSUB", "NUMSUB", AZURE_CHANNEL]).await;
        quit(&checker).await;
        if let Ok(Value::Array(v)) = numsub {
            if v.get(1).and_then(|n| n.as_i64()) == Some(0) {
                quit(&client).await;
                return Err(AppError::Auth(format!(
                    "the server did not subscribe this connection to {AZURE_CHANNEL} at {endpoint} (an ACL user needs \
                     the channel, e.g. &{AZURE_CHANNEL}): no Azure maintenance notices"
                )));
            }
        }
    }
    let endpoint = endpoint.clone();
    Ok(tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                message = messages.recv() => match message {
                    Ok(m) if m.channel == AZURE_CHANNEL => {
                        let text = match &m.value {
                            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                            other => other.as_string().unwrap_or_default(),
                        };
                        notice_for(&clock, &text)
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => warning(&clock, format!(
                        "{n} Azure maintenance notices from {endpoint} were dropped (the reader fell behind)"
                    )),
                    Err(RecvError::Closed) => break,
                },
                server = reconnects.recv() => match server {
                    Ok(_) => match client.subscribe(AZURE_CHANNEL).await {
                        Ok(()) => continue,
                        Err(e) => warning(&clock, format!(
                            "could not subscribe again to {AZURE_CHANNEL} at {endpoint} after a reconnect: {}",
                            crate::errfmt::fred_error(&e)
                        )),
                    },
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            if tx.send(Event::Notice(event)).is_err() {
                break;
            }
        }
        quit(&client).await;
    }))
}

fn warning(clock: &Clock, detail: String) -> NoticeEvent {
    NoticeEvent { stamp: clock.now(), kind: "warning".to_string(), detail, data: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTING: &str = "NotificationType|NodeMaintenanceStarting|StartTimeInUTC|2024-05-01T10:00:00|\
                            IsReplica|False|IPAddress|10.0.0.4|SSLPort|15000|NonSSLPort|13000";

    #[test]
    fn parses_a_full_notice() {
        let n = AzureNotice::parse(STARTING).unwrap();
        assert_eq!(n.kind, AzureKind::NodeMaintenanceStarting);
        assert_eq!(n.start_time_utc.as_deref(), Some("2024-05-01T10:00:00"));
        assert_eq!(n.is_replica, Some(false));
        assert_eq!(n.ip.as_deref(), Some("10.0.0.4"));
        assert_eq!((n.ssl_port, n.non_ssl_port), (Some(15000), Some(13000)));
        assert!(n.extra.is_empty());
        assert_eq!(
            n.to_string(),
            "NodeMaintenanceStarting at 2024-05-01T10:00:00 UTC: primary 10.0.0.4 (ssl 15000, non-ssl 13000)"
        );
    }

    #[test]
    fn any_order_unknown_fields_and_types_are_kept() {
        let n = AzureNotice::parse(
            "IsReplica|true|NotificationId|42|NotificationType|NodeMaintenanceRebooting|IPAddress|10.0.0.5|",
        )
        .unwrap();
        assert_eq!(n.kind, AzureKind::Other("NodeMaintenanceRebooting".into()));
        assert_eq!(n.is_replica, Some(true));
        assert_eq!(n.extra.get("NotificationId").map(String::as_str), Some("42"));
        assert_eq!(n.ssl_port, None);
        for kind in [
            "NodeMaintenanceScheduled",
            "NodeMaintenanceStarting",
            "NodeMaintenanceStart",
            "NodeMaintenanceFailoverComplete",
            "NodeMaintenanceEnded",
        ] {
            let k = AzureNotice::parse(&format!("NotificationType|{kind}")).unwrap().kind;
            assert!(!matches!(k, AzureKind::Other(_)), "{kind}");
            assert_eq!(k.as_str(), kind);
        }
    }

    #[test]
    fn serialises_with_the_type_as_azure_spells_it() {
        let n = AzureNotice::parse(STARTING).unwrap();
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "NodeMaintenanceStarting");
        assert_eq!(json["ssl_port"], 15000);
        assert!(json.get("extra").is_none());
        let back: AzureNotice = serde_json::from_value(json).unwrap();
        assert_eq!(back, n);
        let other = AzureNotice::parse("NotificationType|Mystery").unwrap();
        let back: AzureNotice = serde_json::from_str(&serde_json::to_string(&other).unwrap()).unwrap();
        assert_eq!(back.kind, AzureKind::Other("Mystery".into()));
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        use AzureParseError::*;
        assert_eq!(AzureNotice::parse("  "), Err(Empty));
        assert_eq!(AzureNotice::parse("NotificationType"), Err(OddFields(1)));
        assert_eq!(AzureNotice::parse("|x"), Err(EmptyKey(0)));
        assert_eq!(AzureNotice::parse("IPAddress|1.2.3.4"), Err(MissingType));
        assert_eq!(AzureNotice::parse("NotificationType|"), Err(MissingType));
        assert!(matches!(
            AzureNotice::parse("NotificationType|NodeMaintenanceStart|SSLPort|99999"),
            Err(BadValue { key, .. }) if key == "SSLPort"
        ));
        assert!(matches!(
            AzureNotice::parse("NotificationType|NodeMaintenanceStart|IsReplica|maybe"),
            Err(BadValue { key, .. }) if key == "IsReplica"
        ));
        assert!(AzureNotice::parse("a|b|c|d|e|f|\u{0}|\u{ffff}").is_err());
    }

    #[test]
    fn unreadable_messages_still_become_notices() {
        let clock = Clock::start();
        let good = notice_for(&clock, STARTING);
        assert_eq!(good.kind, NOTICE_KIND);
        assert!(good.detail.starts_with("Azure maintenance: NodeMaintenanceStarting"));
        assert_eq!(good.data.unwrap()["ip"], "10.0.0.4");
        let bad = notice_for(&clock, "hello");
        assert_eq!(bad.kind, NOTICE_KIND);
        assert!(bad.data.is_none());
        assert!(bad.detail.contains("hello"), "{}", bad.detail);
    }
}
