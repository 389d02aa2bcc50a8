//! The test rig: an isolated desktop user per test (own XDG dirs and control socket),
//! the app's binaries, the tray over D-Bus (busctl) and windows over X (xdotool, wmctrl).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Where cargo put the binaries under test: the test executable lives in `<target>/deps/`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// Polls `probe` every 50 ms until it returns `Some`, or panics after `timeout` saying
/// what was awaited.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A desktop user of its own: XDG dirs in a temp dir, so tests never share config, state,
/// logs or the control socket.
pub struct User {
    dir: tempfile::TempDir,
}

impl User {
    pub fn new() -> Self {
        assert!(
            std::env::var_os("DISPLAY").is_some()
                && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "end-to-end tests need the headless desktop session: run `make test`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["config", "data", "state", "cache"] {
            std::fs::create_dir(dir.path().join(sub)).expect("xdg dir");
        }
        std::fs::create_dir(dir.path().join("runtime")).expect("runtime dir");
        let user = Self { dir };
        set_mode(&user.runtime_dir(), 0o700);
        user
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("runtime")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("dyntray/control.sock")
    }

    /// `$XDG_CONFIG_HOME` of this user.
    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config/dyntray/config.toml")
    }

    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        let p = |sub: &str| self.dir.path().join(sub).into_os_string();
        vec![
            ("XDG_CONFIG_HOME", p("config")),
            ("XDG_DATA_HOME", p("data")),
            ("XDG_STATE_HOME", p("state")),
            ("XDG_CACHE_HOME", p("cache")),
            ("XDG_RUNTIME_DIR", p("runtime")),
            // Keep accessibility and portal helpers out of the test session.
            ("NO_AT_BRIDGE", "1".into()),
            ("GTK_USE_PORTAL", "0".into()),
            ("RUST_LOG", "info".into()),
        ]
    }

    /// A command for one of the app's binaries, in this user's environment.
    pub fn command(&self, name: &str) -> Command {
        let mut command = Command::new(bin(name));
        command.envs(self.env());
        command
            .env_remove("DYNTRAY_SOCKET")
            .env_remove("DYNTRAY_CONFIG");
        command
    }

    /// Starts a long-running binary; it is killed if the test ends first.
    pub fn spawn(&self, name: &str) -> Running {
        let child = self
            .command(name)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Running {
            child: Some(child),
            group: false,
        }
    }

    /// Starts a long-running binary with more environment variables (paths a test
    /// overrides); it is killed if the test ends first.
    pub fn spawn_with(&self, name: &str, env: &[(&str, &Path)]) -> Running {
        let child = self
            .command(name)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Running {
            child: Some(child),
            group: false,
        }
    }

    /// Runs a binary to completion.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        self.command(name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A child process killed on drop (a failing test must not leave processes behind).
pub struct Running {
    child: Option<Child>,
    /// Kill the child's whole process group on drop (it leads one).
    group: bool,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("process already reaped");
        let status = wait_for("the process to exit", timeout, || {
            child.try_wait().ok().flatten()
        });
        self.child = None;
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.group
                && let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32)
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a helper tool and returns its stdout when it succeeds.
pub fn tool(program: &str, args: &[&str]) -> Option<String> {
    let output = match Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("{program}: {e}");
            return None;
        }
    };
    if !output.status.success() {
        eprintln!(
            "{program} {args:?}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The process ids whose executable has this file name, with their parent ids.
pub fn processes_named(name: &str) -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        if exe.file_name().is_none_or(|f| f != name) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let zombie = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            == Some("Z");
        if !zombie {
            found.push((pid, ppid));
        }
    }
    found
}

/// The StatusNotifierItem of the tray process `pid`: its bus name (ksni names it
/// `org.kde.StatusNotifierItem-<pid>-<n>`).
pub fn tray_item(pid: u32) -> String {
    let prefix = format!("org.kde.StatusNotifierItem-{pid}-");
    wait_for(
        "the tray item on the session bus",
        Duration::from_secs(10),
        || {
            tool("busctl", &["--user", "list", "--no-pager", "--no-legend"])?
                .lines()
                .filter_map(|line| line.split_whitespace().next())
                .find(|name| name.starts_with(&prefix))
                .map(str::to_owned)
        },
    )
}

/// A menu entry as the tray exports it over dbusmenu.
#[derive(Debug, Clone)]
pub struct MenuEntry {
    pub id: i64,
    pub label: String,
    pub enabled: bool,
    pub toggled: Option<bool>,
}

