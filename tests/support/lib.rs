//! Helpers shared by the end-to-end tests in `tests/`: they start the real
//! binaries built by `cargo build`, so the tests see what an operator sees.

use std::path::PathBuf;

/// The directory holding `relayd` and `relayctl` for this build profile
/// (`target/debug` when the test runs from `target/debug/deps`).
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

/// The repository root, for example files under etc/ and tests/.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
