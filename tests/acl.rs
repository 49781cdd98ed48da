//! A least-privilege ACL user, as a managed cache hands out for an application: it may only SET/GET/DEL keys
//! under `rfp:*` (plus PING, HELLO, AUTH, CLIENT SETNAME), and INFO, CLUSTER and CLIENT LIST are denied.
//!
//! What the tool does with such a user (decided here):
//! - `status` still works: PINGs are timed, and what needs INFO is left out (no version, role, cluster mode);
//!   exit 0.
//! - `cluster-info` and `client-list` exist to show what the user may not read: a NOPERM is missing rights, not a
//!   hidden topology or an unreadable node, so each says in one line which right it needs (`+cluster`,
//!   `+client|list`) and exits 3, as other credential problems do. (An endpoint that refuses CLUSTER for every
//!   user, an enterprise proxy, still reports a hidden topology with exit 0.)
//! - `failover-recovery` probes with SET/GET/DEL on `rfp:` keys only, so it passes and cleans up.
//! - a wrong password is one line and exit 3.

mod support;

use std::process::Output;
use std::time::Duration;

use redis_failover_probe::commands::status::StatusReport;
use redis_failover_probe::report::RunSummary;

const ACL: &[&str] = &[
    "ACL",
    "SETUSER",
    "probe",
    "on",
    ">pw-acl-test",
    "~rfp:*",
    "+get",
    "+set",
    "+del",
    "+ping",
    "+hello",
    "+auth",
    "+client|setname",
    "-info",
    "-cluster",
    "-client|list",
];

/// Runs the binary as the ACL user (the password through REDIS_ACCESS_KEY, as a runbook would pass it).
fn as_probe(url: &str, password: &str, args: &[&str]) -> Output {
    support::bin()
        .env("REDIS_ACCESS_KEY", password)
        .args(["--url", url, "--user", "probe"])
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run the binary")
}

#[test]
fn a_user_limited_to_rfp_keys() {
    support::heavy(|| async {
        let lab = support::start_standalone().await;
        let url = lab.seed_url();
        support::admin_ok(&lab, &lab.seeds()[0], ACL).await;

        // status: PINGs work; INFO is denied, so the server facts are left out rather than failing the run.
        let out = as_probe(&url, "pw-acl-test", &["status", "--count", "3", "--output", "json"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "status: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        let s: StatusReport = serde_json::from_str(&stdout).expect("status JSON");
        assert_eq!(s.pongs, 3, "{s:?}");
        assert!(s.server_version.is_none() && s.role.is_none() && s.cluster_enabled.is_none(), "{s:?}");
        assert_eq!(s.endpoints, vec![url.replace("redis://", "redis://probe:***@")], "password masked");

        // cluster-info and client-list: one line naming the right each needs, exit 3.
        let line = support::one_line_exit_3("cluster-info", &as_probe(&url, "pw-acl-test", &["cluster-info"]));
        assert!(line.contains("NOPERM") && line.contains("'probe'") && line.contains("+cluster"), "{line}");
        let line = support::one_line_exit_3("client-list", &as_probe(&url, "pw-acl-test", &["client-list"]));
        assert!(line.contains("NOPERM") && line.contains("+client|list"), "{line}");

        // failover-recovery: SET/GET on rfp: keys is all it needs.
        let out = as_probe(
            &url,
            "pw-acl-test",
            &["failover-recovery", "--duration", "2s", "--interval", "100ms", "--output", "json"],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let r: RunSummary = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not a summary ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
        });
        assert_eq!(out.status.code(), Some(0), "{:?}", r.verdict);
        assert!(r.overall.probes >= 15 && r.overall.failures == 0, "{:?}", r.overall);
        assert!(r.targets.iter().all(|t| t.summary.wrong_values == 0 && t.summary.recovered), "{:?}", r.targets);
        // Its DEL was allowed too: no probe key is left behind (checked as the default user).
        let factory = redis_failover_probe::connect::Factory::new(lab.target()).unwrap();
        let admin = factory.node(&lab.seeds()[0]).await.unwrap();
        let left = redis_failover_probe::connect::command(&admin, &["KEYS", "rfp:*"]).await.unwrap();
        redis_failover_probe::connect::quit(&admin).await;
        assert!(matches!(&left, fred::prelude::Value::Array(a) if a.is_empty()), "probe keys left: {left:?}");

        // A wrong password: one line, exit 3, the password not echoed.
        let line = support::one_line_exit_3("wrong password", &as_probe(&url, "not-the-pw", &["status"]));
        assert!(line.contains("authentication failed") && !line.contains("not-the-pw"), "{line}");
    });
}
