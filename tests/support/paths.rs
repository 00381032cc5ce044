//! Where things are: the binaries `cargo build` made, the repository.

use std::fs;
use std::path::{Path, PathBuf};

/// The directory holding `relayd` and `relayctl` for this build profile
/// (`target/debug` when the test runs from `target/debug/deps`, or an
/// example from `target/release/examples`).
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

/// The repository root, for example files under etc/ and man/.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A text file the test needs; panics naming it if it cannot be read.
pub fn read_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
