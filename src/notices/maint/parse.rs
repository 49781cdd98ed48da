//! Parsing the maintenance push frames: a RESP3 push such as `MOVING 1 15 10.0.0.2:6379` becomes a
//! [`MaintNotice`], or a [`MaintParseError`] that says which argument was missing or malformed. Arguments after
//! the ones each notice defines (newer servers add shard ids) are ignored.

use std::fmt;

use redis_protocol::resp3::types::{OwnedFrame, Resp3Frame};
use serde::{Deserialize, Serialize};

use crate::topology::{merge, Endpoint, SlotRange, MAX_SLOT};

/// Slots that now live at one endpoint, from `SMIGRATED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMove {
    /// The node that now serves the slots.
    pub endpoint: Endpoint,
    /// The slots, merged and sorted.
    pub slots: Vec<SlotRange>,
}

/// One maintenance notice. Serialised with a `notice` tag holding the server's name for it (`MOVING`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaintNotice {
    /// The endpoint will move: reconnect to `endpoint` (or to the same name when it is `None`) within `time_s`.
    Moving {
        /// Sequence number.
        seq: u64,
        /// The server's time field, in seconds.
        time_s: u64,
        /// The new address, when the server gives one.
        endpoint: Option<Endpoint>,
    },
    /// The node is being migrated; replies may slow down.
    Migrating {
        /// Sequence number.
        seq: u64,
        /// The server's time field, in seconds.
        time_s: u64,
    },
    /// The migration is over.
    Migrated {
        /// Sequence number.
        seq: u64,
    },
    /// The node is failing over; replies may slow down or fail.
    FailingOver {
        /// Sequence number.
        seq: u64,
        /// The server's time field, in seconds.
        time_s: u64,
    },
    /// The failover is over.
    FailedOver {
        /// Sequence number.
        seq: u64,
    },
    /// Cluster slots are being migrated away from this node.
    Smigrating {
        /// Sequence number.
        seq: u64,
        /// The slots, merged and sorted.
        slots: Vec<SlotRange>,
    },
    /// Cluster slots have moved to other nodes.
    Smigrated {
        /// Sequence number.
        seq: u64,
        /// Where each group of slots went.
        moves: Vec<SlotMove>,
    },
    /// A push this tool does not know, kept as text.
    Other {
        /// The push's first element.
        name: String,
        /// The rest, each rendered as text.
        args: Vec<String>,
    },
}

/// Why a push frame is not a readable maintenance notice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintParseError {
    /// The frame is not a push.
    #[error("expected a push frame, got {0}")]
    NotAPush(String),
    /// The push has no elements, or its first is not text.
    #[error("push frame without a name")]
    NoName,
    /// A required argument is missing.
    #[error("{notice}: missing {field}")]
    Missing {
        /// Notice name.
        notice: String,
        /// Argument name.
        field: &'static str,
    },
    /// An argument has the wrong shape.
    #[error("{notice}: invalid {field} {value:?}")]
    Invalid {
        /// Notice name.
        notice: String,
        /// Argument name.
        field: &'static str,
        /// The argument as text.
        value: String,
    },
}

impl MaintNotice {
    /// Parses one push frame. Pushes with other names become [`MaintNotice::Other`].
    pub fn parse(frame: &OwnedFrame) -> Result<MaintNotice, MaintParseError> {
        let OwnedFrame::Push { data, .. } = frame else {
            return Err(MaintParseError::NotAPush(format!("{:?}", frame.kind())));
        };
        let (name, args) = data.split_first().ok_or(MaintParseError::NoName)?;
        let name = name.to_string().ok_or(MaintParseError::NoName)?;
        let a = Args { notice: &name, args };
        Ok(match name.to_ascii_uppercase().as_str() {
            "MOVING" => {
                MaintNotice::Moving { seq: a.number(0, "seq")?, time_s: a.number(1, "time")?, endpoint: a.endpoint(2)? }
            }
            "MIGRATING" => MaintNotice::Migrating { seq: a.number(0, "seq")?, time_s: a.number(1, "time")? },
            "MIGRATED" => MaintNotice::Migrated { seq: a.number(0, "seq")? },
            "FAILING_OVER" => MaintNotice::FailingOver { seq: a.number(0, "seq")?, time_s: a.number(1, "time")? },
            "FAILED_OVER" => MaintNotice::FailedOver { seq: a.number(0, "seq")? },
            "SMIGRATING" => {
                MaintNotice::Smigrating { seq: a.number(0, "seq")?, slots: a.slots(args.get(1..).unwrap_or_default())? }
            }
            "SMIGRATED" => MaintNotice::Smigrated { seq: a.number(0, "seq")?, moves: a.moves()? },
            _ => MaintNotice::Other { args: args.iter().map(frame_text).collect(), name },
        })
    }
}