/// The tray item's menu path (property `Menu`).
pub fn menu_path(bus_name: &str) -> String {
    let out = tool(
        "busctl",
        &[
            "--user",
            "--timeout=2",
            "get-property",
            bus_name,
            "/StatusNotifierItem",
            "org.kde.StatusNotifierItem",
            "Menu",
        ],
    )
    .expect("the tray item has a Menu property");
    out.trim()
        .trim_start_matches("o ")
        .trim_matches('"')
        .to_owned()
}

/// The menu's entries (separators left out), read with `GetLayout`.
pub fn menu(bus_name: &str) -> Vec<MenuEntry> {
    let path = menu_path(bus_name);
    let out = tool(
        "busctl",
        &[
            "--user",
            "--timeout=2",
            "--json=short",
            "call",
            bus_name,
            &path,
            "com.canonical.dbusmenu",
            "GetLayout",
            "iias",
            "--",
            "0",
            "-1",
            "0",
        ],
    )
    .expect("GetLayout answers");
    let json: serde_json::Value = serde_json::from_str(&out).expect("busctl JSON");
    let mut entries = Vec::new();
    collect_entries(&json["data"][1], &mut entries);
    entries
}

fn collect_entries(node: &serde_json::Value, out: &mut Vec<MenuEntry>) {
    // node: [id, {props}, [children as {"type":..,"data":node}]]
    let props = &node[1];
    let label = props["label"]["data"].as_str();
    let is_separator = props["type"]["data"].as_str() == Some("separator");
    if let (Some(label), false) = (label, is_separator) {
        out.push(MenuEntry {
            id: node[0].as_i64().unwrap_or(-1),
            label: label.to_owned(),
            enabled: props["enabled"]["data"].as_bool().unwrap_or(true),
            toggled: props["toggle-state"]["data"].as_i64().map(|s| s == 1),
        });
    }
    if let Some(children) = node[2].as_array() {
        for child in children {
            collect_entries(&child["data"], out);
        }
    }
}

/// Clicks the entry labelled `label`, as a tray host does when the user picks it.
///
/// Entry ids expire whenever the tray rebuilds its menu (a name added, a status changed),
/// and the tray then refuses the click with "id not found" without acting on it. A host
/// reads the new layout and clicks again; so does this, for up to ten seconds.
pub fn click(bus_name: &str, label: &str) {
    let path = menu_path(bus_name);
    let start = Instant::now();
    loop {
        let entry = menu(bus_name)
            .into_iter()
            .find(|e| e.label == label)
            .unwrap_or_else(|| panic!("no menu entry labelled {label:?}"));
        let id = entry.id.to_string();
        let output = Command::new("busctl")
            .args([
                "--user",
                "--timeout=2",
                "call",
                bus_name,
                &path,
                "com.canonical.dbusmenu",
                "Event",
                "isvu",
                &id,
                "clicked",
                "s",
                "",
                "0",
            ])
            .output()
            .expect("busctl runs");
        if output.status.success() {
            return;
        }
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            error.contains("id not found") && start.elapsed() < Duration::from_secs(10),
            "clicking {label:?} failed: {}",
            error.trim()
        );
    }
}

/// The visible X windows titled exactly `title`.
pub fn windows_titled(title: &str) -> Vec<String> {
    let pattern = format!("^{title}$");
    tool("xdotool", &["search", "--onlyvisible", "--name", &pattern])
        .map(|out| out.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Asks the window manager to close the window titled `title`, as its close button does.
/// Returns whether the request was delivered.
pub fn close_window(title: &str) -> bool {
    tool("wmctrl", &["-F", "-c", title]).is_some()
}

/// A PNG of the whole screen.
pub fn screenshot_root(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("screenshot dir");
    }
    let target = path.to_str().expect("utf-8 path");
    tool("import", &["-window", "root", target]).expect("import -window root");
}

/// Where tests put screenshots: `$DYNTRAY_ARTIFACTS` or `<workspace>/test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("DYNTRAY_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts"))
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Calls the control API of the instance serving `socket`.
pub fn control<T>(
    socket: &Path,
    f: impl AsyncFnOnce(dyntray_engine::control::ControlClient) -> T,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = dyntray_engine::control::ControlClient::connect(socket)
            .await
            .expect("the control socket answers");
        f(client).await
    })
}

impl Running {
    /// Takes charge of a child started elsewhere.
    pub fn adopt(child: Child) -> Self {
        Self {
            child: Some(child),
            group: false,
        }
    }

    /// Takes charge of a child that leads its own process group (and its descendants).
    pub fn adopt_group(child: Child) -> Self {
        Self {
            child: Some(child),
            group: true,
        }
    }
}
