//! A command the user gives, whose output is the address (a router's CLI, a VPN tool, a
//! script reading a modem's status page).

use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{SOURCE_TIMEOUT, Source, SourceError, SourceKind, extract_address};
use crate::provider::{BoxFuture, IpFamily};

/// Output beyond this is not read: an address is a line, not a file.
const MAX_OUTPUT: u64 = 4096;

/// The environment a command keeps; everything else is cleared.
#[cfg(unix)]
const KEPT_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
];

/// The environment a command keeps; everything else is cleared. Without `SystemRoot` a
/// Windows program cannot even open a socket.
#[cfg(windows)]
const KEPT_ENV: &[&str] = &[
    "PATH",
    "PATHEXT",
    "SystemRoot",
    "SystemDrive",
    "windir",
    "ComSpec",
    "TEMP",
    "TMP",
    "USERPROFILE",
    "USERNAME",
    "APPDATA",
    "LOCALAPPDATA",
];

/// Whether the variable `key` is one a command keeps (names are case-insensitive on
/// Windows, where `Path` is `PATH`).
fn kept(key: &std::ffi::OsStr) -> bool {
    let key = key.to_string_lossy();
    KEPT_ENV.iter().any(|k| {
        if cfg!(windows) {
            key.eq_ignore_ascii_case(k)
        } else {
            key == *k
        }
    })
}

/// Kills a command's process group when dropped (a time-out, or the engine stopping in
/// the middle of a check), unless the command finished.
#[cfg(unix)]
struct GroupGuard(Option<rustix::process::Pid>);

#[cfg(unix)]
impl GroupGuard {
    fn of(child: &tokio::process::Child) -> Self {
        Self(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(rustix::process::Pid::from_raw),
        )
    }

    /// The command finished: nothing of it to kill (its group id may be reused now).
    fn finished(&mut self) {
        self.0 = None;
    }
}

#[cfg(unix)]
impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

/// Kills a command and everything it started when dropped (a time-out, or the engine
/// stopping in the middle of a check), unless the command finished: a job object with
/// "kill on close". A process the shell starts in the moment between its own start and
/// being put in the job stays outside (cmd.exe starts nothing that fast).
#[cfg(windows)]
struct GroupGuard(Option<dyntray_os::job::KillJob>);

#[cfg(windows)]
impl GroupGuard {
    fn of(child: &tokio::process::Child) -> Self {
        let job = dyntray_os::job::KillJob::new().and_then(|job| {
            job.assign(child)?;
            Ok(job)
        });
        match job {
            Ok(job) => Self(Some(job)),
            Err(e) => {
                // The command still runs, and is still killed on a time-out.
                tracing::warn!(error = %e, "a command's children cannot be tied to it; a time-out ends the command only");
                Self(None)
            }
        }
    }

    /// The command finished: what it left in the background goes on.
    fn finished(&mut self) {
        if let Some(job) = self.0.take()
            && let Err(e) = job.release()
        {
            tracing::debug!(error = %e, "a finished command's job could not be let go");
        }
    }
}

/// The shell that runs `line`: `sh -c` in a process group of its own, so that a time-out
/// ends everything it started.
#[cfg(unix)]
fn shell(line: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("sh");
    command.arg("-c").arg(line).process_group(0);
    command
}

/// The shell that runs `line`: `cmd.exe /d /s /c "line"`, given raw because cmd parses
/// its own command line (the quoting inside is the user's), with no console window.
#[cfg(windows)]
fn shell(line: &str) -> tokio::process::Command {
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    let mut command = tokio::process::Command::new("cmd.exe");
    command
        .raw_arg(format!("/d /s /c \"{line}\""))
        .creation_flags(CREATE_NO_WINDOW);
    command
}

/// A command line run by the shell (`sh -c`; `cmd.exe /c` on Windows), with
/// `DYNTRAY_FAMILY` set to `4` or `6`.
pub struct Command {
    label: String,
    command: String,
    timeout: Duration,
}

impl Command {
    /// Runs `command` when asked.
    pub fn new(label: String, command: String) -> Self {
        Self {
            label,
            command,
            timeout: SOURCE_TIMEOUT,
        }
    }