struct Args<'a> {
    notice: &'a str,
    args: &'a [OwnedFrame],
}

impl Args<'_> {
    fn get(&self, i: usize, field: &'static str) -> Result<&OwnedFrame, MaintParseError> {
        self.args.get(i).ok_or_else(|| MaintParseError::Missing { notice: self.notice.to_string(), field })
    }

    fn invalid(&self, field: &'static str, frame: &OwnedFrame) -> MaintParseError {
        MaintParseError::Invalid { notice: self.notice.to_string(), field, value: frame_text(frame) }
    }

    fn number(&self, i: usize, field: &'static str) -> Result<u64, MaintParseError> {
        let frame = self.get(i, field)?;
        let n = match frame {
            OwnedFrame::Number { data, .. } => u64::try_from(*data).ok(),
            other => other.as_str().and_then(|s| s.trim().parse().ok()),
        };
        n.ok_or_else(|| self.invalid(field, frame))
    }

    fn endpoint(&self, i: usize) -> Result<Option<Endpoint>, MaintParseError> {
        let frame = self.get(i, "endpoint")?;
        if matches!(frame, OwnedFrame::Null) {
            return Ok(None);
        }
        let text = frame.as_str().ok_or_else(|| self.invalid("endpoint", frame))?;
        if text.is_empty() || text.eq_ignore_ascii_case("null") {
            return Ok(None);
        }
        text.parse::<Endpoint>().map(Some).map_err(|_| self.invalid("endpoint", frame))
    }

    /// Slots from any mix of `1-100,200` strings, nested arrays of them, and bare numbers.
    fn slots(&self, frames: &[OwnedFrame]) -> Result<Vec<SlotRange>, MaintParseError> {
        let mut out = Vec::new();
        for frame in frames {
            match frame {
                OwnedFrame::Array { data, .. } => out.extend(self.slots(data)?),
                OwnedFrame::Number { data, .. } => out.push(
                    u16::try_from(*data)
                        .ok()
                        .filter(|n| *n <= MAX_SLOT)
                        .map(SlotRange::single)
                        .ok_or_else(|| self.invalid("slots", frame))?,
                ),
                other => {
                    let text = other.as_str().ok_or_else(|| self.invalid("slots", frame))?;
                    for part in text.split([',', ' ']).filter(|p| !p.is_empty()) {
                        out.push(part.parse().map_err(|_| self.invalid("slots", frame))?);
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(MaintParseError::Missing { notice: self.notice.to_string(), field: "slots" });
        }
        Ok(merge(&out))
    }

    fn slot_move(&self, endpoint: &OwnedFrame, slots: &[OwnedFrame]) -> Result<SlotMove, MaintParseError> {
        let endpoint = endpoint
            .as_str()
            .and_then(|s| s.parse::<Endpoint>().ok())
            .ok_or_else(|| self.invalid("endpoint", endpoint))?;
        Ok(SlotMove { endpoint, slots: self.slots(slots)? })
    }

    /// `SMIGRATED <seq> [[host:port, slots], ...]` or `SMIGRATED <seq> host:port slots host:port slots ...`.
    fn moves(&self) -> Result<Vec<SlotMove>, MaintParseError> {
        let rest = self.args.get(1..).unwrap_or_default();
        let moves = match rest {
            [] => return Err(MaintParseError::Missing { notice: self.notice.to_string(), field: "slot moves" }),
            [OwnedFrame::Array { data, .. }] => data
                .iter()
                .map(|entry| match entry {
                    OwnedFrame::Array { data, .. } if data.len() >= 2 => self.slot_move(&data[0], &data[1..]),
                    other => Err(self.invalid("slot move", other)),
                })
                .collect::<Result<Vec<_>, _>>()?,
            flat if flat.len() % 2 == 0 => {
                flat.chunks(2).map(|pair| self.slot_move(&pair[0], &pair[1..])).collect::<Result<Vec<_>, _>>()?
            }
            odd => return Err(self.invalid("slot moves", &odd[odd.len() - 1])),
        };
        Ok(moves)
    }
}

/// A frame as short text, for unknown notices and error messages.
pub fn frame_text(frame: &OwnedFrame) -> String {
    match frame {
        OwnedFrame::Null => "null".to_string(),
        OwnedFrame::Array { data, .. } | OwnedFrame::Push { data, .. } => {
            let items: Vec<String> = data.iter().map(frame_text).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string().unwrap_or_else(|| format!("<{:?}>", other.kind())),
    }
}

struct RangesText<'a>(&'a [SlotRange]);

impl fmt::Display for RangesText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count: u32 = self.0.iter().map(SlotRange::len).sum();
        let list: Vec<String> =
            self.0.iter().map(|r| if r.start == r.end { r.start.to_string() } else { r.to_string() }).collect();
        write!(f, "{count} slot{} ({})", if count == 1 { "" } else { "s" }, list.join(","))
    }
}

