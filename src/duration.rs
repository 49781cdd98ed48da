//! Duration arguments: humantime (`250ms`, `5m`, `1h30m`) or a bare number of seconds (`300`, `0.5`).

use std::time::Duration;

/// Parses a duration flag. A bare number is seconds, because runbooks write `--duration 300`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration: give e.g. 300, 30s, 250ms or 5m".into());
    }
    if t.starts_with('-') {
        return Err(format!("'{t}' is negative: durations must be positive"));
    }
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || secs > 1.0e9 {
            return Err(format!("'{t}' is not a usable number of seconds"));
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(t).map_err(|e| format!("'{t}' is not a duration ({e}): give e.g. 300, 30s, 250ms or 5m"))
}

/// Like [`parse_duration`], but zero is refused: used by every flag where zero makes no sense.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("'{}' is zero: this duration must be greater than zero", text.trim()));
    }
    Ok(d)
}

/// Formats a duration for people: `850ms`, `1.3s`, `2m05s` (one formatter for the whole tool).
pub fn human(d: Duration) -> String {
    crate::probe::fmt_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("0.25").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn humantime_forms_are_accepted() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        assert!(parse_duration("soon").unwrap_err().contains("not a duration"));
        assert!(parse_duration("-5").unwrap_err().contains("negative"));
        assert!(parse_duration("").is_err());
        assert!(parse_positive_duration("0").unwrap_err().contains("zero"));
        assert!(parse_positive_duration("0s").unwrap_err().contains("zero"));
    }

    #[test]
    fn human_formats() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(1300)), "1.3s");
        assert_eq!(human(Duration::from_secs(125)), "2m05s");
    }
}
