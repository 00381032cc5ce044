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

type NewContext = unsafe extern "C" fn(flags: u32) -> *mut c_void;
type FreeContext = unsafe extern "C" fn(ctx: *mut c_void);
type BufferOn = unsafe extern "C" fn(ctx: *mut c_void) -> c_int;
type GetBuffer = unsafe extern "C" fn(ctx: *mut c_void) -> *const c_char;
type RunBuffer = unsafe extern "C" fn(ctx: *mut c_void, buf: *const c_char) -> c_int;

/// An open libnftables context. Not `Send`: it belongs to the pfe's single
/// thread.
pub struct Nftables {
    ctx: *mut c_void,
    free_context: FreeContext,
    run_buffer: RunBuffer,
    output: GetBuffer,
    error: GetBuffer,
}

impl Nftables {
    /// Loads libnftables and opens a context. Call before entering the
    /// sandbox: the library and the files it reads at start are outside it.
    pub fn load() -> Result<Nftables, String> {
        let name = CString::new(LIBRARY).map_err(|e| e.to_string())?;
        // SAFETY: dlopen with a valid C string; the handle is never closed,
        // so the symbols stay valid for the life of the process.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!(
                "cannot load {LIBRARY} ({}): install nftables",
                dl_error()
            ));
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
            // NFT_CTX_DEFAULT
            let ctx = new_context(0);
            if ctx.is_null() {
                return Err("nft_ctx_new failed".into());
            }
            // Output and errors go to memory, not to our stdout and stderr.
            if buffer_output(ctx) != 0 || buffer_error(ctx) != 0 {
                free_context(ctx);
                return Err("cannot buffer libnftables output".into());
            }
            Ok(Nftables {
                ctx,
                free_context,
                run_buffer,
                output,
                error,
            })
        }
    }

    /// Runs an nft script as one transaction: all of it or nothing. Returns
    /// what it printed (for `list` commands), or nft's error messages.
    pub fn run(&mut self, script: &str) -> Result<String, String> {
        let script = CString::new(script).map_err(|_| "nft script with a NUL byte".to_string())?;
        // SAFETY: ctx is a live context; the buffers returned are valid until
        // the next call on it and are copied at once.
        unsafe {
            let rc = (self.run_buffer)(self.ctx, script.as_ptr());
            let output = buffer_text((self.output)(self.ctx));
            let error = buffer_text((self.error)(self.ctx));
            if rc == 0 {
                Ok(output)
            } else if error.trim().is_empty() {
                Err(format!("nft failed (status {rc})"))
            } else {
                Err(error.trim_end().to_string())
            }
        }
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
unsafe fn symbol(handle: *mut c_void, name: &str) -> Result<*mut c_void, String> {
    let c_name = CString::new(name).map_err(|e| e.to_string())?;
    let address = libc::dlsym(handle, c_name.as_ptr());
    if address.is_null() {
        Err(format!("{LIBRARY} has no {name}: {}", dl_error()))
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
        let error = failed.unwrap_err();
        assert!(error.contains("No such file or directory"), "{error}");
        assert!(!after.contains("counter d"), "{after}");
    }
}
