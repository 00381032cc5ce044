//! `check script` with real shell scripts in a temporary directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use relayd_check::{run_script, HostError};

/// A private directory of executable scripts, removed on drop.
struct Scripts {
    dir: PathBuf,
}

impl Scripts {
    fn new(test: &str) -> Scripts {
        let dir = std::env::temp_dir().join(format!("relayd-check-{}-{test}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // Readable by the unprivileged user a script may run as.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Scripts { dir }
    }

    fn add(&self, name: &str, body: &str) -> String {
        let path = self.dir.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn exit_above_zero_is_up() {
    let scripts = Scripts::new("up");
    let seen = scripts.path("seen");
    let path = scripts.add(
        "up.sh",
        &format!("echo \"$1\" > {}; exit 1", seen.display()),
    );
    let outcome = run_script(&path, "www.example", TIMEOUT, None).await;
    assert!(outcome.up, "{outcome:?}");
    assert_eq!(outcome.error, HostError::ScriptOk);
    assert_eq!(
        fs::read_to_string(&seen).unwrap(),
        "www.example\n",
        "host name is $1"
    );
}

#[tokio::test]
async fn exit_zero_is_down() {
    let scripts = Scripts::new("down");
    let path = scripts.add("down.sh", "exit 0");
    let outcome = run_script(&path, "h", TIMEOUT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::ScriptFail);
    assert_eq!(outcome.error.to_string(), "script failed");
}

#[tokio::test]
async fn runs_in_the_root_directory() {
    let scripts = Scripts::new("cwd");
    let path = scripts.add("cwd.sh", "[ \"$(pwd)\" = / ] && exit 1; exit 0");
    assert!(run_script(&path, "h", TIMEOUT, None).await.up);
}

#[tokio::test]
async fn missing_script_is_down() {
    let outcome = run_script("/nonexistent/relayd-check.sh", "h", TIMEOUT, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::ScriptFail);
}

#[tokio::test]
async fn slow_script_and_its_children_are_killed_at_the_timeout() {
    let scripts = Scripts::new("slow");
    let pid_file = scripts.path("child.pid");
    // A background child in the script's process group, and the script
    // itself, both sleeping far past the timeout.
    let path = scripts.add(
        "slow.sh",
        &format!(
            "sleep 30 & echo $! > {}; sleep 30; exit 1",
            pid_file.display()
        ),
    );
    let timeout = Duration::from_millis(500);
    let outcome = run_script(&path, "h", timeout, None).await;
    assert!(!outcome.up);
    assert_eq!(outcome.error, HostError::ScriptTimeout);
    assert!(outcome.elapsed >= timeout, "{outcome:?}");
    assert!(outcome.elapsed < Duration::from_secs(3), "{outcome:?}");

    let child: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_gone(child),
        "the script's background child {child} survived"
    );
}

/// True once `pid` no longer exists (a killed orphan is reaped by init).
fn wait_gone(pid: i32) -> bool {
    for _ in 0..100 {
        let status = Path::new(&format!("/proc/{pid}/stat"))
            .exists()
            .then(|| fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
        match status {
            None => return true,
            // A zombie waiting for its reaper is dead already.
            Some(stat) if stat.contains(") Z ") || stat.is_empty() => return true,
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

#[tokio::test]
async fn runs_as_the_given_user() {
    if !e2e::running_as_root() {
        return;
    }
    let scripts = Scripts::new("user");
    let path = scripts.add(
        "user.sh",
        "[ \"$(id -u)\" = 65534 ] && [ \"$(id -g)\" = 65534 ] && [ \"$(id -G)\" = 65534 ] && exit 1; exit 0",
    );
    let outcome = run_script(&path, "h", TIMEOUT, Some((65534, 65534))).await;
    assert!(outcome.up, "script did not run as 65534:65534: {outcome:?}");
}

#[tokio::test]
async fn inherits_no_descriptors_past_stderr() {
    let scripts = Scripts::new("fds");
    // An fd the daemon might hold without CLOEXEC (e.g. received over imsg).
    let leaked = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let path = scripts.add(
        "fds.sh",
        &format!("[ -e /proc/self/fd/{leaked} ] && exit 0; exit 1"),
    );
    let outcome = run_script(&path, "h", TIMEOUT, None).await;
    nix::unistd::close(leaked).unwrap();
    assert!(outcome.up, "fd {leaked} reached the script");
}
