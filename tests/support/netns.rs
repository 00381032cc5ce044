//! Network namespaces of the tests' own, so traffic, addresses and
//! nftables rules touch nothing of the machine's. A namespace belongs to a
//! thread (setns/unshare change the calling thread only): a test never
//! moves its own thread, which libtest may reuse, but runs the part that
//! belongs inside on a new thread that ends with it.

use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};

/// Runs `ip ARGS...`; its stderr as the error.
pub fn ip(args: &[&str]) -> Result<(), String> {
    checked(Command::new("ip").args(args)).map(|_| ())
}

/// Runs a command that must succeed; its stdout, or what went wrong.
fn checked(command: &mut Command) -> Result<String, String> {
    let out: Output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{:?}: {e}", command.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Err(format!(
            "{} {}: {}",
            command.get_program().to_string_lossy(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A named network namespace (`ip netns add`) with `lo` up, deleted on
/// drop. Its name holds the test process's pid and a counter, so tests
/// running at once never share one.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    /// A new namespace; `label` makes it recognisable in `ip netns`.
    pub fn create(label: &str) -> Result<Namespace, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rd-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]).map_err(|e| format!("no network namespace: {e}"))?;
        let namespace = Namespace { name };
        ip(&["-n", &namespace.name, "link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    /// Runs `command` inside the namespace (`ip netns exec`); its stdout,
    /// or what went wrong.
    pub fn exec(&self, command: &[&str]) -> Result<String, String> {
        checked(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(command),
        )
    }

    /// Waits (up to 5 s) until `address` is a local address of the
    /// namespace that packets can reach: an address added to a link whose
    /// carrier the kernel has not yet reported stays tentative, without a
    /// local route, for up to a second after `ip addr add`, even with
    /// `nodad`.
    pub fn wait_for_local_address(&self, address: &str) -> Result<(), String> {
        // ip(8) reads an address argument as IPv4 unless told the family.
        let family = if address.contains(':') { "-6" } else { "-4" };
        let ip_in_namespace = |args: &[&str]| {
            checked(
                Command::new("ip")
                    .args(["-n", &self.name, family])
                    .args(args),
            )
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let route = ip_in_namespace(&["route", "show", "table", "local", address])?;
            let tentative = ip_in_namespace(&["addr", "show", "to", address, "tentative"])?;
            if !route.trim().is_empty() && tentative.trim().is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!("{address} did not become local in {}", self.name));
            }
            thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Starts `body` on a new thread inside the namespace: the sockets it
    /// creates belong there (and keep working from any thread).
    pub fn spawn<T: Send + 'static>(
        &self,
        body: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        test_thread()
            .spawn(move || {
                let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                body()
            })
            .expect("spawn a thread")
    }

    /// Runs `body` on a thread inside the namespace and returns what it
    /// returned; a panic there is the test's panic.
    pub fn run<T: Send + 'static>(&self, body: impl FnOnce() -> T + Send + 'static) -> T {
        join(self.spawn(body))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `body` on a new thread moved into a fresh, unnamed network
/// namespace with `lo` up; processes it starts (a daemon, `ip`, `nft`)
/// are in it too. The namespace goes when the thread and those processes
/// end. `Err` when no namespace can be made here; a panic in `body` is the
/// test's panic.
pub fn in_private_network<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let thread = test_thread().spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
        ip(&["link", "set", "lo", "up"])?;
        Ok(body())
    });
    join(thread.expect("spawn a thread"))
}

/// A thread builder named after the current test, so that skips and
/// panics on it still name the test.
fn test_thread() -> thread::Builder {
    match thread::current().name() {
        Some(name) => thread::Builder::new().name(name.to_string()),
        None => thread::Builder::new(),
    }
}

fn join<T>(thread: JoinHandle<T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
