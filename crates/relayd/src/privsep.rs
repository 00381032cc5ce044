//! The sandbox every child enters right after exec, before it starts its
//! runtime (credentials and capabilities are per thread on Linux, so this
//! must run while the process has a single thread).
//!
//! Steps, in order: look the user up (needs /etc/passwd, so before chroot),
//! clear the capability bounding set while still root, chroot and chdir,
//! drop supplementary groups, gid and uid, keep only the capabilities the
//! engine needs, set `no_new_privs`.
//!
//! Tests and unusual installs change the defaults through the environment,
//! which the parent hands on to every child:
//! - `RELAYD_CHROOT`: chroot directory (default `/var/empty`),
//! - `RELAYD_USER`: unprivileged user (default `_relayd`); its primary group
//!   is used as the group.

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};
use std::path::PathBuf;

pub const DEFAULT_CHROOT: &str = "/var/empty";
pub const DEFAULT_USER: &str = "_relayd";
pub const CHROOT_ENV: &str = "RELAYD_CHROOT";
pub const USER_ENV: &str = "RELAYD_USER";

/// Where and as whom the children run.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub chroot: PathBuf,
    pub user: String,
}

impl Sandbox {
    /// The sandbox from the environment, with relayd's defaults.
    pub fn from_env() -> Sandbox {
        Sandbox {
            chroot: std::env::var_os(CHROOT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROOT)),
            user: std::env::var(USER_ENV).unwrap_or_else(|_| DEFAULT_USER.to_string()),
        }
    }

    /// Looks up the unprivileged user; the parent calls this before starting
    /// any child so a missing user is one clear error, not N dead children.
    pub fn lookup_user(&self) -> Result<User, String> {
        match User::from_name(&self.user) {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(format!(
                "unknown user {} (create it, or set {USER_ENV})",
                self.user
            )),
            Err(e) => Err(format!("cannot look up user {}: {e}", self.user)),
        }
    }

    /// Checks what can be checked before children start: the user exists
    /// and the chroot directory is a directory.
    pub fn check(&self) -> Result<(), String> {
        self.lookup_user()?;
        match std::fs::metadata(&self.chroot) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(format!(
                "chroot {} is not a directory",
                self.chroot.display()
            )),
            Err(e) => Err(format!(
                "chroot {}: {e} (create it, or set {CHROOT_ENV})",
                self.chroot.display()
            )),
        }
    }

    /// Enters the sandbox for good. `keep` lists the capabilities the
    /// engine keeps in its permitted and effective sets (empty for all but
    /// the pfe).
    pub fn enter(&self, keep: &[Capability]) -> Result<(), String> {
        let user = self.lookup_user()?;
        if !Uid::effective().is_root() {
            return Err("relayd children must start as root to drop privileges".into());
        }
        caps::clear(None, CapSet::Bounding)
            .map_err(|e| format!("cannot clear the capability bounding set: {e}"))?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| format!("cannot clear the ambient capabilities: {e}"))?;
        if !keep.is_empty() {
            // Without this, setuid away from root empties the permitted set.
            set_keepcaps(true)?;
        }
        nix::unistd::chroot(&self.chroot)
            .map_err(|e| format!("chroot {}: {e}", self.chroot.display()))?;
        nix::unistd::chdir("/").map_err(|e| format!("chdir / in the chroot: {e}"))?;
        drop_ids(user.uid, user.gid)?;
        let kept: CapsHashSet = keep.iter().copied().collect();
        caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
            .map_err(|e| format!("cannot clear inheritable capabilities: {e}"))?;
        caps::set(None, CapSet::Permitted, &kept)
            .map_err(|e| format!("cannot set permitted capabilities: {e}"))?;
        caps::set(None, CapSet::Effective, &kept)
            .map_err(|e| format!("cannot set effective capabilities: {e}"))?;
        if !keep.is_empty() {
            set_keepcaps(false)?;
        }
        set_no_new_privs()?;
        Ok(())
    }
}

fn drop_ids(uid: Uid, gid: Gid) -> Result<(), String> {
    nix::unistd::setgroups(&[gid]).map_err(|e| format!("setgroups({gid}): {e}"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setresgid({gid}): {e}"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setresuid({uid}): {e}"))?;
    Ok(())
}

fn set_keepcaps(on: bool) -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) };
    if rc != 0 {
        return Err(format!(
            "prctl(PR_SET_KEEPCAPS): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn set_no_new_privs() -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(format!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Asks the kernel to send `signal` to this process when its parent dies,
/// so a child never outlives a killed parent. Set after the uid change,
/// which clears it.
pub fn die_with_parent(signal: nix::sys::signal::Signal) -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(format!(
            "prctl(PR_SET_PDEATHSIG): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
