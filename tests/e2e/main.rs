//! The end-to-end tests: one test binary (`cargo test --test e2e`), one
//! module per area, all sharing the helpers of the `e2e` library
//! (tests/support). They start the real binaries of `cargo build`, talk to
//! them over real sockets on 127.0.0.0/8 or in network namespaces of their
//! own, and clean up every process and namespace they start.
//!
//! Tests run in parallel threads of this one process, so none of them may
//! change what the process shares: no `std::env::set_var` (pass the
//! environment to the child's `Command`), no umask, signal disposition or
//! current directory, and no `setns`/`unshare` on the test's own thread
//! (`e2e::Namespace::run` and `e2e::in_private_network` use a thread of
//! their own). A test that cannot run here calls one of the `e2e`
//! `require` helpers (`daemon_can_run`, `running_as_root`,
//! `tools_installed`, `or_skip`), which skip, or fail under
//! `RELAYD_E2E_REQUIRED=1`.
//!
//! Run one area or one test with a filter:
//! `cargo test --test e2e -- relay_http::`, `cargo test --test e2e -- sighup`.

mod agentx;
mod config_check;
mod daemon;
mod ha;
mod hce;
mod man_pages;
mod metrics;
mod packaging;
mod pfe;
mod relay_dns;
mod relay_http;
mod relay_tcp;
mod relay_tls;
mod reload;
mod routers;
