//! Prometheus from Debian: `promtool check metrics` on a text, a real
//! `prometheus` server scraping a target (stopped on drop), its query API,
//! and a plain HTTP GET for an endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_port;
use crate::process::wait_until;
use crate::scratch::ScratchDir;

/// `promtool check metrics` on `text`: `Err` with promtool's words when it
/// finds a problem (a lint or a parse error).
pub fn promtool_check(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start promtool: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("write to promtool: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("promtool ({}): {said}", output.status))
    }
}

/// The status code and body of `GET path` on `addr` (HTTP/1.1, one
/// request, `Connection: close`); `None` if nothing answered within 10 s.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A `prometheus` scraping one target every second, with its storage and
/// log in a scratch directory; killed on drop.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    dir: ScratchDir,
}

impl Prometheus {
    /// Starts it on a free port of 127.0.0.1 and waits until it is ready.
    pub fn scraping(target: SocketAddr) -> Result<Prometheus, String> {
        let dir = ScratchDir::new("prometheus");
        let config = dir.write(
            "prometheus.yml",
            &format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: relayd\n    static_configs:\n\
                 \x20     - targets: ['{target}']\n"
            ),
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.join("prometheus.log"))
            .map_err(|e| format!("prometheus log: {e}"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start prometheus: {e}"))?;
        let prometheus = Prometheus { child, addr, dir };
        let ready = wait_until(Duration::from_secs(60), || {
            http_get(prometheus.addr, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
        if ready {
            Ok(prometheus)
        } else {
            Err(format!("prometheus not ready:\n{}", prometheus.log_text()))
        }
    }

    /// The result vector of an instant query: each sample's labels and
    /// value.
    pub fn query(&self, expression: &str) -> Vec<(serde_json::Value, String)> {
        let path = format!("/api/v1/query?query={}", url_encode(expression));
        let Some((200, body)) = http_get(self.addr, &path) else {
            return Vec::new();
        };
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body) else {
            return Vec::new();
        };
        let results = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        results
            .into_iter()
            .map(|sample| {
                let value = sample["value"][1].as_str().unwrap_or_default().to_string();
                (sample["metric"].clone(), value)
            })
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Panics with promtool's words (and the text) unless `promtool check
/// metrics` accepts `text`.
pub fn assert_promtool_accepts(text: &str) {
    if let Err(why) = promtool_check(text) {
        panic!("{why}\n{text}");
    }
}

/// The value of the sample `series` (name and labels exactly as printed,
/// e.g. `relayd_relay_enabled{relay="www"}`) in an exposition text.
pub fn metric_sample<T: std::str::FromStr>(text: &str, series: &str) -> Option<T> {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.parse().ok())
}

/// The value of `relayd_relay_bytes_total{relay, direction}` in an
/// exposition text, if it is there.
pub fn relay_bytes(text: &str, relay: &str, direction: &str) -> Option<u64> {
    metric_sample(
        text,
        &format!("relayd_relay_bytes_total{{relay=\"{relay}\",direction=\"{direction}\"}}"),
    )
}
