//! net-snmp from Debian: an `snmpd` master agent with its own config in a
//! scratch directory (`master agentx`, the AgentX socket there, a
//! community on a loopback UDP port), killed by pid on drop; `snmpwalk`
//! `snmpbulkwalk` and `snmpget` against it with numeric OIDs (no MIB files needed).

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::wait_until;
use crate::scratch::ScratchDir;

/// The community the test's snmpd answers.
const COMMUNITY: &str = "relayd-e2e";

/// A running `snmpd -f`: its AgentX socket and UDP port.
pub struct Snmpd {
    child: Option<Child>,
    dir: ScratchDir,
    pub agentx_socket: PathBuf,
    pub port: u16,
    starts: u32,
}

impl Snmpd {
    /// Starts snmpd on a free loopback UDP port; waits until it answers.
    pub fn start() -> Result<Snmpd, String> {
        let dir = ScratchDir::new("snmpd");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("a free UDP port: {e}"))?;
        let agentx_socket = dir.join("agentx.sock");
        let mut snmpd = Snmpd {
            child: None,
            dir,
            agentx_socket,
            port,
            starts: 0,
        };
        snmpd.spawn()?;
        Ok(snmpd)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let config = self.dir.write(
            "snmpd.conf",
            &format!(
                "master agentx\n\
                 agentXSocket {}\n\
                 agentaddress udp:127.0.0.1:{}\n\
                 rocommunity {COMMUNITY} 127.0.0.1\n",
                self.agentx_socket.display(),
                self.port
            ),
        );
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(&format!("snmpd.{}.log", self.starts)))
            .map_err(|e| format!("snmpd log: {e}"))?;
        let child = Command::new("snmpd")
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&config)
            .env("SNMP_PERSISTENT_DIR", self.dir.join("persist"))
            .env("MIBS", "")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start snmpd: {e}"))?;
        self.child = Some(child);
        // sysDescr answers once snmpd serves its UDP port.
        let up = wait_until(Duration::from_secs(20), || {
            self.get(&["1.3.6.1.2.1.1.1.0"])
                .contains_key(".1.3.6.1.2.1.1.1.0")
                && self.agentx_socket.exists()
        });
        if up {
            Ok(())
        } else {
            Err(format!("snmpd did not start:\n{}", self.log_text()))
        }
    }

    /// Stops snmpd (by pid) and starts it again on the same socket and port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.join(&format!("snmpd.{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("--- restarted ---\n")
    }

    fn client(&self, program: &str, oids: &[&str]) -> BTreeMap<String, String> {
        let output = Command::new(program)
            .args([
                "-v2c", "-c", COMMUNITY, "-On", "-Oe", "-t", "3", "-r", "1", "-m", "",
            ])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(oids)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        let Ok(output) = output else {
            return BTreeMap::new();
        };
        snmp_values(&String::from_utf8_lossy(&output.stdout))
    }

    /// `snmpwalk` under `oid`: each numeric OID (with its leading dot) and
    /// its value as the tool prints it, type removed.
    pub fn walk(&self, oid: &str) -> BTreeMap<String, String> {
        self.client("snmpwalk", &[oid])
    }

    /// `snmpbulkwalk` under `oid` (GetBulk requests), as [`Snmpd::walk`].
    pub fn bulk_walk(&self, oid: &str) -> BTreeMap<String, String> {
        self.client("snmpbulkwalk", &[oid])
    }

    /// `snmpget` of the OIDs; those without a value are missing.
    pub fn get(&self, oids: &[&str]) -> BTreeMap<String, String> {
        self.client("snmpget", oids)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `.1.3.6... = TYPE: value` lines; values that say there is no such
/// variable are left out.
fn snmp_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (oid, rest) = line.split_once(" = ")?;
            let value = match rest.split_once(": ") {
                Some((_, value)) => value,
                None => rest,
            };
            let missing = rest.starts_with("No Such") || rest.starts_with("No more variables");
            (!missing).then(|| {
                (
                    oid.trim().to_string(),
                    value.trim().trim_matches('"').to_string(),
                )
            })
        })
        .collect()
}
