//! wrk(1) against a relay, and the README demo's backend
//! (`relayd-demo-backend serve`) that scripts/bench-reload.sh puts behind
//! it, so the tests run what the benchmark runs.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::paths::bin;
use crate::ports::free_port;
use crate::process::wait_until;

/// `relayd-demo-backend serve 127.0.0.1:PORT NAME`, killed on drop.
pub struct DemoBackend {
    pub port: u16,
    child: Child,
}

impl DemoBackend {
    pub fn start(name: &str) -> DemoBackend {
        let port = free_port();
        let child = Command::new(bin("relayd-demo-backend"))
            .args(["serve", &format!("127.0.0.1:{port}"), name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start relayd-demo-backend");
        let backend = DemoBackend { port, child };
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "relayd-demo-backend does not listen on {port}"
        );
        backend
    }
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one wrk run counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrkCount {
    pub requests: u64,
    /// connect, read, write and timeout errors (wrk's "Socket errors").
    pub socket_errors: [u64; 4],
    pub non_2xx: u64,
    /// wrk's whole output, for the assertion message.
    pub output: String,
}

/// `wrk -t1 -cCONNECTIONS -dSECONDSs [-H HEADER] http://127.0.0.1:PORT/`:
/// wrk stops itself after `seconds`.
pub fn wrk(port: u16, connections: u32, seconds: u32, header: Option<&str>) -> WrkCount {
    let mut command = Command::new("wrk");
    command.args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let output = command
        .arg(format!("http://127.0.0.1:{port}/"))
        .stdin(Stdio::null())
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    parse_wrk(text)
}

fn parse_wrk(output: String) -> WrkCount {
    let mut count = WrkCount::default();
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(at) = words.iter().position(|w| *w == "requests") {
            if words.get(at + 1) == Some(&"in") {
                count.requests = words[0].parse().unwrap_or(0);
            }
        }
        if let Some(errors) = line.strip_prefix("Socket errors:") {
            for (slot, part) in count.socket_errors.iter_mut().zip(errors.split(',')) {
                *slot = part
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
            }
        }
        if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            count.non_2xx = rest.trim().parse().unwrap_or(0);
        }
    }
    count.output = output;
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_of_a_wrk_run() {
        let output = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 4 connections\n  \
                      1200 requests in 1.00s, 90.00KB read\n  \
                      Socket errors: connect 0, read 1199, write 2, timeout 3\n  \
                      Non-2xx or 3xx responses: 7\n";
        let count = parse_wrk(output.to_string());
        assert_eq!(count.requests, 1200);
        assert_eq!(count.socket_errors, [0, 1199, 2, 3]);
        assert_eq!(count.non_2xx, 7);
    }
}
