//! relayctl against a daemon under test: one command, its table output
//! (relayd's `Id Type Name Avlblty Status`), and `monitor` in the
//! background.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::paths::bin;
use crate::process::wait_until;

/// Runs `relayctl -s socket args...` and returns its output; a relayctl
/// hung for 10 s is killed, so it fails the test instead of hanging it.
pub fn relayctl(socket: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(bin("relayctl"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start relayctl");
    // Drain the pipes while waiting: a long answer (thousands of hosts)
    // fills a pipe and would block relayctl before it exits.
    fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let finished = wait_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait relayctl");
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A connection to relayd's control socket at `socket` whose reads give up
/// after `read_timeout`, for a test that speaks the protocol itself
/// (`relayd_proto::control::ControlClient::new`).
pub fn control_stream(socket: &Path, read_timeout: Duration) -> UnixStream {
    let stream = UnixStream::connect(socket).expect("connect to the control socket");
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("read timeout");
    stream
}

/// stdout of an [`Output`] as text.
pub fn stdout_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One line of `relayctl show summary|hosts|relays|...` (relayd's
/// `Id Type Name Avlblty Status` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    pub id: u32,
    pub kind: String,
    pub name: String,
    pub availability: String,
    pub status: String,
}

/// The object rows of a `show` output: header and detail lines skipped.
pub fn summary_rows(text: &str) -> Vec<SummaryRow> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            if fields.len() < 5 {
                return None;
            }
            Some(SummaryRow {
                id: fields[0].parse().ok()?,
                kind: fields[1].to_string(),
                name: fields[2].to_string(),
                availability: fields[3].to_string(),
                status: fields[4..].join(" ").trim().to_string(),
            })
        })
        .collect()
}

/// The status column of the row of `kind` with `id` (e.g. `("host", 2)`).
pub fn status_of(rows: &[SummaryRow], kind: &str, id: u32) -> Option<String> {
    rows.iter()
        .find(|r| r.kind == kind && r.id == id)
        .map(|r| r.status.clone())
}

/// A `relayctl -s SOCKET monitor` running in the background, its output
/// lines collected by a reader thread; killed on drop.
pub struct Monitor {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn start(socket: &Path) -> Monitor {
        let mut child = Command::new(bin("relayctl"))
            .arg("-s")
            .arg(socket)
            .arg("monitor")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start relayctl monitor");
        let stdout = child.stdout.take().expect("monitor stdout");
        let (lines_tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Monitor {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Appends to `seen` every line printed so far, waiting up to `wait`
    /// for the first one.
    pub fn collect(&self, seen: &mut Vec<String>, wait: Duration) {
        while let Ok(line) = self.lines.recv_timeout(wait) {
            seen.push(line);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
