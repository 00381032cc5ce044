//! What happens when a child makes a call its list does not allow: the
//! kernel sends SIGSYS (`SECCOMP_RET_TRAP`), the handler here writes the
//! call's number (4 bytes, native order) to the death note and kills the
//! process with SIGSYS. The parent's side reads that note (`read_note`).
//!
//! The handler runs with the filter in force, so it makes only calls every
//! list has: write, getpid, gettid, and tgkill to this process.

use super::DEATH_NOTE_FD;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The death note, or -1 when this child has none (run by hand).
static NOTE: AtomicI32 = AtomicI32::new(-1);

/// The head of a SIGSYS `siginfo_t` (the kernel's `_sigsys` member): the
/// pointer aligns the union as the kernel's layout does on every arch.
#[repr(C)]
struct SigsysInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    call_addr: *mut libc::c_void,
    syscall: libc::c_int,
    arch: libc::c_uint,
}

/// Debug builds' learning mode (see `sandbox`): where trapped calls are
/// written, one `NUMBER\n` line each, before the call fails with ENOSYS
/// and the process goes on.
static LEARN: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SIGSYS, whose head is
    // laid out as `SigsysInfo`.
    let call = unsafe { (*info.cast::<SigsysInfo>()).syscall };
    let learn = LEARN.load(Ordering::Relaxed);
    if learn >= 0 {
        learned(learn, call, context);
        return;
    }
    let note = NOTE.load(Ordering::Relaxed);
    if note >= 0 {
        let bytes = call.to_ne_bytes();
        // SAFETY: write(2) of a local buffer, async-signal-safe.
        unsafe { libc::write(note, bytes.as_ptr().cast(), bytes.len()) };
    }
    // SA_RESETHAND made SIGSYS's action the default again (terminate), and
    // SA_NODEFER leaves it unblocked here: this ends the process.
    // SAFETY: plain system calls, allowed by every list.
    unsafe {
        let pid = libc::getpid();
        let tid = libc::syscall(libc::SYS_gettid);
        libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGSYS);
    }
}

/// Learning mode: writes `call` to `fd` and makes the call return ENOSYS.
fn learned(fd: RawFd, call: i32, context: *mut libc::c_void) {
    let mut line = [0u8; 12];
    let mut at = line.len() - 1;
    line[at] = b'\n';
    let mut n = call.unsigned_abs();
    loop {
        at -= 1;
        line[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: write(2) of a local buffer.
    unsafe { libc::write(fd, line[at..].as_ptr().cast(), line.len() - at) };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the kernel passes the interrupted context; its RAX is the
    // trapped call's result once the handler returns.
    unsafe {
        let context = context.cast::<libc::ucontext_t>();
        (*context).uc_mcontext.gregs[libc::REG_RAX as usize] = -i64::from(libc::ENOSYS);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = context;
}

/// Debug builds: trapped calls go to `fd` and fail, instead of killing.
#[cfg(debug_assertions)]
pub fn learn_into(fd: RawFd) {
    LEARN.store(fd, Ordering::Relaxed);
}

/// Takes the death note (fd 4, when it is a pipe) and installs the SIGSYS
/// handler.
pub fn install() -> nix::Result<()> {
    let flags = if LEARN.load(Ordering::Relaxed) >= 0 {
        SaFlags::SA_SIGINFO | SaFlags::SA_NODEFER
    } else {
        SaFlags::SA_SIGINFO | SaFlags::SA_RESETHAND | SaFlags::SA_NODEFER
    };
    // SAFETY: fd 4 is only looked at, not owned, until it is known to be
    // the pipe the parent set up.
    let fd = unsafe { BorrowedFd::borrow_raw(DEATH_NOTE_FD) };
    if let Ok(stat) = nix::sys::stat::fstat(fd.as_raw_fd()) {
        if stat.st_mode & libc::S_IFMT == libc::S_IFIFO {
            let _ = nix::fcntl::fcntl(
                DEATH_NOTE_FD,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
            NOTE.store(DEATH_NOTE_FD, Ordering::Relaxed);
        }
    }
    let action = SigAction::new(SigHandler::SigAction(on_sigsys), flags, SigSet::empty());
    // SAFETY: the handler only makes async-signal-safe calls.
    unsafe { sigaction(Signal::SIGSYS, &action) }.map(|_| ())
}

/// The parent's side: the call a child that died wrote to its note
/// (`read_end`, non-blocking), if it wrote one.
pub fn read_note(read_end: RawFd) -> Option<i32> {
    let mut bytes = [0u8; 4];
    // SAFETY: read(2) into a local buffer from a descriptor the caller owns.
    let n = unsafe { libc::read(read_end, bytes.as_mut_ptr().cast(), bytes.len()) };
    (n == 4).then(|| i32::from_ne_bytes(bytes))
}

/// A system call's name on this architecture: `ptrace (101)`.
pub fn describe_call(call: i32) -> String {
    let name = usize::try_from(call)
        .ok()
        .and_then(syscalls::Sysno::new)
        .map_or("unknown", |sysno| sysno.name());
    format!("{name} ({call})")
}
