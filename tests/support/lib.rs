//! Helpers shared by the end-to-end tests in `tests/`: they start the real
//! binaries built by `cargo build`, so the tests see what an operator sees.
//!
//! Only the standard library is used here (this is the root package's
//! library target, which has no dependencies); signals go through kill(1).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The directory holding `relayd` and `relayctl` for this build profile
/// (`target/debug` when the test runs from `target/debug/deps`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path of one of the workspace's binaries; panics with a hint if the
/// workspace was not built first.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// The repository root, for example files under etc/ and tests/.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// Preconditions
// ---------------------------------------------------------------------------

/// True when the tests run as root (read from /proc, no libc needed).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The uid and gid of `user` from /etc/passwd, if it exists.
pub fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == user {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

/// The user the daemon's children run as in the tests.
pub const DAEMON_USER: &str = "_relayd";
/// Their chroot (scripts/test.sh creates both).
pub const DAEMON_CHROOT: &str = "/var/empty";

/// Whether the daemon can run here: root, the `_relayd` user, /var/empty.
/// Prints why not, so a skipped test says so in the output.
pub fn daemon_can_run(test: &str) -> bool {
    let why_not = if !is_root() {
        Some("not running as root".to_string())
    } else if user_ids(DAEMON_USER).is_none() {
        Some(format!(
            "user {DAEMON_USER} is missing (scripts/test.sh creates it)"
        ))
    } else if !Path::new(DAEMON_CHROOT).is_dir() {
        Some(format!(
            "{DAEMON_CHROOT} is missing (scripts/test.sh creates it)"
        ))
    } else {
        None
    };
    match why_not {
        Some(reason) => {
            eprintln!("SKIPPED {test}: {reason}");
            false
        }
        None => true,
    }
}

// ---------------------------------------------------------------------------
// Waiting and processes
// ---------------------------------------------------------------------------

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Whether a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The parent pid of `pid`, from /proc.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The pids whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| parent_of(*child) == Some(pid))
        .collect();
    children.sort_unstable();
    children
}

/// argv of a process, as `ps` joins it (`relayd: hce -P hce -I 0`).
pub fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// One `Key:` line of /proc/PID/status, value trimmed.
pub fn proc_status(pid: u32, key: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

/// Sends `signal` (a name like `TERM`) with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {pid}"))
        .stderr(Stdio::null())
        .status();
}

/// A TCP port on 127.0.0.1 free at the time of the call and never handed
/// out before in this test process: the kernel may give a just-released
/// ephemeral port again, and two relays of one config on the same port make
/// the config invalid.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

// ---------------------------------------------------------------------------
// Scratch directories
// ---------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> ScratchDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "relayd-e2e-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        ScratchDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// The daemon under test
// ---------------------------------------------------------------------------

/// A `relayd -d` started on a config file in its own scratch directory, with
/// its control socket there too. Killed (with its children) on drop.
pub struct Daemon {
    pub child: Option<Child>,
    pub pid: u32,
    pub dir: ScratchDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// Children seen while running, killed on drop if still alive.
    known_children: Vec<u32>,
}

impl Daemon {
    /// Writes `config_body` after a `socket "..."` line pointing into a new
    /// scratch dir, starts `relayd -d -v -f` on it and waits until relayctl
    /// gets an answer (relayd serves the control socket once every child
    /// runs). Panics with the daemon's log if it does not.
    pub fn start(label: &str, config_body: &str) -> Daemon {
        Self::start_with_env(label, config_body, &[])
    }

    /// Like [`Daemon::start`] with extra environment variables for relayd
    /// (e.g. `RELAYD_CHROOT`).
    pub fn start_with_env(label: &str, config_body: &str, env: &[(&str, &str)]) -> Daemon {
        Self::start_with_prefix(label, config_body, env, &[])
    }

