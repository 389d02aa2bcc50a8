//! Network namespaces made by a test and deleted after it: a kernel network stack of the
//! test's own, where it can add interfaces and addresses without touching the host's.
//!
//! Needs root and iproute2's `ip`. [`available`] says whether they are there; a test that
//! needs a namespace should fail, not pass quietly, when they are not.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A network namespace of its own, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

/// Whether network namespaces can be made here, and if not, why.
pub fn available() -> Result<(), String> {
    let uid = rustix::process::geteuid();
    if !uid.is_root() {
        return Err(format!(
            "network namespaces need root, and this runs as uid {}",
            uid.as_raw()
        ));
    }
    run(Command::new("ip").arg("-V")).map_err(|e| format!("iproute2's `ip` cannot be run: {e}"))?;
    NetNs::new("probe")
        .map(drop)
        .map_err(|e| format!("cannot make a network namespace: {e}"))
}

impl NetNs {
    /// Makes a namespace named after `prefix` (and this process, so parallel tests and
    /// runs do not collide), with its loopback interface up.
    pub fn new(prefix: &str) -> io::Result<Self> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "dyntray-{prefix}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A namespace for a test: one that cannot be made fails the test with the reason
    /// (CI runs as root; a test that cannot run must not pass).
    pub fn for_test(prefix: &str) -> Self {
        if let Err(why) = available() {
            panic!("this test needs network namespaces (`ip netns`, as root): {why}");
        }
        Self::new(prefix).unwrap()
    }

    /// Its name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`; its output, or an error holding what `ip` said.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Sets a sysctl inside the namespace (`net.ipv6.conf.v0.use_tempaddr`, `2`).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-w"])
            .arg(format!("{key}={value}")))
    }

    /// Adds a veth pair, `name` and its peer `{name}p`, both in the namespace, and waits
    /// until both are up (carrier included). Returns the peer's name. (Dummy interfaces
    /// would do too, but not every kernel has them.)
    pub fn add_veth(&self, name: &str) -> io::Result<String> {
        let peer = format!("{name}p");
        if peer.len() > 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name {peer} is longer than 15 bytes"),
            ));
        }
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])?;
        self.ip(&["link", "set", name, "up"])?;
        self.ip(&["link", "set", &peer, "up"])?;
        // The operational state follows the carrier a moment later (the kernel's link
        // watch); a test that starts before then sees the links come up.
        let deadline = Instant::now() + Duration::from_secs(5);
        for link in [name, peer.as_str()] {
            loop {
                let shown = self.ip(&["-o", "link", "show", "dev", link])?;
                if shown.contains(" state UP ") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{link} did not come up within 5 s: {shown}"),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(peer)
    }

    /// Runs `f` on a new thread that has joined the namespace, and returns what it returns
    /// (a panic in `f` goes on in the caller). Sockets made on that thread, and on threads
    /// it starts (a Tokio runtime's), live in the namespace.
    pub fn enter_thread<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| -> io::Result<T> {
                let namespace = File::open(&path)?;
                rustix::thread::move_into_link_name_space(
                    namespace.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                Ok(f())
            });
            match thread.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new("ip").args(["netns", "delete", &self.name])) {
            eprintln!("network namespace {} was not deleted: {e}", self.name);
        }
    }
}

/// Runs a command to its end: its standard output, or an error with its standard error.
fn run(command: &mut Command) -> io::Result<String> {
    let output = command
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {command:?}: {e}")))?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