impl fmt::Display for MaintNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MaintNotice::*;
        match self {
            Moving { seq, time_s, endpoint: Some(to) } => {
                write!(f, "MOVING #{seq}: endpoint moves to {to} (time {time_s} s)")
            }
            Moving { seq, time_s, endpoint: None } => {
                write!(f, "MOVING #{seq}: endpoint moves, no new address given (time {time_s} s)")
            }
            Migrating { seq, time_s } => write!(f, "MIGRATING #{seq}: node migration under way (time {time_s} s)"),
            Migrated { seq } => write!(f, "MIGRATED #{seq}: node migration done"),
            FailingOver { seq, time_s } => write!(f, "FAILING_OVER #{seq}: failover under way (time {time_s} s)"),
            FailedOver { seq } => write!(f, "FAILED_OVER #{seq}: failover done"),
            Smigrating { seq, slots } => {
                write!(f, "SMIGRATING #{seq}: {} migrating", RangesText(slots))
            }
            Smigrated { seq, moves } => {
                write!(f, "SMIGRATED #{seq}: ")?;
                for (i, m) in moves.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{} now at {}", RangesText(&m.slots), m.endpoint)?;
                }
                Ok(())
            }
            Other { name, args } => write!(f, "{name} {}", args.join(" ")),
        }
    }
}

