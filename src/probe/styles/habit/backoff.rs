//! A client's reconnect backoff: how long it waits before its n-th reconnect attempt (or, for a client that
//! reconnects when a command next needs the connection, before the n-th retry). Written and parsed as
//! `none`, `fixed:100ms`, `linear:0ms+50ms..500ms`, `exp:50ms..2s+200ms`, `exp:2500ms..10s*1.1~base`.

use std::fmt;
use std::time::Duration;

use super::fmt_exact;
use crate::duration::parse_duration;

/// Waits between reconnect attempts. `n` counts attempts from 0 (the first reconnect).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// No wait: reconnects at once, or when a command next needs the connection.
    None,
    /// The same wait every time.
    Fixed(Duration),
    /// `min(start + n·step, max)`: node-redis 4 (`min(retries*50, 500)` ms), ioredis's cluster reconnect.
    Linear {
        /// The first wait.
        start: Duration,
        /// Added at every attempt.
        step: Duration,
        /// The cap.
        max: Duration,
    },
    /// `d = min(base·factorⁿ, max)`, then [`Jitter`].
    Exponential {
        /// The first wait before jitter.
        base: Duration,
        /// Growth per attempt (2 doubles).
        factor: f64,
        /// The cap.
        max: Duration,
        /// Randomness on top.
        jitter: Jitter,
    },
}

/// Randomness applied to an exponential wait `d`; `roll` is uniform in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// `d`.
    None,
    /// `d + roll·j` (node-redis 5/6: 0-199 ms).
    Add(Duration),
    /// `d·(1 - p + 2p·roll)`, `p` in percent (valkey-glide: ±20 %).
    Spread(u32),
    /// `roll·d` (redis-py's `ExponentialWithJitterBackoff`).
    Full,
    /// `base + roll·(d - base)` (StackExchange.Redis `ExponentialRetry`).
    FromBase,
    /// `min(floor + roll·d, max)` (go-redis `RetryBackoff`).
    Above(Duration),
}

/// The wait before reconnect attempt `n` (0 for the first), with `roll` in `[0, 1)` standing for the client's
/// random number (values outside are clamped).
pub fn next_backoff(backoff: &Backoff, n: u32, roll: f64) -> Duration {
    let roll = if roll.is_finite() { roll.clamp(0.0, 1.0) } else { 0.0 };
    match *backoff {
        Backoff::None => Duration::ZERO,
        Backoff::Fixed(d) => d,
        Backoff::Linear { start, step, max } => start.saturating_add(step.saturating_mul(n)).min(max),
        Backoff::Exponential { base, factor, max, jitter } => {
            let grown = base.as_secs_f64() * factor.max(1.0).powf(f64::from(n.min(1024)));
            let d = secs(grown).min(max);
            match jitter {
                Jitter::None => d,
                Jitter::Add(j) => d + j.mul_f64(roll),
                Jitter::Spread(p) => {
                    let p = f64::from(p.min(100)) / 100.0;
                    d.mul_f64(1.0 - p + 2.0 * p * roll)
                }
                Jitter::Full => d.mul_f64(roll),
                Jitter::FromBase => base.min(d) + d.saturating_sub(base).mul_f64(roll),
                Jitter::Above(floor) => (floor + d.mul_f64(roll)).min(max),
            }
        }
    }
}

/// Seconds as a duration, saturating where `f64` outgrows it.
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Backoff::None => f.write_str("none"),
            Backoff::Fixed(d) => write!(f, "fixed:{}", fmt_exact(d)),
            Backoff::Linear { start, step, max } => {
                write!(f, "linear:{}+{}..{}", fmt_exact(start), fmt_exact(step), fmt_exact(max))
            }
            Backoff::Exponential { base, factor, max, jitter } => {
                write!(f, "exp:{}..{}", fmt_exact(base), fmt_exact(max))?;
                if factor != 2.0 {
                    write!(f, "*{factor}")?;
                }
                match jitter {
                    Jitter::None => Ok(()),
                    Jitter::Add(j) => write!(f, "+{}", fmt_exact(j)),
                    Jitter::Spread(p) => write!(f, "~{p}%"),
                    Jitter::Full => f.write_str("~full"),
                    Jitter::FromBase => f.write_str("~base"),
                    Jitter::Above(floor) => write!(f, "~above:{}", fmt_exact(floor)),
                }
            }
        }
    }
}

