//! Process signals, for the hosts.

/// Completes when the process is asked to stop (SIGTERM or SIGINT). Where the handlers
/// cannot be installed it never completes: the default disposition still ends the
/// process.
#[cfg(unix)]
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

/// Completes when the process is asked to stop: Ctrl+C or Ctrl+Break in its console, the
/// console closed, the user logging off or the system shutting down. Where the handlers
/// cannot be installed it never completes: Windows' default handling still ends the
/// process.
#[cfg(windows)]
pub async fn terminated() {
    use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown};
    let (Ok(mut c), Ok(mut brk), Ok(mut close), Ok(mut logoff), Ok(mut shutdown)) = (
        ctrl_c(),
        ctrl_break(),
        ctrl_close(),
        ctrl_logoff(),
        ctrl_shutdown(),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = c.recv() => {}
        _ = brk.recv() => {}
        _ = close.recv() => {}
        _ = logoff.recv() => {}
        _ = shutdown.recv() => {}
    }
}
