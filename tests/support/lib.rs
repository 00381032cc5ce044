//! The helpers of the end-to-end tests (`tests/e2e/`, one test binary) and
//! of the crates' tests that need root or a tool: they start the real
//! binaries built by `cargo build`, so the tests see what an operator sees.
//!
//! One flat namespace, one name per helper; the files group them by area:
//!
//! | file | what it holds |
//! | --- | --- |
//! | `require.rs` | preconditions (root, `_relayd`, tools) and the skip switch `RELAYD_E2E_REQUIRED` |
//! | `paths.rs` | the built binaries, the repository, reading files |
//! | `process.rs` | waiting, /proc (and a process's confinement there), signals |
//! | `scratch.rs` | scratch directories removed on drop |
//! | `ports.rs` | free TCP ports |
//! | `daemon.rs` | `relayd -d` under test |
//! | `relayctl.rs` | running relayctl, reading its tables, `monitor`, a raw control connection |
//! | `hosts.rs` | host states as `show hosts` prints them |
//! | `config.rs` | relayd.conf snippets several areas write |
//! | `man.rs` | the examples of the manual pages |
//! | `netns.rs` | network namespaces and threads inside them |
//! | `dns.rs` | an unbound server and the dig client |
//! | `routes.rs` | a router namespace with gateway namespaces, and its routes as iproute2 lists them |
//! | `data.rs` | test data and checksums |
//! | `tcp.rs` | the TCP backend and TCP clients |
//! | `http.rs` | HTTP/1.1 on the wire: heads, messages, a client |
//! | `http_backend.rs` | the HTTP/1.1 backend |
//! | `load.rs` | clients looping against a relay, counting failures |
//! | `tls_server.rs` | an HTTPS server (python3 + openssl) |
//! | `tls_clients.rs` | curl and openssl s_client against a TLS relay |
//! | `tls_keys.rs` | a scratch `/etc/ssl` with openssl-made keypairs, searching process memory |
//! | `tls_relay.rs` | a relayd terminating TLS with keypair `www` in front of a backend |
//! | `wrk.rs` | wrk(1) against a relay, and the demo's backend behind it |
//! | `prometheus.rs` | `promtool check metrics`, a `prometheus` scraping a target, a plain HTTP GET |
//! | `snmp.rs` | an `snmpd` AgentX master in a scratch directory, `snmpwalk`/`snmpget` with numeric OIDs |
//!
//! A test that cannot run here (no root, no namespace, a missing tool)
//! calls [`skip_or_fail`] through one of the `require` helpers: it prints
//! `SKIPPED` and passes, or fails when `RELAYD_E2E_REQUIRED=1`
//! (scripts/test.sh sets it when run as root), so a suite run as root can
//! never pass by skipping.

mod config;
mod daemon;
mod data;
mod dns;
mod hosts;
mod http;
mod http_backend;
mod load;
mod man;
mod netns;
mod paths;
mod ports;
mod process;
mod prometheus;
mod relayctl;
mod require;
mod routes;
mod scratch;
mod snmp;
mod tcp;
mod tls_clients;
mod tls_keys;
mod tls_relay;
mod tls_server;
mod wrk;

pub use config::{
    checked_relay_config, http_relay_config, relay_using, tls_relay_config, watched_relay_config,
};
pub use daemon::Daemon;
pub use data::{pattern, Checksum, PatternPieces};
pub use dns::{dig, dig_with, DigAnswer, Unbound, WHO};
pub use hosts::{
    expect_state, first_table, host_detail, host_name_is, host_rows, host_state, show_hosts,
    wait_hosts_up, TWO_INTERVALS,
};
pub use http::{read_framed_body, read_head, read_message, Head, HttpClient, HttpMessage};
pub use http_backend::HttpBackend;
pub use load::{ClientLoop, LoadAnswer, LoadBackend, LoopCount, LoopKind, LOOP_LIMIT, LOOP_TIME};
pub use man::man_examples;
pub use netns::{in_private_network, ip, Namespace};
pub use paths::{bin, bin_dir, read_text, repo_root};
pub use ports::free_port;
pub use process::{
    children_of, cmdline, confinement, parent_of, proc_status, process_alive, send_signal,
    user_ids, wait_until, Confinement,
};
pub use prometheus::{
    assert_promtool_accepts, http_get, metric_sample, promtool_check, relay_bytes, Prometheus,
};
pub use relayctl::{
    control_stream, relayctl, status_of, stdout_text, summary_rows, Monitor, SummaryRow,
};
pub use require::{
    daemon_can_run, has_tool, is_root, or_skip, running_as_root, skip_or_fail, tools_installed,
    DAEMON_CHROOT, DAEMON_USER, REQUIRED_VAR, SKIP_LOG_VAR,
};
pub use routes::{
    route_lab_or_skip, through_both_gateways, uplinks_config, RouteLab, RELAYD_PROTOCOL,
    ROUTE_CHANGE,
};
pub use scratch::ScratchDir;
pub use snmp::Snmpd;
pub use tcp::{
    connect, connect_between, connect_from, read_line, reset_on_drop, round_trip, which_backend,
    TcpBackend, TcpBehaviour,
};
pub use tls_clients::{curl_https, output_text, s_client};
pub use tls_keys::{memory_holds, SslDir, SSL_DIR_VAR};
pub use tls_relay::TlsRelay;
pub use tls_server::TlsServer;
pub use wrk::{wrk, DemoBackend, WrkCount};
