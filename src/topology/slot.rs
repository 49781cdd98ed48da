//! Hash-slot arithmetic: which slot a key maps to, inclusive slot ranges and their
//! union/complement, and short hash tags that steer a key into a chosen slot so the
//! probe can address every shard deliberately.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::OnceLock;

/// Number of hash slots in a Redis cluster.
pub const SLOT_COUNT: u16 = 16384;

/// Highest valid slot number.
pub const MAX_SLOT: u16 = SLOT_COUNT - 1;

/// Hash slot of a key: CRC16-XMODEM mod 16384 of the key, or of its hash tag (the
/// text between the first `{` and the first `}` after it, when non-empty).
pub fn key_slot(key: &[u8]) -> u16 {
    // redis-protocol implements exactly the cluster-spec rule; the tests below pin it.
    redis_protocol::redis_keyslot(key)
}

/// Inclusive range of hash slots, `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotRange {
    /// First slot of the range.
    pub start: u16,
    /// Last slot of the range (inclusive).
    pub end: u16,
}

impl SlotRange {
    /// Range `start..=end`.
    pub fn new(start: u16, end: u16) -> SlotRange {
        SlotRange { start, end }
    }

    /// Range holding exactly one slot.
    pub fn single(slot: u16) -> SlotRange {
        SlotRange { start: slot, end: slot }
    }

    /// Number of slots in the range (0 if `end < start`).
    pub fn len(&self) -> u32 {
        if self.end < self.start {
            0
        } else {
            u32::from(self.end) - u32::from(self.start) + 1
        }
    }

    /// Whether the range is malformed (`end < start`) and so holds no slot.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// Whether `slot` lies in the range.
    pub fn contains(&self, slot: u16) -> bool {
        self.start <= slot && slot <= self.end
    }

