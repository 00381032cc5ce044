//! What a test needs from the machine, and the one place that decides what
//! happens when the machine lacks it: [`skip_or_fail`]. Without
//! `RELAYD_E2E_REQUIRED=1` the test prints `SKIPPED <test>: <reason>` and
//! passes (a developer without root can still run the rest); with it the
//! test fails, so a run as root (scripts/test.sh) cannot pass by skipping.
//! Every skip is also appended to the file named by `RELAYD_E2E_SKIP_LOG`
//! when set, which is how scripts/test.sh counts them.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::process::user_ids;

/// Set to `1`, a test that cannot run here fails instead of skipping.
pub const REQUIRED_VAR: &str = "RELAYD_E2E_REQUIRED";
/// A file every skip appends one line to (`<test>: <reason>`).
pub const SKIP_LOG_VAR: &str = "RELAYD_E2E_SKIP_LOG";

/// The user the daemon's children run as in the tests.
pub const DAEMON_USER: &str = "_relayd";
/// Their chroot (scripts/test.sh creates both).
pub const DAEMON_CHROOT: &str = "/var/empty";

/// The current test cannot run here for `reason`: panics when
/// `RELAYD_E2E_REQUIRED=1`, otherwise says so on stderr (and in the skip
/// log) and returns, and the caller returns too.
pub fn skip_or_fail(reason: &str) {
    let test = current_test();
    if std::env::var(REQUIRED_VAR).is_ok_and(|value| value == "1") {
        panic!("{test} cannot run here: {reason} ({REQUIRED_VAR}=1 turns skips into failures)");
    }
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(log) = std::env::var_os(SKIP_LOG_VAR) {
        let line = format!("{test}: {reason}\n");
        let appended = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = appended {
            eprintln!(
                "cannot append to {SKIP_LOG_VAR} {}: {e}",
                log.to_string_lossy()
            );
        }
    }
}

/// The test's name: libtest names each test's thread after it, and the
/// helpers that move a test onto a thread of their own pass the name on.
fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "this test".to_string(),
    }
}

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

/// Whether the tests run as root; skips (or fails) otherwise.
pub fn running_as_root() -> bool {
    if is_root() {
        return true;
    }
    skip_or_fail("not running as root");
    false
}

/// Whether the daemon can run here: root, the `_relayd` user, /var/empty;
/// skips (or fails) otherwise.
pub fn daemon_can_run() -> bool {
    let why_not = if !is_root() {
        "not running as root".to_string()
    } else if user_ids(DAEMON_USER).is_none() {
        format!("user {DAEMON_USER} is missing (scripts/test.sh creates it)")
    } else if !Path::new(DAEMON_CHROOT).is_dir() {
        format!("{DAEMON_CHROOT} is missing (scripts/test.sh creates it)")
    } else {
        return true;
    };
    skip_or_fail(&why_not);
    false
}

/// Whether `program` is on PATH.
pub fn has_tool(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether every one of `programs` is on PATH; skips (or fails) naming
/// the missing ones otherwise (scripts/test.sh installs them all).
pub fn tools_installed(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|program| !has_tool(program))
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip_or_fail(&format!("{} not installed", missing.join(", ")));
    false
}

/// The value of a setup step that needs what the machine may lack (a
/// network namespace, nftables, a tool), or `None` after [`skip_or_fail`]
/// with its error.
pub fn or_skip<T>(setup: Result<T, String>) -> Option<T> {
    match setup {
        Ok(value) => Some(value),
        Err(why) => {
            skip_or_fail(&why);
            None
        }
    }
}
