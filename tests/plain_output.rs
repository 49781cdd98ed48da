//! The plain lines a failover prints when stdout is not a terminal (CI, logs): no Rust Debug text of library
//! errors, and the times at the start of the lines never go backwards.

mod support;

use std::time::Duration;

/// The offset (seconds) and the time of day of a line that starts with the plain view's stamp,
/// `HH:MM:SS.mmm [+   5.1s] `.
fn stamp_of(line: &str) -> Option<(f64, &str)> {
    let (time, rest) = line.split_once(' ')?;
    let bytes = time.as_bytes();
    let is_time = bytes.len() == 12
        && bytes.iter().enumerate().all(|(i, b)| match i {
            2 | 5 => *b == b':',
            8 => *b == b'.',
            _ => b.is_ascii_digit(),
        });
    if !is_time {
        return None;
    }
    let inner = rest.strip_prefix("[+")?.split_once("s]")?.0;
    Some((inner.trim().parse().ok()?, time))
}

fn stamp_offset(line: &str) -> Option<f64> {
    stamp_of(line).map(|(offset, _)| offset)
}

#[test]
fn stamp_offsets_are_read_from_plain_lines() {
    assert_eq!(stamp_offset("12:00:05.123 [+   5.1s] OUTAGE STARTED on 0-5460 (timeout)"), Some(5.1));
    assert_eq!(stamp_offset("12:00:05.123 [+  15.0s] heartbeat: 3 probes"), Some(15.0));
    assert_eq!(stamp_offset("shard   probes"), None);
}

#[test]
fn a_failover_prints_readable_lines_in_time_order() {
    support::heavy(|| async {
        let out = support::bin()
            .args(["--mode", "oss-cluster", "failover-recovery", "--lab", "kill-primary"])
            .args(["--duration", "12s", "--at", "3s", "--interval", "100ms"])
            .timeout(Duration::from_secs(150))
            .output()
            .expect("run the binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = || format!("stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "exit {:?}\n{}", out.status.code(), shown());

        for line in stdout.lines().chain(stderr.lines()) {
            for debug in ["Os {", "Custom {", "kind:"] {
                assert!(!line.contains(debug), "Debug text {debug:?} in the line\n{line}\n{}", shown());
            }
        }

        // By offset, then by the milliseconds of the time of day (a run does not cross midnight).
        let stamped: Vec<((f64, &str), &str)> =
            stdout.lines().filter_map(|l| stamp_of(l).map(|stamp| (stamp, l))).collect();
        assert!(
            stamped.iter().any(|(_, l)| l.contains("OUTAGE STARTED")),
            "the killed primary's shard had an outage: {}",
            shown()
        );
        assert!(stamped.iter().any(|(_, l)| l.contains(" lab ")), "the lab's events are printed: {}", shown());
        for pair in stamped.windows(2) {
            assert!(pair[0].0 <= pair[1].0, "the stamps go backwards:\n{}\n{}\n{}", pair[0].1, pair[1].1, shown());
        }
    });
}
