//! End-to-end: one child engine started by hand the way the parent starts
//! it (`relayd -P hce -I 0` with its channel on fd 3), to check what it
//! does with a broken parent: malformed frames and a closed channel make
//! it exit, with a clear error for the former. Needs root (the child drops
//! privileges); skips otherwise.

use e2e::{bin, daemon_can_run, wait_until};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts `relayd -P kind -d` with one end of a socketpair on fd 3; returns
/// the child and our end.
fn start_child(kind: &str) -> (Child, UnixStream) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    let theirs_fd = theirs.as_raw_fd();
    let mut command = Command::new(bin("relayd"));
    command
        .args(["-P", kind, "-I", "0", "-d"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: dup2 is async-signal-safe; it runs in the forked child only.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it instead.
            let rc = if theirs_fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(theirs_fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().expect("start relayd child");
    drop(theirs);
    (child, ours)
}

/// Waits (bounded) for the child to exit; its status code and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let exited = wait_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait child");
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    (if exited { status.code() } else { None }, stderr)
}

/// Reads the child's first frame (`Ready`) so we know it is sandboxed and
/// serving.
fn read_ready(channel: &mut UnixStream) {
    channel
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut header = [0u8; 18];
    channel
        .read_exact(&mut header)
        .expect("the child says Ready");
}

#[test]
fn a_malformed_frame_from_the_parent_makes_a_child_exit_with_a_clear_error() {
    if !daemon_can_run() {
        return;
    }
    for kind in ["hce", "pfe", "relay", "ca"] {
        let (child, mut channel) = start_child(kind);
        read_ready(&mut channel);
        // A header announcing a frame shorter than the header itself.
        let mut bogus = [0u8; 18];
        bogus[4..8].copy_from_slice(&4u32.to_le_bytes());
        channel.write_all(&bogus).expect("write garbage");
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(1), "{kind}: {stderr}");
        assert!(stderr.contains("parent channel"), "{kind}: {stderr}");
        assert!(stderr.contains("imsg"), "{kind}: {stderr}");
    }
}

#[test]
fn a_child_leaves_quietly_when_the_parent_channel_closes() {
    if !daemon_can_run() {
        return;
    }
    let (child, mut channel) = start_child("relay");
    read_ready(&mut channel);
    drop(channel);
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_internal_flag_refuses_to_run_without_a_parent() {
    // No root needed: it fails before dropping privileges.
    let out = Command::new(bin("relayd"))
        .args(["-P", "hce", "-d"])
        .stdin(Stdio::null())
        .output()
        .expect("run relayd -P hce");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-P is internal"), "{stderr}");
}
