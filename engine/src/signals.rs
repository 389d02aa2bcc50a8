//! Process signals, for the hosts.

/// Completes when the process is asked to stop (SIGTERM or SIGINT). Where the handlers
/// cannot be installed it never completes: the default disposition still ends the
/// process.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
