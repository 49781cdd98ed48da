//! The listener: a dedicated plain TCP connection that says `HELLO 3`, turns `CLIENT MAINT_NOTIFICATIONS` on,
//! and then reads push frames until the connection ends. Not a fred client, because fred hands push frames it
//! does not know to whichever command is waiting next; plaintext only, so a TLS target is refused up front.

use std::fmt;
use std::time::Duration;

use redis_protocol::resp3::decode::complete::decode;
use redis_protocol::resp3::encode::complete::encode;
use redis_protocol::resp3::types::{OwnedFrame, Resp3Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::parse::frame_text;
use super::{notice_for, MOVING_ENDPOINT_TYPE};
use crate::clock::Clock;
use crate::connect::CLIENT_NAME;
use crate::duration::human;
use crate::events::{Event, NoticeEvent};
use crate::settings::Target;
use crate::topology::Endpoint;

// Far above any real notice; only a broken or hostile peer sends more without completing a frame.
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Why the listener did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintError {
    /// The target uses TLS, which the listener does not speak.
    #[error("maintenance notices from {endpoint}: the listener speaks plaintext only and this target uses TLS; not listening")]
    TlsUnsupported {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// The TCP connection failed.
    #[error("maintenance notices from {endpoint}: cannot connect: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: Endpoint,
        /// What went wrong.
        reason: String,
    },
    /// A step of the handshake took longer than the target's timeout.
    #[error("maintenance notices from {endpoint}: no answer to {step} within {}", human(*.after))]
    Timeout {
        /// The endpoint.
        endpoint: Endpoint,
        /// The step.
        step: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// `HELLO 3` (with its `AUTH`) was refused.
    #[error("maintenance notices from {endpoint}: HELLO 3 refused: {message}")]
    Hello {
        /// The endpoint.
        endpoint: Endpoint,
        /// The server's error.
        message: String,
    },
    /// The server does not offer maintenance notices (Redis before 8 answers `unknown subcommand`).
    #[error("{endpoint} does not send maintenance notices ({message}); carrying on without them")]
    Refused {
        /// The endpoint.
        endpoint: Endpoint,
        /// The server's error.
        message: String,
    },
    /// The server sent something that is not RESP3, or closed the connection mid-handshake.
    #[error("maintenance notices from {endpoint}: {reason}")]
    Protocol {
        /// The endpoint.
        endpoint: Endpoint,
        /// What went wrong.
        reason: String,
    },
}

/// A failed read on the listener connection.
#[derive(Debug)]
enum ReadError {
    Closed,
    Timeout,
    Io(std::io::Error),
    Protocol(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed => f.write_str("the server closed the connection"),
            ReadError::Timeout => f.write_str("a frame stopped arriving half-way"),
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Protocol(e) => write!(f, "unreadable RESP3: {e}"),
        }
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    async fn send(&mut self, parts: &[&str]) -> std::io::Result<()> {
        let frame = OwnedFrame::Array {
            data: parts
                .iter()
                .map(|p| OwnedFrame::BlobString { data: p.as_bytes().to_vec(), attributes: None })
                .collect(),
            attributes: None,
        };
        let mut out = vec![0u8; frame.encode_len(false)];
        let len = encode(&mut out, &frame, false)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.details().to_string()))?;
        out.truncate(len);
        match tokio::time::timeout(self.timeout, self.stream.write_all(&out)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// The next frame. With `idle`, waits as long as it takes for a frame to begin; once bytes of a frame have
    /// arrived (or without `idle`), each read is bounded by the timeout.
    async fn frame(&mut self, idle: bool) -> Result<OwnedFrame, ReadError> {
        loop {
            if !self.buf.is_empty() {
                match decode(&self.buf) {
                    Ok(Some((frame, used))) => {
                        self.buf.drain(..used);
                        return Ok(frame);
                    }
                    Ok(None) if self.buf.len() > MAX_FRAME_BYTES => {
                        return Err(ReadError::Protocol(format!("frame larger than {MAX_FRAME_BYTES} bytes")))
                    }
                    Ok(None) => {}
                    Err(e) => return Err(ReadError::Protocol(e.details().to_string())),
                }
            }
            self.buf.reserve(4096);
            let waiting_idle = idle && self.buf.is_empty();
            let read = self.stream.read_buf(&mut self.buf);
            let n = if waiting_idle {
                read.await
            } else {
                tokio::time::timeout(self.timeout, read).await.map_err(|_| ReadError::Timeout)?
            }
            .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
        }
    }

    /// The reply to the command just sent; pushes that arrive first are kept in `early`.
    async fn reply(&mut self, early: &mut Vec<OwnedFrame>) -> Result<OwnedFrame, ReadError> {
        loop {
            match self.frame(false).await? {
                push @ OwnedFrame::Push { .. } => early.push(push),
                reply => return Ok(reply),
            }
        }
    }
}

fn error_text(frame: &OwnedFrame) -> Option<String> {
    match frame {
        OwnedFrame::SimpleError { .. } | OwnedFrame::BlobError { .. } => Some(frame_text(frame)),
        _ => None,
    }
}

/// Connects to `endpoint`, turns maintenance notices on, and spawns a task that sends a `maint_notification`
/// notice for every push frame until the connection ends (then a `warning` notice) or the event channel closes.
/// A server without maintenance notices gives [`MaintError::Refused`], which the caller reports in one line.
pub async fn listen_maint_notices(
    target: &Target,
    endpoint: &Endpoint,
    clock: Clock,
    tx: UnboundedSender<Event>,
) -> Result<JoinHandle<()>, MaintError> {
    let ep = || endpoint.clone();
    if target.tls {
        return Err(MaintError::TlsUnsupported { endpoint: ep() });
    }
    let timeout = target.timeout;
    let stream = tokio::time::timeout(timeout, TcpStream::connect((endpoint.host.as_str(), endpoint.port)))
        .await
        .map_err(|_| MaintError::Timeout { endpoint: ep(), step: "connect", after: timeout })?
        .map_err(|e| MaintError::Connect { endpoint: ep(), reason: e.to_string() })?;
    let _ = stream.set_nodelay(true);
    let mut conn = Conn { stream, buf: Vec::new(), timeout };
    let mut early = Vec::new();

    let password = target.password.as_ref().map(|p| p.expose());
    let user = target.username.as_deref().unwrap_or("default");
    let mut hello = vec!["HELLO", "3"];
    if let Some(pass) = password {
        hello.extend(["AUTH", user, pass]);
    }
    hello.extend(["SETNAME", CLIENT_NAME]);
    let reply = exchange(&mut conn, &hello, "HELLO 3", endpoint, &mut early).await?;
    if let Some(message) = error_text(&reply) {
        return Err(MaintError::Hello { endpoint: ep(), message });
    }
    let on = ["CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", MOVING_ENDPOINT_TYPE];
    let reply = exchange(&mut conn, &on, "CLIENT MAINT_NOTIFICATIONS", endpoint, &mut early).await?;
    if let Some(message) = error_text(&reply) {
        return Err(MaintError::Refused { endpoint: ep(), message });
    }

    let endpoint = endpoint.clone();
    Ok(tokio::spawn(async move {
        for frame in early {
            if tx.send(Event::Notice(notice_for(&clock, &endpoint, &frame))).is_err() {
                return;
            }
        }
        loop {
            let frame = tokio::select! {
                frame = conn.frame(true) => frame,
                _ = tx.closed() => return,
            };
            let notice = match frame {
                Ok(frame @ OwnedFrame::Push { .. }) => notice_for(&clock, &endpoint, &frame),
                // Nothing is asked after the handshake, so a reply here is stray and says nothing about maintenance.
                Ok(_) => continue,
                Err(e) => {
                    let _ = tx.send(Event::Notice(NoticeEvent {
                        stamp: clock.now(),
                        kind: "warning".to_string(),
                        detail: format!("maintenance-notice listener on {endpoint} stopped: {e}"),
                        data: None,
                    }));
                    return;
                }
            };
            if tx.send(Event::Notice(notice)).is_err() {
                return;
            }
        }
    }))
}

async fn exchange(
    conn: &mut Conn,
    command: &[&str],
    step: &'static str,
    endpoint: &Endpoint,
    early: &mut Vec<OwnedFrame>,
) -> Result<OwnedFrame, MaintError> {
    let timeout = conn.timeout;
    conn.send(command).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            MaintError::Timeout { endpoint: endpoint.clone(), step, after: timeout }
        } else {
            MaintError::Connect { endpoint: endpoint.clone(), reason: e.to_string() }
        }
    })?;
    conn.reply(early).await.map_err(|e| match e {
        ReadError::Timeout => MaintError::Timeout { endpoint: endpoint.clone(), step, after: timeout },
        ReadError::Io(e) => MaintError::Connect { endpoint: endpoint.clone(), reason: e.to_string() },
        other => MaintError::Protocol { endpoint: endpoint.clone(), reason: format!("during {step}: {other}") },
    })
}
