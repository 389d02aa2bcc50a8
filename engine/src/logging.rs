//! Log set-up shared by the binaries (the library itself only emits `tracing` events).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the file writer flushing; drop it last, at exit.
#[must_use = "logs stop being written to the file when the guard is dropped"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    /// The directory the daily log files go to, when file logging is on.
    pub dir: Option<PathBuf>,
}

/// Installs the global subscriber: stderr always, plus a daily-rolling file
/// `<dir>/<prefix>.YYYY-MM-DD` when `dir` is given. `RUST_LOG` overrides the default
/// level (`info`). A log directory that cannot be created is reported on stderr and file
/// logging is skipped: logging problems never stop the app.
pub fn init(prefix: &str, dir: Option<&Path>) -> LogGuard {
    init_at(prefix, dir, "info")
}

/// [`init`] with another default level (a command whose output already says what the
/// log would).
pub fn init_at(prefix: &str, dir: Option<&Path>, default_level: &str) -> LogGuard {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colours only for a person at a terminal: a file or a pipe gets plain text, so no
    // escape sequence in the log is anything but quoted provider text.
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter());

    let mut file_guard = None;
    let mut used_dir = None;
    // Owner-only: the log says where this machine is and what it runs.
    let file_layer = dir.and_then(|dir| match crate::files::ensure_private_dir(dir) {
        Ok(()) => {
            let appender = tracing_appender::rolling::daily(dir, prefix);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            file_guard = Some(guard);
            used_dir = Some(dir.to_path_buf());
            Some(
                fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .with_filter(filter()),
            )
        }
        Err(e) => {
            eprintln!(
                "dyntray: cannot create log directory {}: {e}",
                dir.display()
            );
            None
        }
    });

    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    LogGuard {
        _file: file_guard,
        dir: used_dir,
    }
}