    /// Like [`Daemon::start_with_env`], run through a command prefix that
    /// execs its last argument, e.g. `["ip", "netns", "exec", NAME]` to run
    /// relayd inside a network namespace (the pid stays relayd's).
    pub fn start_with_prefix(
        label: &str,
        config_body: &str,
        env: &[(&str, &str)],
        prefix: &[&str],
    ) -> Daemon {
        let dir = ScratchDir::new(label);
        let socket = dir.join("relayd.sock");
        let config = dir.join("relayd.conf");
        fs::write(&config, Self::config_text(&socket, config_body)).expect("write config");
        let log = dir.join("relayd.log");
        let log_file = fs::File::create(&log).expect("create log");
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin("relayd"));
                command
            }
            None => Command::new(bin("relayd")),
        };
        let child = command
            .args(["-d", "-v", "-f"])
            .arg(&config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .expect("start relayd");
        let pid = child.id();
        let mut daemon = Daemon {
            child: Some(child),
            pid,
            dir,
            config,
            socket,
            log,
            known_children: Vec::new(),
        };
        let up = wait_until(Duration::from_secs(10), || {
            !process_alive(pid)
                || (daemon.socket.exists()
                    && relayctl(&daemon.socket, &["show", "summary"])
                        .status
                        .success())
        });
        if !up || !process_alive(pid) {
            panic!("relayd did not start; its log:\n{}", daemon.log_text());
        }
        daemon.known_children = children_of(pid);
        daemon
    }

    /// A config file text with the control socket in the scratch dir.
    pub fn config_text(socket: &Path, body: &str) -> String {
        format!("socket \"{}\"\n{body}", socket.display())
    }

    /// Replaces the config file (for reload tests).
    pub fn rewrite_config(&self, body: &str) {
        fs::write(&self.config, Self::config_text(&self.socket, body)).expect("rewrite config");
    }

    /// What the daemon and its children logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's current children (and remembers them for cleanup).
    pub fn children(&mut self) -> Vec<u32> {
        let now = children_of(self.pid);
        for pid in &now {
            if !self.known_children.contains(pid) {
                self.known_children.push(*pid);
            }
        }
        now
    }

    /// Runs `relayctl -s SOCKET args...`.
    pub fn relayctl(&self, args: &[&str]) -> Output {
        relayctl(&self.socket, args)
    }

    /// Waits up to `timeout` for relayd to exit; its exit code if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status.code().unwrap_or(-1));
                }
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.children();
        if self.child.is_some() {
            send_signal(self.pid, "TERM");
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                send_signal(self.pid, "KILL");
                let _ = self.wait_exit(Duration::from_secs(2));
            }
        }
        for pid in &self.known_children {
            // Still ours (or orphaned), not a reused pid in another daemon.
            let ours = matches!(parent_of(*pid), Some(p) if p == self.pid || p == 1);
            if ours && process_alive(*pid) && cmdline(*pid).starts_with("relayd:") {
                send_signal(*pid, "KILL");
            }
        }
    }
}

/// Runs `relayctl -s socket args...` and returns its output.
pub fn relayctl(socket: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(bin("relayctl"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start relayctl");
    // Drain the pipes while waiting: a long answer (thousands of hosts)
    // fills a pipe and would block relayctl before it exits.
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    // A hung relayctl must fail the test, not hang it.
    let finished = wait_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait relayctl");
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// stdout of an [`Output`] as text.
pub fn stdout_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// relayctl output
// ---------------------------------------------------------------------------

/// One line of `relayctl show summary|hosts|relays|...` (relayd's
/// `Id Type Name Avlblty Status` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    pub id: u32,
    pub kind: String,
    pub name: String,
    pub availability: String,
    pub status: String,
}

/// The object rows of a `show` output: header and detail lines skipped.
pub fn summary_rows(text: &str) -> Vec<SummaryRow> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            if fields.len() < 5 {
                return None;
            }
            Some(SummaryRow {
                id: fields[0].parse().ok()?,
                kind: fields[1].to_string(),
                name: fields[2].to_string(),
                availability: fields[3].to_string(),
                status: fields[4..].join(" ").trim().to_string(),
            })
        })
        .collect()
}

/// The status column of the row of `kind` with `id` (e.g. `("host", 2)`).
pub fn status_of(rows: &[SummaryRow], kind: &str, id: u32) -> Option<String> {
    rows.iter()
        .find(|r| r.kind == kind && r.id == id)
        .map(|r| r.status.clone())
}

/// A `relayctl -s SOCKET monitor` running in the background, its output
/// lines collected by a reader thread; killed on drop.
pub struct Monitor {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    pub fn start(socket: &Path) -> Monitor {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(bin("relayctl"))
            .arg("-s")
            .arg(socket)
            .arg("monitor")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start relayctl monitor");
        let stdout = child.stdout.take().expect("monitor stdout");
        let (lines_tx, lines) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Monitor {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Appends to `seen` every line printed so far, waiting up to `wait`
    /// for the first one.
    pub fn collect(&self, seen: &mut Vec<String>, wait: Duration) {
        while let Ok(line) = self.lines.recv_timeout(wait) {
            seen.push(line);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