    /// The slots of the range, for iteration.
    pub fn slots(&self) -> RangeInclusive<u16> {
        self.start..=self.end
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Why a string is not a slot range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotRangeParseError {
    /// A bound is not a number.
    #[error("slot range {0:?} is not a number or start-end pair")]
    NotANumber(String),
    /// A bound is above 16383 or the range runs backwards.
    #[error("slot range {0:?} is out of 0-16383 or reversed")]
    OutOfRange(String),
}

impl FromStr for SlotRange {
    type Err = SlotRangeParseError;

    /// Parses `start-end` or a single slot `n`, as `CLUSTER NODES` prints them.
    fn from_str(s: &str) -> Result<SlotRange, SlotRangeParseError> {
        let bad = || SlotRangeParseError::NotANumber(s.to_string());
        let (start, end) = match s.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?),
            None => {
                let n = s.parse::<u16>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if start > end || end > MAX_SLOT {
            return Err(SlotRangeParseError::OutOfRange(s.to_string()));
        }
        Ok(SlotRange { start, end })
    }
}

/// Union of `ranges`: sorted, with overlapping and adjacent ranges joined and empty
/// ones dropped.
pub fn merge(ranges: &[SlotRange]) -> Vec<SlotRange> {
    let mut sorted: Vec<SlotRange> = ranges.iter().copied().filter(|r| !r.is_empty()).collect();
    sorted.sort();
    let mut out: Vec<SlotRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if u32::from(r.start) <= u32::from(last.end) + 1 => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

/// Slots of `0..=16383` that no range in `ranges` covers, as sorted ranges.
pub fn uncovered(ranges: &[SlotRange]) -> Vec<SlotRange> {
    let mut out = Vec::new();
    // u32 so that "next slot after 16383" does not overflow.
    let mut next: u32 = 0;
    for r in merge(ranges) {
        if u32::from(r.start) > next {
            out.push(SlotRange::new(next as u16, r.start - 1));
        }
        next = next.max(u32::from(r.end) + 1);
    }
    if next <= u32::from(MAX_SLOT) {
        out.push(SlotRange::new(next as u16, MAX_SLOT));
    }
    out
}

/// Number of distinct slots in `0..=16383` that `ranges` cover.
pub fn covered_count(ranges: &[SlotRange]) -> u32 {
    u32::from(SLOT_COUNT) - uncovered(ranges).iter().map(SlotRange::len).sum::<u32>()
}

/// Collapses a set of slots (any order, duplicates allowed) into sorted ranges.
pub fn ranges_from_slots(slots: impl IntoIterator<Item = u16>) -> Vec<SlotRange> {
    let singles: Vec<SlotRange> = slots.into_iter().map(SlotRange::single).collect();
    merge(&singles)
}

const TAG_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn tag_table() -> &'static [String] {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    TABLE.get_or_init(build_tag_table)
}

// Shortest-first search over alphanumeric strings, so every tag is as short as
// possible and the table is the same on every run.
fn build_tag_table() -> Vec<String> {
    let mut table: Vec<Option<String>> = vec![None; usize::from(SLOT_COUNT)];
    let mut filled = 0usize;
    let base = TAG_ALPHABET.len();
    let mut len: u32 = 1;
    while filled < table.len() {
        for index in 0..base.pow(len) {
            let mut rest = index;
            let mut tag = vec![0u8; len as usize];
            for byte in tag.iter_mut().rev() {
                *byte = TAG_ALPHABET[rest % base];
                rest /= base;
            }
            let slot = usize::from(key_slot(&tag));
            if table[slot].is_none() {
                table[slot] = Some(String::from_utf8(tag).expect("alphabet is ASCII"));
                filled += 1;
                if filled == table.len() {
                    break;
                }
            }
        }
        len += 1;
    }
    table.into_iter().map(|t| t.expect("every slot filled")).collect()
}

/// A short alphanumeric hash tag whose slot is `slot`: a key containing `{tag}` lands
/// in that slot. Slots above 16383 wrap modulo 16384. The lookup table is built once,
/// on first use.
pub fn tag_for_slot(slot: u16) -> String {
    debug_assert!(slot <= MAX_SLOT, "slot {slot} out of range");
    tag_table()[usize::from(slot % SLOT_COUNT)].clone()
}

/// Hash tag for the first slot of the first non-empty range, or `None` if there is none.
pub fn tag_in_ranges(ranges: &[SlotRange]) -> Option<String> {
    ranges.iter().find(|r| !r.is_empty()).map(|r| tag_for_slot(r.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Independent bitwise CRC16-XMODEM (poly 0x1021, init 0), to cross-check the library.
    fn crc16_xmodem(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &b in data {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            }
        }
        crc
    }

    #[test]
    fn key_slot_matches_known_values() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        // 0x31C3 is below 16384, so the modulo leaves it unchanged.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn key_slot_honours_hash_tags() {
        let a = key_slot(b"{user1000}.following");
        assert_eq!(a, key_slot(b"{user1000}.followers"));
        assert_eq!(a, key_slot(b"user1000"));
        // Only the first '{' counts, and the first '}' after it.
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        // Empty tag: the whole key is hashed.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16_xmodem(b"foo{}{bar}") % 16384);
        // No closing brace or a trailing '{': whole key.
        assert_eq!(key_slot(b"foo{bar"), crc16_xmodem(b"foo{bar") % 16384);
        assert_eq!(key_slot(b"foo{"), crc16_xmodem(b"foo{") % 16384);
    }

    #[test]
    fn key_slot_agrees_with_reference_crc() {
        for i in 0..2000u32 {
            let key = format!("probe:{i}:k");
            assert_eq!(key_slot(key.as_bytes()), crc16_xmodem(key.as_bytes()) % 16384, "{key}");
        }
    }

    #[test]
    fn range_len_display_parse() {
        let r = SlotRange::new(0, 5460);
        assert_eq!(r.len(), 5461);
        assert!(!r.is_empty());
        assert!(r.contains(5460) && !r.contains(5461));
        assert_eq!(r.to_string(), "0-5460");
        assert_eq!(SlotRange::single(7).to_string(), "7-7");
        assert_eq!("5461-10922".parse::<SlotRange>(), Ok(SlotRange::new(5461, 10922)));
        assert_eq!("42".parse::<SlotRange>(), Ok(SlotRange::single(42)));
        assert!(matches!("10-5".parse::<SlotRange>(), Err(SlotRangeParseError::OutOfRange(_))));
        assert!(matches!("0-16384".parse::<SlotRange>(), Err(SlotRangeParseError::OutOfRange(_))));
        assert!(matches!("a-b".parse::<SlotRange>(), Err(SlotRangeParseError::NotANumber(_))));
        assert_eq!(SlotRange::new(5, 4).len(), 0);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"start":0,"end":5460}"#);
    }

    #[test]
    fn merge_joins_overlaps_and_neighbours() {
        let merged = merge(&[
            SlotRange::new(100, 200),
            SlotRange::new(0, 10),
            SlotRange::new(11, 20),
            SlotRange::new(150, 300),
            SlotRange::new(500, 500),
            SlotRange::new(9, 4),
        ]);
        assert_eq!(merged, vec![SlotRange::new(0, 20), SlotRange::new(100, 300), SlotRange::new(500, 500)]);
        assert!(merge(&[]).is_empty());
    }

    #[test]
    fn uncovered_reports_gaps() {
        assert_eq!(uncovered(&[]), vec![SlotRange::new(0, 16383)]);
        let full = [SlotRange::new(0, 5460), SlotRange::new(5461, 10922), SlotRange::new(10923, 16383)];
        assert!(uncovered(&full).is_empty());
        assert_eq!(covered_count(&full), 16384);
        let partial = [SlotRange::new(1, 5460), SlotRange::new(10923, 16382)];
        assert_eq!(
            uncovered(&partial),
            vec![SlotRange::new(0, 0), SlotRange::new(5461, 10922), SlotRange::new(16383, 16383)]
        );
        assert_eq!(covered_count(&partial), 5460 + 5460);
    }

    #[test]
    fn ranges_from_scattered_slots() {
        assert_eq!(
            ranges_from_slots([5, 3, 4, 4, 10, 16383]),
            vec![SlotRange::new(3, 5), SlotRange::new(10, 10), SlotRange::new(16383, 16383)]
        );
    }

    #[test]
    fn tags_hit_every_slot_and_stay_short() {
        for slot in 0..SLOT_COUNT {
            let tag = tag_for_slot(slot);
            assert!(tag.len() <= 4, "tag {tag:?} too long");
            assert!(tag.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(key_slot(tag.as_bytes()), slot);
            assert_eq!(key_slot(format!("probe:{{{tag}}}:x").as_bytes()), slot);
        }
        // Deterministic: single-character tags come first.
        assert_eq!(tag_for_slot(key_slot(b"a")), "a");
    }

    #[test]
    fn tag_in_ranges_uses_first_slot() {
        let ranges = [SlotRange::new(5461, 10922), SlotRange::new(0, 10)];
        let tag = tag_in_ranges(&ranges).unwrap();
        assert_eq!(key_slot(tag.as_bytes()), 5461);
        assert_eq!(tag_in_ranges(&[]), None);
    }
}
