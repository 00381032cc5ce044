//! Processes as /proc shows them, signals, and waiting for a condition.

use std::fs;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

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

/// What /proc/PID/status says of a process's confinement (each field
/// `None` if the line is missing, e.g. the process is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// `Seccomp`: 0 none, 2 a filter.
    pub seccomp: Option<String>,
    pub no_new_privs: Option<String>,
    /// `CapEff`, `CapPrm`, `CapInh`, `CapBnd` as the kernel prints them.
    pub effective: Option<String>,
    pub permitted: Option<String>,
    pub inheritable: Option<String>,
    pub bounding: Option<String>,
}

impl Confinement {
    /// A relayd child: under its seccomp filter, no_new_privs, no
    /// capability to inherit or get back, and `capabilities` (a CapEff
    /// mask) effective and permitted.
    pub fn child(capabilities: &str) -> Confinement {
        let set = |value: &str| Some(value.to_string());
        let none = "0000000000000000";
        Confinement {
            seccomp: set("2"),
            no_new_privs: set("1"),
            effective: set(capabilities),
            permitted: set(capabilities),
            inheritable: set(none),
            bounding: set(none),
        }
    }
}

/// The confinement of process `pid`, read from one /proc/PID/status.
pub fn confinement(pid: u32) -> Confinement {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        status.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k == key).then(|| v.trim().to_string())
        })
    };
    Confinement {
        seccomp: field("Seccomp"),
        no_new_privs: field("NoNewPrivs"),
        effective: field("CapEff"),
        permitted: field("CapPrm"),
        inheritable: field("CapInh"),
        bounding: field("CapBnd"),
    }
}

/// Sends `signal` (a name like `TERM`) with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {pid}"))
        .stderr(Stdio::null())
        .status();
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
