//! Ctrl-C and SIGTERM: a future that resolves on the first one, so long runs can stop and write what they have.
//! A second signal ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static SEEN: AtomicBool = AtomicBool::new(false);
static ABORT_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Something to do before an immediate exit on a second signal (the lab kills its processes).
pub fn set_abort_hook(hook: fn()) {
    let _ = ABORT_HOOK.set(hook);
}

/// Resolves when SIGINT or SIGTERM arrives. After the first, another signal exits with 130 immediately.
pub async fn interrupted() {
    wait_one().await;
    if !SEEN.swap(true, Ordering::SeqCst) {
        tokio::spawn(async {
            wait_one().await;
            eprintln!("interrupted again: exiting now");
            if let Some(hook) = ABORT_HOOK.get() {
                hook();
            }
            std::process::exit(130);
        });
    }
}

/// Whether a signal has been received in this process.
pub fn was_interrupted() -> bool {
    SEEN.load(Ordering::SeqCst)
}

async fn wait_one() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
