//! relayd.conf snippets that tests of several areas write.

use crate::ports::free_port;

/// A relay listening on a free port and forwarding to `<table>` on
/// `port` with `check`: relayd checks tables that something uses.
pub fn relay_using(name: &str, table: &str, port: u16, check: &str) -> String {
    format!(
        "relay {name} {{\n\
         \tlisten on 127.0.0.1 port {}\n\
         \tforward to <{table}> port {port} {check}\n\
         }}\n",
        free_port()
    )
}

/// One relay process with a relay on `port` using
/// `http protocol p { PROTOCOL }` and forwarding to 127.0.0.1:`backend`.
pub fn http_relay_config(port: u16, backend: u16, protocol: &str) -> String {
    format!(
        "prefork 1\n\
         http protocol p {{\n{protocol}\n}}\n\
         relay web {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tprotocol p\n\
         \tforward to 127.0.0.1 port {backend}\n\
         }}\n"
    )
}

/// `prefork N`, a table `<web>` of 127.0.0.1 checked by tcp, and one relay
/// `www` on `port` forwarding to it: the smallest configuration that runs
/// every kind of child, for tests of the daemon rather than of relaying.
pub fn checked_relay_config(prefork: u32, port: u16) -> String {
    format!(
        "prefork {prefork}\n\
         table <web> {{ 127.0.0.1 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port 80 check tcp\n\
         }}\n"
    )
}

/// The monitoring tests' configuration: checks every second with a
/// 500 ms timeout, the global lines `globals` (each ending in a newline),
/// a table `<web>` of `hosts` checked by tcp at port `backend`, and a relay
/// `relay` on 127.0.0.1:`port` forwarding to it.
pub fn watched_relay_config(
    globals: &str,
    hosts: &str,
    relay: &str,
    port: u16,
    backend: u16,
) -> String {
    format!(
        "interval 1\ntimeout 500\n{globals}\
         table <web> {{ {hosts} }}\n\
         relay {relay} {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port {backend} check tcp\n\
         }}\n"
    )
}

/// `prefork` relay processes with a relay `www` terminating TLS on `port`,
/// using `KIND protocol p` with a `tls keypair` line for each of
/// `keypairs`, and forwarding to 127.0.0.1:`backend`; `relay_lines` go
/// into the relay block (`session timeout 3`).
pub fn tls_relay_config(
    prefork: u32,
    kind: &str,
    port: u16,
    backend: u16,
    keypairs: &[&str],
    relay_lines: &[&str],
) -> String {
    let keypairs: String = keypairs
        .iter()
        .map(|k| format!("\ttls keypair {k}\n"))
        .collect();
    let relay_lines: String = relay_lines.iter().map(|l| format!("\t{l}\n")).collect();
    format!(
        "prefork {prefork}\n\
         {kind} protocol p {{\n{keypairs}}}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port} tls\n\
         \tprotocol p\n\
         \tforward to 127.0.0.1 port {backend}\n\
         {relay_lines}\
         }}\n"
    )
}
