//! `check script PATH`: run an external program per host.
//!
//! relayd.conf(5): the script gets the host name as its only argument and
//! must exit with a value greater than 0 when the host is up, 0 when it is
//! down. It runs in the privileged parent, so it is started as an
//! unprivileged user, in `/`, with no inherited descriptors past stderr,
//! and its whole process group is killed when it outlives the timeout.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{timeout_at, Instant};

use crate::{HostError, Outcome};

/// `close_range(2)` flag (`linux/close_range.h`): mark instead of close.
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Runs the check script `path` for `host_name`, as the (uid, gid) in
/// `run_as` when given, and kills it after `timeout`.
pub async fn run_script(
    path: &str,
    host_name: &str,
    timeout: Duration,
    run_as: Option<(u32, u32)>,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + timeout;
    let (up, error) = match spawn_retrying_busy(path, host_name, run_as, deadline).await {
        // relayd's child exits 0 when exec fails: the host is down.
        Err(_) => (false, HostError::ScriptFail),
        Ok(mut child) => match timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) => judge(status),
            Ok(Err(_)) => (false, HostError::ScriptFail),
            Err(_elapsed) => {
                kill_group(&mut child).await;
                (false, HostError::ScriptTimeout)
            }
        },
    };
    Outcome {
        up,
        error,
        elapsed: started.elapsed(),
        http_code: None,
    }
}

fn judge(status: ExitStatus) -> (bool, HostError) {
    match status.code() {
        Some(code) if code > 0 => (true, HostError::ScriptOk),
        // Exit 0, or killed by a signal.
        _ => (false, HostError::ScriptFail),
    }
}

/// A script that is being replaced while it is started (or whose writer's
/// descriptor a concurrent fork still holds) fails with ETXTBSY for a
/// moment; that is no verdict on the host, so try again until the deadline.
async fn spawn_retrying_busy(
    path: &str,
    host_name: &str,
    run_as: Option<(u32, u32)>,
    deadline: Instant,
) -> io::Result<Child> {
    loop {
        match spawn(path, host_name, run_as) {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

fn spawn(path: &str, host_name: &str, run_as: Option<(u32, u32)>) -> io::Result<Child> {
    let mut command = Command::new(path);
    command
        .arg(host_name)
        .stdin(Stdio::null())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls, allocating nothing.
    unsafe {
        command.pre_exec(move || drop_privileges_and_descriptors(run_as));
    }
    command.spawn()
}

fn drop_privileges_and_descriptors(run_as: Option<(u32, u32)>) -> io::Result<()> {
    fn check(rc: libc::c_int) -> io::Result<()> {
        if rc == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
    // SAFETY: plain system calls on values owned by this frame.
    unsafe {
        check(libc::chdir(c"/".as_ptr()))?;
        if let Some((uid, gid)) = run_as {
            check(libc::setgroups(1, &gid))?;
            check(libc::setresgid(gid, gid, gid))?;
            check(libc::setresuid(uid, uid, uid))?;
        }
        // Nothing of the daemon's (imsg sockets, keys) may reach the
        // script. Older kernels without close_range keep relying on
        // CLOEXEC, which Rust sets on everything it opens.
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        );
    }
    Ok(())
}

async fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    // Reap it so no zombie is left behind.
    let _ = child.wait().await;
}
