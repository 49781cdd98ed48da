//! Waiting for a lab's state: conditions polled every few milliseconds until they hold or a limit passes, with
//! the reason they do not hold yet and the node whose log explains it.

use std::time::Duration;

/// Polls a condition (an expression giving a future of `Result<T, Pending>`, evaluated afresh on every turn) every
/// ~10 ms until it holds, or fails after `limit` with the reason and the log of the node it names. A macro rather
/// than a function taking an async closure, so the futures of `Lab::run` stay `Send`.
macro_rules! wait_until {
    ($lab:expr, $what:expr, $limit:expr, $check:expr) => {{
        let limit: std::time::Duration = $limit;
        let until = std::time::Instant::now() + limit;
        loop {
            let outcome: Result<_, $crate::lab::Pending> = $check.await;
            match outcome {
                Ok(v) => break Ok::<_, $crate::error::AppError>(v),
                Err(p) if std::time::Instant::now() >= until => {
                    break Err($lab.fail_at(
                        &format!("{}: not done within {}: {}", $what, $crate::duration::human(limit), p.why),
                        p.port,
                    ));
                }
                Err(_) => tokio::time::sleep($crate::lab::POLL).await,
            }
        }
    }};
}

/// A reason a polled condition does not hold yet, and the node whose log explains it.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub why: String,
    pub port: Option<u16>,
}

pub(crate) fn pending(why: impl Into<String>, port: Option<u16>) -> Pending {
    Pending { why: why.into(), port }
}

/// How often conditions are polled.
pub(crate) const POLL: Duration = Duration::from_millis(10);