/// The frame builders here serve the notice test in `maint` too.
#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::notices::maint) fn s(text: &str) -> OwnedFrame {
        OwnedFrame::BlobString { data: text.as_bytes().to_vec(), attributes: None }
    }

    pub(in crate::notices::maint) fn n(v: i64) -> OwnedFrame {
        OwnedFrame::Number { data: v, attributes: None }
    }

    pub(in crate::notices::maint) fn arr(data: Vec<OwnedFrame>) -> OwnedFrame {
        OwnedFrame::Array { data, attributes: None }
    }

    pub(in crate::notices::maint) fn push(data: Vec<OwnedFrame>) -> OwnedFrame {
        OwnedFrame::Push { data, attributes: None }
    }

    pub(in crate::notices::maint) fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    #[test]
    fn parses_node_notices() {
        let moving = MaintNotice::parse(&push(vec![s("MOVING"), n(1), n(15), s("127.0.0.1:7001")])).unwrap();
        assert_eq!(moving, MaintNotice::Moving { seq: 1, time_s: 15, endpoint: Some(ep(7001)) });
        assert_eq!(moving.to_string(), "MOVING #1: endpoint moves to 127.0.0.1:7001 (time 15 s)");
        for null in [OwnedFrame::Null, s("null")] {
            assert_eq!(
                MaintNotice::parse(&push(vec![s("MOVING"), s("2"), s("5"), null])).unwrap(),
                MaintNotice::Moving { seq: 2, time_s: 5, endpoint: None }
            );
        }
        assert_eq!(
            MaintNotice::parse(&push(vec![s("MIGRATING"), n(3), n(10), s("shard-1")])).unwrap(),
            MaintNotice::Migrating { seq: 3, time_s: 10 }
        );
        assert_eq!(MaintNotice::parse(&push(vec![s("MIGRATED"), n(3)])).unwrap(), MaintNotice::Migrated { seq: 3 });
        assert_eq!(
            MaintNotice::parse(&push(vec![s("FAILING_OVER"), n(4), n(2)])).unwrap(),
            MaintNotice::FailingOver { seq: 4, time_s: 2 }
        );
        assert_eq!(
            MaintNotice::parse(&push(vec![s("FAILED_OVER"), n(4)])).unwrap(),
            MaintNotice::FailedOver { seq: 4 }
        );
    }

    #[test]
    fn parses_cluster_notices_in_both_smigrated_forms() {
        let smigrating = MaintNotice::parse(&push(vec![s("SMIGRATING"), n(5), s("200,1-100")])).unwrap();
        assert_eq!(
            smigrating,
            MaintNotice::Smigrating { seq: 5, slots: vec![SlotRange::new(1, 100), SlotRange::single(200)] }
        );
        assert_eq!(smigrating.to_string(), "SMIGRATING #5: 101 slots (1-100,200) migrating");
        let expected = MaintNotice::Smigrated {
            seq: 6,
            moves: vec![
                SlotMove { endpoint: ep(7001), slots: vec![SlotRange::new(1, 100), SlotRange::single(200)] },
                SlotMove { endpoint: ep(7002), slots: vec![SlotRange::new(300, 400)] },
            ],
        };
        let nested = push(vec![
            s("SMIGRATED"),
            n(6),
            arr(vec![arr(vec![s("127.0.0.1:7001"), s("1-100,200")]), arr(vec![s("127.0.0.1:7002"), s("300-400")])]),
        ]);
        let flat =
            push(vec![s("SMIGRATED"), n(6), s("127.0.0.1:7001"), s("1-100,200"), s("127.0.0.1:7002"), s("300-400")]);
        assert_eq!(MaintNotice::parse(&nested).unwrap(), expected);
        assert_eq!(MaintNotice::parse(&flat).unwrap(), expected);
        assert_eq!(
            expected.to_string(),
            "SMIGRATED #6: 101 slots (1-100,200) now at 127.0.0.1:7001; 101 slots (300-400) now at 127.0.0.1:7002"
        );
    }

    #[test]
    fn serialises_with_the_server_names() {
        let json = serde_json::to_value(MaintNotice::FailingOver { seq: 4, time_s: 2 }).unwrap();
        assert_eq!(json, serde_json::json!({"notice": "FAILING_OVER", "seq": 4, "time_s": 2}));
        let m = MaintNotice::Smigrated {
            seq: 1,
            moves: vec![SlotMove { endpoint: ep(1), slots: vec![SlotRange::single(9)] }],
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.starts_with(r#"{"notice":"SMIGRATED""#), "{text}");
        assert_eq!(serde_json::from_str::<MaintNotice>(&text).unwrap(), m);
    }

    #[test]
    fn unknown_pushes_are_kept_and_malformed_ones_are_errors() {
        assert_eq!(
            MaintNotice::parse(&push(vec![s("invalidate"), arr(vec![s("k")])])).unwrap(),
            MaintNotice::Other { name: "invalidate".into(), args: vec!["[k]".into()] }
        );
        use MaintParseError::*;
        assert!(matches!(MaintNotice::parse(&s("MOVING")), Err(NotAPush(_))));
        assert_eq!(MaintNotice::parse(&push(vec![])), Err(NoName));
        assert!(matches!(MaintNotice::parse(&push(vec![s("MOVING"), n(1)])), Err(Missing { field: "time", .. })));
        assert!(matches!(MaintNotice::parse(&push(vec![s("MIGRATED"), n(-1)])), Err(Invalid { field: "seq", .. })));
        assert!(matches!(
            MaintNotice::parse(&push(vec![s("MOVING"), n(1), n(1), s("nowhere")])),
            Err(Invalid { field: "endpoint", .. })
        ));
        assert!(matches!(
            MaintNotice::parse(&push(vec![s("SMIGRATING"), n(1), s("5-99999")])),
            Err(Invalid { field: "slots", .. })
        ));
        assert!(matches!(MaintNotice::parse(&push(vec![s("SMIGRATING"), n(1)])), Err(Missing { field: "slots", .. })));
        assert!(MaintNotice::parse(&push(vec![s("SMIGRATED"), n(1), s("127.0.0.1:1")])).is_err());
        assert!(MaintNotice::parse(&push(vec![s("SMIGRATED"), n(1), arr(vec![s("x")])])).is_err());
        assert!(MaintNotice::parse(&push(vec![s("SMIGRATED"), n(1)])).is_err());
    }
}
