//! nftables from inside the pfe: libnftables (the library behind nft(8)),
//! loaded with dlopen and given its context while the pfe is still root and
//! outside its chroot, then used from the sandbox.
//!
//! Why this way: the sandboxed pfe (chroot `/var/empty`, `no_new_privs`)
//! cannot exec `/usr/sbin/nft`, but it keeps CAP_NET_ADMIN, which is all
//! the kernel asks of an nf_tables netlink socket. libnftables speaks that
//! netlink itself, in this process, and takes nft's own command language,
//! so every update is one nft script = one atomic nf_tables transaction.
//! Loading the library at run time (not linking it) keeps relayd buildable
//! and runnable where nftables is not installed: only redirects need it.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

/// The library's soname (Debian: package libnftables1, pulled in by nftables).
const LIBRARY: &str = "libnftables.so.1";

/// Why libnftables cannot be used, or why it did not run a script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    #[error("cannot load {LIBRARY} ({reason}): install nftables")]
    Load { reason: String },
    #[error("{LIBRARY} has no {symbol}: {reason}")]
    Symbol {
        symbol: &'static str,
        reason: String,
    },
    #[error("nft_ctx_new failed")]
    Context,
    #[error("cannot buffer libnftables output")]
    Buffering,
    #[error("nft script with a NUL byte")]
    NulByte,
    /// nft failed and said nothing.
    #[error("nft failed (status {status})")]
    Status { status: c_int },
    /// nft (or the kernel) refused the script; its own words.
    #[error("{message}")]
    Refused { message: String },
}

type NewContext = unsafe extern "C" fn(flags: u32) -> *mut c_void;
type FreeContext = unsafe extern "C" fn(ctx: *mut c_void);
type BufferOn = unsafe extern "C" fn(ctx: *mut c_void) -> c_int;
type GetBuffer = unsafe extern "C" fn(ctx: *mut c_void) -> *const c_char;
type RunBuffer = unsafe extern "C" fn(ctx: *mut c_void, buf: *const c_char) -> c_int;
type SetDryRun = unsafe extern "C" fn(ctx: *mut c_void, dry: bool);

/// An open libnftables context. Not `Send`: it belongs to the pfe's single
/// thread.
pub struct Nftables {
    ctx: *mut c_void,
    free_context: FreeContext,
    run_buffer: RunBuffer,
    output: GetBuffer,
    error: GetBuffer,
    /// `nft -c`: the kernel checks a script and applies nothing. Older
    /// libraries lack it; scripts are then not checked ahead.
    set_dry_run: Option<SetDryRun>,
}

impl Nftables {
    /// Loads libnftables and opens a context. Call before entering the
    /// sandbox: the library and the files it reads at start are outside it.
    pub fn load() -> Result<Nftables, NftError> {
        let name = CString::new(LIBRARY).map_err(|_| NftError::NulByte)?;
        // SAFETY: dlopen with a valid C string; the handle is never closed,
        // so the symbols stay valid for the life of the process.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(NftError::Load { reason: dl_error() });
        }
        // SAFETY: each symbol is looked up by its documented name and cast to
        // its documented signature (libnftables(3)).
        unsafe {
            let new_context: NewContext = std::mem::transmute(symbol(handle, "nft_ctx_new")?);
            let free_context: FreeContext = std::mem::transmute(symbol(handle, "nft_ctx_free")?);
            let buffer_output: BufferOn =
                std::mem::transmute(symbol(handle, "nft_ctx_buffer_output")?);
            let buffer_error: BufferOn =
                std::mem::transmute(symbol(handle, "nft_ctx_buffer_error")?);
            let output: GetBuffer =
                std::mem::transmute(symbol(handle, "nft_ctx_get_output_buffer")?);
            let error: GetBuffer = std::mem::transmute(symbol(handle, "nft_ctx_get_error_buffer")?);
            let run_buffer: RunBuffer =
                std::mem::transmute(symbol(handle, "nft_run_cmd_from_buffer")?);
            let set_dry_run: Option<SetDryRun> = symbol(handle, "nft_ctx_set_dry_run")
                .ok()
                .map(|address| std::mem::transmute::<*mut c_void, SetDryRun>(address));
            // NFT_CTX_DEFAULT
            let ctx = new_context(0);
            if ctx.is_null() {
                return Err(NftError::Context);
            }
            // Output and errors go to memory, not to our stdout and stderr.
            if buffer_output(ctx) != 0 || buffer_error(ctx) != 0 {
                free_context(ctx);
                return Err(NftError::Buffering);
            }
            Ok(Nftables {
                ctx,
                free_context,
                run_buffer,
                output,
                error,
                set_dry_run,
            })
        }
    }

    /// Runs an nft script as one transaction: all of it or nothing. Returns
    /// what it printed (for `list` commands), or nft's error messages.
    pub fn run(&mut self, script: &str) -> Result<String, NftError> {
        let script = CString::new(script).map_err(|_| NftError::NulByte)?;
        // SAFETY: ctx is a live context; the buffers returned are valid until
        // the next call on it and are copied at once.
        unsafe {
            let rc = (self.run_buffer)(self.ctx, script.as_ptr());
            let output = buffer_text((self.output)(self.ctx));
            let error = buffer_text((self.error)(self.ctx));
            if rc == 0 {
                Ok(output)
            } else if error.trim().is_empty() {
                Err(NftError::Status { status: rc })
            } else {
                Err(NftError::Refused {
                    message: error.trim_end().to_string(),
                })
            }
        }
    }
}

