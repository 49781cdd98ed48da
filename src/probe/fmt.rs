//! Short human forms of durations for tables, progress lines and verdict
//! reasons: `850ms`, `1.3s`, `2m05s`, `1h02m05s`, `3d01h12m03s`.

use std::time::Duration;

/// Formats a millisecond count in its short human form.
///
/// Below one second the exact milliseconds (`850ms`); below one minute the
/// seconds rounded to a tenth, without a trailing `.0` (`1.3s`, `5s`);
/// then minutes and zero-padded seconds (`2m05s`), hours (`1h02m05s`) and days (`3d01h12m03s`), so a watcher left
/// running for weeks reads in days rather than hundreds of hours.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    // Round to tenths first so that 59_960 ms becomes "1m00s", not "60s".
    let tenths = ms.saturating_add(50) / 100;
    if tenths < 600 {
        let (whole, frac) = (tenths / 10, tenths % 10);
        return if frac == 0 { format!("{whole}s") } else { format!("{whole}.{frac}s") };
    }
    let secs = ms.saturating_add(500) / 1000;
    let (d, h, m, s) = (secs / 86_400, (secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m{s:02}s")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// Formats a [`Duration`] like [`fmt_ms`] (truncated to whole milliseconds).
pub fn fmt_duration(d: Duration) -> String {
    fmt_ms(duration_ms(d))
}

/// Whole milliseconds of a duration, saturating at `u64::MAX`.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds() {
        assert_eq!(fmt_ms(0), "0ms");
        assert_eq!(fmt_ms(850), "850ms");
        assert_eq!(fmt_ms(999), "999ms");
    }

    #[test]
    fn seconds() {
        assert_eq!(fmt_ms(1000), "1s");
        assert_eq!(fmt_ms(1300), "1.3s");
        assert_eq!(fmt_ms(1349), "1.3s");
        assert_eq!(fmt_ms(1350), "1.4s");
        assert_eq!(fmt_ms(5000), "5s");
        assert_eq!(fmt_ms(12_345), "12.3s");
        assert_eq!(fmt_ms(59_949), "59.9s");
    }

    #[test]
    fn minutes_and_hours() {
        assert_eq!(fmt_ms(59_960), "1m00s");
        assert_eq!(fmt_ms(60_000), "1m00s");
        assert_eq!(fmt_ms(125_000), "2m05s");
        assert_eq!(fmt_ms(125_499), "2m05s");
        assert_eq!(fmt_ms(3_725_000), "1h02m05s");
        assert_eq!(fmt_ms(86_399_000), "23h59m59s");
    }

    #[test]
    fn days() {
        assert_eq!(fmt_ms(86_400_000), "1d00h00m00s");
        assert_eq!(fmt_ms((3 * 86_400 + 3600 + 12 * 60 + 3) * 1000), "3d01h12m03s");
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(Duration::from_micros(1_299_999)), "1.3s");
        assert_eq!(duration_ms(Duration::from_micros(2_999)), 2);
        assert_eq!(duration_ms(Duration::MAX), u64::MAX);
    }
}
