//! No secret ever leaves the tool: every subcommand runs with a known password (in the URL, in
//! REDIS_ACCESS_KEY, on the command line, and from --password-command) and every byte it prints or writes is
//! searched for it.

mod support;

use std::path::Path;

const SECRET: &str = "S3cret-Access-Key-7f1c";

fn grep_all(what: &str, stdout: &[u8], stderr: &[u8], files: &[&Path]) {
    let out = String::from_utf8_lossy(stdout);
    let err = String::from_utf8_lossy(stderr);
    assert!(!out.contains(SECRET), "{what}: secret on stdout:\n{out}");
    assert!(!err.contains(SECRET), "{what}: secret on stderr:\n{err}");
    for f in files {
        if let Ok(text) = std::fs::read_to_string(f) {
            assert!(!text.contains(SECRET), "{what}: secret in {}", f.display());
        }
    }
}

#[test]
fn no_subcommand_prints_or_writes_the_secret() {
    support::heavy(|| async { no_secret_anywhere().await });
}

async fn no_secret_anywhere() {
    let lab = support::start_standalone().await;
    support::set_password(&lab, SECRET).await;
    let port = lab.seeds()[0].port;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let report = dir.path().join("report.md");
    let url_with = format!("redis://:{SECRET}@127.0.0.1:{port}");
    let url_plain = format!("redis://127.0.0.1:{port}");
    let runs: Vec<Vec<String>> = vec![
        vec!["status".into()],
        vec!["cluster-info".into()],
        vec!["slots".into()],
        vec!["test-keys".into(), "--count".into(), "3".into()],
        vec!["client-list".into()],
        vec!["health".into()],
        vec!["connection-mode".into()],
        vec![
            "failover-recovery".into(),
            "--duration".into(),
            "1s".into(),
            "--interval".into(),
            "100ms".into(),
            "--events".into(),
            events.display().to_string(),
        ],
    ];
    for args in &runs {
        for output in ["table", "json"] {
            // Password in the URL.
            let out =
                support::bin().arg("--url").arg(&url_with).args(args).args(["--output", output]).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            grep_all(&format!("{args:?} url"), &out.stdout, &out.stderr, &[&events, &report]);
            // Password in REDIS_ACCESS_KEY.
            let out = support::bin()
                .env("REDIS_ACCESS_KEY", SECRET)
                .arg("--url")
                .arg(&url_plain)
                .args(args)
                .args(["--output", output])
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            grep_all(&format!("{args:?} env"), &out.stdout, &out.stderr, &[&events]);
        }
    }
    // On the command line: works, warns, and still never echoes it.
    let out = support::bin().args(["--url", &url_plain, "--access-key", SECRET, "status"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("prefer REDIS_ACCESS_KEY"));
    grep_all("--access-key", &out.stdout, &out.stderr, &[]);
    // From a command (Entra-style token).
    let out = support::bin()
        .args(["--url", &url_plain, "--password-command", &format!("echo {SECRET}"), "status", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    grep_all("--password-command", &out.stdout, &out.stderr, &[]);
    // Errors: a wrong password and a malformed URL that carries the secret.
    for url in [format!("redis://:wrong-{SECRET}@127.0.0.1:{port}"), format!("redis://u:{SECRET}@127.0.0.1:99999")] {
        let out = support::bin().args(["--url", &url, "status"]).output().unwrap();
        assert!(!out.status.success());
        grep_all("error", &out.stdout, &out.stderr, &[]);
    }
}
