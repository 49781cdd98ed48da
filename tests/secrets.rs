//! No secret ever leaves the tool: every subcommand runs with a known password (in the URL, in
//! REDIS_ACCESS_KEY, on the command line, and from --password-command) and every byte it prints or writes is
//! searched for it. A file a run is asked to write must exist and hold something: a file that is missing
//! cannot prove anything.

mod support;

use std::path::PathBuf;

const SECRET: &str = "S3cret-Access-Key-7f1c";

/// Asserts that the secret is on neither stream and in none of `files`, each of which the run must have
/// written (present and not empty).
fn grep_all(what: &str, stdout: &[u8], stderr: &[u8], files: &[PathBuf]) {
    let out = String::from_utf8_lossy(stdout);
    let err = String::from_utf8_lossy(stderr);
    assert!(!out.contains(SECRET), "{what}: secret on stdout:\n{out}");
    assert!(!err.contains(SECRET), "{what}: secret on stderr:\n{err}");
    for f in files {
        let text = std::fs::read_to_string(f)
            .unwrap_or_else(|e| panic!("{what}: {} was not written ({e}); stderr:\n{err}", f.display()));
        assert!(!text.trim().is_empty(), "{what}: {} is empty", f.display());
        assert!(!text.contains(SECRET), "{what}: secret in {}", f.display());
    }
}

/// Removes the files a run is about to write, so what the checks read afterwards is that run's.
fn remove_all(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn no_subcommand_prints_or_writes_the_secret() {
    support::light(|| async { no_secret_anywhere().await });
}

async fn no_secret_anywhere() {
    let lab = support::start_standalone().await;
    support::set_password(&lab, SECRET).await;
    let port = lab.seeds()[0].port;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let report = dir.path().join("report.md");
    let metrics = dir.path().join("metrics.prom");
    let written = vec![events.clone(), report.clone(), metrics.clone()];
    let url_with = format!("redis://:{SECRET}@127.0.0.1:{port}");
    let url_plain = format!("redis://127.0.0.1:{port}");
    // Each run with the files it must write.
    let runs: Vec<(Vec<String>, Vec<PathBuf>)> = vec![
        (vec!["status".into()], vec![]),
        (vec!["cluster-info".into()], vec![]),
        (vec!["slots".into()], vec![]),
        (vec!["test-keys".into(), "--count".into(), "3".into()], vec![]),
        (vec!["client-list".into()], vec![]),
        (vec!["health".into()], vec![]),
        (vec!["connection-mode".into()], vec![]),
        (
            vec![
                "failover-recovery".into(),
                "--duration".into(),
                "1s".into(),
                "--interval".into(),
                "100ms".into(),
                "--events".into(),
                events.display().to_string(),
                "--report".into(),
                report.display().to_string(),
                "--metrics-file".into(),
                metrics.display().to_string(),
            ],
            written.clone(),
        ),
    ];
    for (args, files) in &runs {
        for output in ["table", "json"] {
            // Password in the URL.
            remove_all(files);
            let out =
                support::bin().arg("--url").arg(&url_with).args(args).args(["--output", output]).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            grep_all(&format!("{args:?} url"), &out.stdout, &out.stderr, files);
            // Password in REDIS_ACCESS_KEY.
            remove_all(files);
            let out = support::bin()
                .env("REDIS_ACCESS_KEY", SECRET)
                .arg("--url")
                .arg(&url_plain)
                .args(args)
                .args(["--output", output])
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            grep_all(&format!("{args:?} env"), &out.stdout, &out.stderr, files);
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
