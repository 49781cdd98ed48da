//! Smart-client-handoff maintenance notices: after `HELLO 3` and `CLIENT MAINT_NOTIFICATIONS ON`, a server
//! pushes `MOVING`, `MIGRATING`, `MIGRATED`, `FAILING_OVER`, `FAILED_OVER` and, on clusters, `SMIGRATING` and
//! `SMIGRATED` frames ahead of the maintenance it is about to do. This module parses those frames into
//! [`MaintNotice`] and runs a listener that puts each on the run's timeline as a `maint_notification` notice.
//!
//! `parse` reads the frames; `listen` owns the connection that receives them (a plain TCP one, not a fred
//! client, and plaintext only); this file turns a frame into the notice on the timeline.

mod listen;
mod parse;

pub use listen::{listen_maint_notices, MaintError};
pub use parse::{frame_text, MaintNotice, MaintParseError, SlotMove};

use redis_protocol::resp3::types::OwnedFrame;

use crate::clock::Clock;
use crate::events::NoticeEvent;
use crate::topology::Endpoint;

/// The `kind` of the notices this module sends.
pub const NOTICE_KIND: &str = "maint_notification";

/// The address form asked for in `MOVING` notices.
pub const MOVING_ENDPOINT_TYPE: &str = "internal-ip";

/// The notice for one push frame: parsed when it can be, else the parse error and the frame as text.
pub fn notice_for(clock: &Clock, endpoint: &Endpoint, frame: &OwnedFrame) -> NoticeEvent {
    let (detail, data) = match MaintNotice::parse(frame) {
        Ok(notice) => (format!("{endpoint}: {notice}"), serde_json::to_value(&notice).ok()),
        Err(e) => (format!("{endpoint}: unreadable maintenance notice ({e}): {}", frame_text(frame)), None),
    };
    NoticeEvent { stamp: clock.now(), kind: NOTICE_KIND.to_string(), detail, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notices::maint::parse::tests::{ep, n, push, s};

    #[test]
    fn unreadable_pushes_still_become_notices() {
        let clock = Clock::start();
        let bad = notice_for(&clock, &ep(1), &push(vec![s("MOVING"), s("x")]));
        assert_eq!(bad.kind, NOTICE_KIND);
        assert!(bad.data.is_none());
        assert!(bad.detail.contains("[MOVING, x]"), "{}", bad.detail);
        let good = notice_for(&clock, &ep(1), &push(vec![s("MIGRATED"), n(9)]));
        assert_eq!(good.data.unwrap()["notice"], "MIGRATED");
        assert_eq!(good.detail, "127.0.0.1:1: MIGRATED #9: node migration done");
    }
}