/// The forms [`parse_backoff`] accepts, for error messages.
pub const BACKOFF_FORMS: &str =
    "none, fixed:DUR, linear:START+STEP..MAX, exp:BASE..MAX[*FACTOR][+DUR|~PCT%|~full|~base|~above:DUR]";

/// Parses the [`Display`](fmt::Display) form of a [`Backoff`].
pub fn parse_backoff(text: &str) -> Result<Backoff, String> {
    let t = text.trim();
    let bad = |why: String| format!("'{t}' is no backoff ({why}): give {BACKOFF_FORMS}");
    let dur = |s: &str| parse_duration(s).map_err(&bad);
    if t == "none" {
        return Ok(Backoff::None);
    }
    if let Some(d) = t.strip_prefix("fixed:") {
        return Ok(Backoff::Fixed(dur(d)?));
    }
    if let Some(rest) = t.strip_prefix("linear:") {
        let (start, rest) = rest.split_once('+').ok_or_else(|| bad("no '+STEP'".into()))?;
        let (step, max) = rest.split_once("..").ok_or_else(|| bad("no '..MAX'".into()))?;
        return Ok(Backoff::Linear { start: dur(start)?, step: dur(step)?, max: dur(max)? });
    }
    let rest = t.strip_prefix("exp:").ok_or_else(|| bad("unknown kind".into()))?;
    let (base, rest) = rest.split_once("..").ok_or_else(|| bad("no '..MAX'".into()))?;
    let cut = rest.find(['*', '+', '~']).unwrap_or(rest.len());
    let (max, mut rest) = rest.split_at(cut);
    let mut factor = 2.0;
    if let Some(r) = rest.strip_prefix('*') {
        let end = r.find(['+', '~']).unwrap_or(r.len());
        factor = r[..end].parse::<f64>().map_err(|_| bad(format!("factor '{}' is no number", &r[..end])))?;
        if !factor.is_finite() || factor < 1.0 {
            return Err(bad("the factor must be at least 1".into()));
        }
        rest = &r[end..];
    }
    let jitter = match rest {
        "" => Jitter::None,
        "~full" => Jitter::Full,
        "~base" => Jitter::FromBase,
        r => {
            if let Some(j) = r.strip_prefix('+') {
                Jitter::Add(dur(j)?)
            } else if let Some(floor) = r.strip_prefix("~above:") {
                Jitter::Above(dur(floor)?)
            } else if let Some(p) = r.strip_prefix('~').and_then(|p| p.strip_suffix('%')) {
                Jitter::Spread(p.parse::<u32>().ok().filter(|p| *p <= 100).ok_or_else(|| bad("percent 0-100".into()))?)
            } else {
                return Err(bad(format!("unknown jitter '{r}'")));
            }
        }
    };
    Ok(Backoff::Exponential { base: dur(base)?, factor, max: dur(max)?, jitter })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn node_redis_4_is_linear_50ms_capped_at_500ms() {
        let b = Backoff::Linear { start: ms(0), step: ms(50), max: ms(500) };
        let waits: Vec<u64> = (0..12).map(|n| next_backoff(&b, n, 0.5).as_millis() as u64).collect();
        assert_eq!(waits, [0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 500]);
    }

    #[test]
    fn node_redis_6_doubles_from_50ms_to_2s_plus_up_to_200ms() {
        let b = Backoff::Exponential { base: ms(50), factor: 2.0, max: ms(2000), jitter: Jitter::Add(ms(200)) };
        assert_eq!(next_backoff(&b, 0, 0.0), ms(50));
        assert_eq!(next_backoff(&b, 3, 0.0), ms(400));
        assert_eq!(next_backoff(&b, 6, 0.0), ms(2000));
        assert_eq!(next_backoff(&b, 60, 0.0), ms(2000), "no overflow far out");
        assert_eq!(next_backoff(&b, 0, 0.5), ms(150));
        assert!(next_backoff(&b, 6, 0.999) < ms(2200));
    }

    #[test]
    fn every_jitter_stays_in_its_range() {
        let exp = |jitter| Backoff::Exponential { base: ms(100), factor: 2.0, max: ms(1000), jitter };
        // d = 400 ms at n = 2.
        assert_eq!(next_backoff(&exp(Jitter::Spread(20)), 2, 0.0), ms(320));
        assert_eq!(next_backoff(&exp(Jitter::Spread(20)), 2, 1.0), ms(480));
        assert_eq!(next_backoff(&exp(Jitter::Full), 2, 0.25), ms(100));
        assert_eq!(next_backoff(&exp(Jitter::FromBase), 2, 0.5), ms(250));
        assert_eq!(next_backoff(&exp(Jitter::Above(ms(50))), 2, 0.5), ms(250));
        assert_eq!(next_backoff(&exp(Jitter::Above(ms(900))), 2, 1.0), ms(1000), "capped");
        assert_eq!(next_backoff(&Backoff::Fixed(ms(7)), 9, 0.3), ms(7));
        assert_eq!(next_backoff(&Backoff::None, 9, 0.3), Duration::ZERO);
        assert_eq!(next_backoff(&exp(Jitter::Full), 2, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn stackexchange_grows_by_a_tenth_from_its_base() {
        let b = Backoff::Exponential { base: ms(2500), factor: 1.1, max: ms(10_000), jitter: Jitter::FromBase };
        assert_eq!(next_backoff(&b, 0, 0.9), ms(2500));
        let n10 = next_backoff(&b, 10, 1.0);
        assert!(n10 > ms(6400) && n10 < ms(6500), "{n10:?}");
        assert_eq!(next_backoff(&b, 100, 1.0), ms(10_000));
    }

    #[test]
    fn backoffs_print_and_parse_back() {
        for b in [
            Backoff::None,
            Backoff::Fixed(ms(100)),
            Backoff::Linear { start: ms(0), step: ms(50), max: ms(500) },
            Backoff::Exponential { base: ms(50), factor: 2.0, max: ms(2000), jitter: Jitter::Add(ms(200)) },
            Backoff::Exponential { base: ms(2500), factor: 1.1, max: ms(10_000), jitter: Jitter::FromBase },
            Backoff::Exponential { base: ms(200), factor: 2.0, max: ms(3200), jitter: Jitter::Spread(20) },
            Backoff::Exponential { base: ms(20), factor: 2.0, max: ms(1000), jitter: Jitter::Full },
            Backoff::Exponential { base: ms(16), factor: 2.0, max: ms(512), jitter: Jitter::Above(ms(8)) },
            Backoff::Exponential { base: ms(1), factor: 2.0, max: ms(30_000), jitter: Jitter::None },
        ] {
            assert_eq!(parse_backoff(&b.to_string()), Ok(b), "{b}");
        }
        assert_eq!(Backoff::Linear { start: ms(0), step: ms(50), max: ms(500) }.to_string(), "linear:0s+50ms..500ms");
    }

    #[test]
    fn bad_backoffs_say_which_forms_exist() {
        for bad in ["soon", "exp:50ms", "exp:50ms..2s*0.5", "exp:50ms..2s~sometimes", "linear:50ms..1s", "fixed:x"] {
            let e = parse_backoff(bad).unwrap_err();
            assert!(e.contains("give none, fixed:DUR"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