    async fn run(&self, family: IpFamily) -> Result<Vec<IpAddr>, SourceError> {
        let mut command = shell(&self.command);
        // A clean environment: the engine's may hold account secrets (`secret = "env:…"`).
        command.env_clear();
        for (key, value) in std::env::vars_os() {
            if kept(&key) {
                command.env(key, value);
            }
        }
        let mut child = command
            .env(
                "DYNTRAY_FAMILY",
                if family == IpFamily::V4 { "4" } else { "6" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SourceError::new(format!("cannot start the shell: {e}")))?;
        let mut group = GroupGuard::of(&child);
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(SourceError::new("the command's output could not be read"));
        };
        let work = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let (mut stdout, mut stderr) = (stdout.take(MAX_OUTPUT), stderr.take(MAX_OUTPUT));
            let (read_out, read_err) =
                tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err),);
            read_out.and(read_err)?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out, err))
        };
        let (status, out, err) = match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(SourceError::new(format!("the command failed: {e}"))),
            // The guard ends the whole group.
            Err(_) => {
                return Err(SourceError::new(format!(
                    "the command did not finish within {} s",
                    self.timeout.as_secs()
                )));
            }
        };
        group.finished();
        if !status.success() {
            let said = String::from_utf8_lossy(&err);
            let said = said.lines().map(str::trim).find(|l| !l.is_empty());
            let how = match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => "was killed by a signal".into(),
            };
            return Err(SourceError::new(match said {
                Some(line) => format!("the command {how}: {}", crate::provider::truncate(line)),
                None => format!("the command {how}"),
            }));
        }
        let out = String::from_utf8_lossy(&out);
        if out.trim().is_empty() {
            return Err(SourceError::new("the command printed nothing"));
        }
        extract_address(&out)
            .map(|address| vec![address])
            .map_err(|e| SourceError::new(e.replace("the answer", "the output")))
    }
}

impl Source for Command {
    fn label(&self) -> &str {
        &self.label
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Command
    }

    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        Box::pin(self.run(family))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(command: &str) -> Result<Vec<IpAddr>, SourceError> {
        Command::new("t".into(), command.into())
            .ask(IpFamily::V4)
            .await
    }

    #[tokio::test]
    async fn the_output_is_the_address() {
        assert_eq!(
            ask("echo ' 81.2.69.160 '").await.unwrap(),
            vec!["81.2.69.160".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            ask("echo \"family $DYNTRAY_FAMILY: WAN 81.2.69.160\"")
                .await
                .unwrap(),
            vec!["81.2.69.160".parse::<IpAddr>().unwrap()]
        );
    }

    // `sh` syntax; cmd.exe's is another.
    #[cfg(unix)]
    #[tokio::test]
    async fn failures_say_what_happened() {
        let err = |r: Result<Vec<IpAddr>, SourceError>| r.unwrap_err().0;
        assert_eq!(
            err(ask("echo 'modem not ready' >&2; exit 3").await),
            "the command exited with status 3: modem not ready"
        );
        assert_eq!(err(ask("true").await), "the command printed nothing");
        assert_eq!(
            err(ask("echo 81.2.69.160 81.2.69.161").await),
            "the output holds 2 different addresses"
        );
        assert_eq!(err(ask("echo up").await), "the output holds no address");
    }

    // Reads /proc to see the background process gone.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_hanging_command_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut command = Command::new(
            "t".into(),
            format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
        );
        command.timeout = Duration::from_millis(500);
        let started = std::time::Instant::now();
        let e = command.ask(IpFamily::V4).await.unwrap_err();
        assert!(e.0.contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // The background `sleep` went with the shell (gone, or a zombie awaiting init).
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        let mut alive = true;
        for _ in 0..50 {
            alive = std::fs::read_to_string(&stat)
                .is_ok_and(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'));
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive, "the background process survived");
    }

    #[cfg(windows)]
    #[tokio::test]
    async fn a_hanging_command_is_killed_with_everything_it_started() {
        // The command starts a second cmd.exe, which writes a file once ping has waited
        // three seconds.
        let dir = tempfile::tempdir().unwrap();
        let late = dir.path().join("late");
        let line = format!(
            "cmd /d /c \"ping -n 4 127.0.0.1 >nul & echo late>{}\"",
            late.display()
        );
        let mut command = Command::new("t".into(), line);
        // Unhurried, the file comes, and not at once (else this test would prove nothing).
        command.timeout = Duration::from_secs(30);
        let started = std::time::Instant::now();
        let e = command.ask(IpFamily::V4).await.unwrap_err();
        assert_eq!(e.0, "the command printed nothing");
        assert!(late.exists(), "the inner command wrote nothing");
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "ping did not wait"
        );
        std::fs::remove_file(&late).unwrap();

        // Timed out after a second: the inner cmd.exe goes with the command.
        command.timeout = Duration::from_secs(1);
        let e = command.ask(IpFamily::V4).await.unwrap_err();
        assert!(e.0.contains("did not finish"), "{e}");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !late.exists(),
            "a process the command started outlived its time-out"
        );
    }
}