impl NftError {
    /// The first line: nft follows its error with the script line it blames
    /// and carets, which say little outside the script.
    pub fn headline(&self) -> String {
        let text = self.to_string();
        text.lines().next().unwrap_or_default().to_string()
    }
}

impl Nftables {
    /// Has the kernel check `script` as one transaction that is then
    /// thrown away (`nft -c`): `Ok` when it would apply. `Ok` too when this
    /// libnftables cannot check.
    pub fn check(&mut self, script: &str) -> Result<(), NftError> {
        let Some(set_dry_run) = self.set_dry_run else {
            return Ok(());
        };
        // SAFETY: ctx is a live context; the flag only changes how the next
        // commands are committed.
        unsafe { set_dry_run(self.ctx, true) };
        let checked = self.run(script).map(drop);
        // SAFETY: as above.
        unsafe { set_dry_run(self.ctx, false) };
        checked
    }
}

impl Drop for Nftables {
    fn drop(&mut self) {
        // SAFETY: ctx came from nft_ctx_new and is freed once.
        unsafe { (self.free_context)(self.ctx) };
    }
}

/// # Safety
/// `handle` must be a live dlopen handle.
unsafe fn symbol(handle: *mut c_void, name: &'static str) -> Result<*mut c_void, NftError> {
    let c_name = CString::new(name).map_err(|_| NftError::NulByte)?;
    let address = libc::dlsym(handle, c_name.as_ptr());
    if address.is_null() {
        Err(NftError::Symbol {
            symbol: name,
            reason: dl_error(),
        })
    } else {
        Ok(address)
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string we copy at once.
    unsafe {
        let text = libc::dlerror();
        if text.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        }
    }
}

/// # Safety
/// `text` must be NULL or a NUL-terminated string.
unsafe fn buffer_text(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Runs `body` on a new thread moved into a network namespace of its own
    /// (namespaces are per thread), so the test sees a real kernel without
    /// touching the host's ruleset. `None` when that is not possible here
    /// (a skip, or a failure under RELAYD_E2E_REQUIRED=1).
    pub fn in_own_netns<T: Send + 'static>(
        body: impl FnOnce(Nftables) -> T + Send + 'static,
    ) -> Option<T> {
        let outcome = e2e::in_private_network(move || {
            Nftables::load()
                .map(body)
                .map_err(|e| format!("libnftables: {e}"))
        });
        e2e::or_skip(outcome.and_then(|loaded| loaded))
    }

    #[test]
    fn a_script_runs_as_one_transaction() {
        let Some((listed, failed, after)) = in_own_netns(|mut nft| {
            nft.run("add table inet relayd\nadd counter inet relayd c\n")
                .expect("create");
            let listed = nft.run("list table inet relayd").expect("list");
            // The second command fails, so the first must not stick either.
            let failed = nft.run("add counter inet relayd d\nadd chain inet nowhere x\n");
            let after = nft.run("list table inet relayd").expect("list again");
            (listed, failed, after)
        }) else {
            return;
        };
        assert!(listed.contains("counter c"), "{listed}");
        let error = failed.unwrap_err().to_string();
        assert!(error.contains("No such file or directory"), "{error}");
        assert!(!after.contains("counter d"), "{after}");
    }

    #[test]
    fn a_check_names_what_the_kernel_refuses_and_applies_nothing() {
        let Some((good, bad, after)) = in_own_netns(|mut nft| {
            let good = nft.check("add table inet relayd\nadd counter inet relayd c\n");
            let bad = nft.check(
                "add table inet relayd\nadd chain inet relayd pre { type nat hook prerouting \
                 priority -100; }\nadd rule inet relayd pre iifname \"averyveryverylongname0\" \
                 counter\n",
            );
            let after = nft.run("list tables").expect("list");
            (good, bad, after)
        }) else {
            return;
        };
        assert_eq!(good, Ok(()));
        let error = bad.unwrap_err().to_string();
        assert!(error.contains("exceeds maximum length"), "{error}");
        assert!(
            !after.contains("relayd"),
            "a check creates nothing: {after}"
        );
    }
}
