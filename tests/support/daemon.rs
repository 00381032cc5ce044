//! The daemon under test: `relayd -d -v -f CONFIG` with its control socket
//! and log in a scratch directory, stopped with its children on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::netns::Namespace;
use crate::paths::bin;
use crate::process::{children_of, cmdline, parent_of, process_alive, send_signal, wait_until};
use crate::relayctl::relayctl;
use crate::scratch::ScratchDir;
use crate::tls_keys::SslDir;

/// A `relayd -d` started on a config file in its own scratch directory, with
/// its control socket there too. Killed (with its children) on drop.
pub struct Daemon {
    pub child: Option<Child>,
    pub pid: u32,
    pub dir: ScratchDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// Children seen while running, killed on drop if still alive.
    known_children: Vec<u32>,
}

impl Daemon {
    /// Writes `config_body` after a `socket "..."` line pointing into a new
    /// scratch dir, starts `relayd -d -v -f` on it and waits until relayctl
    /// gets an answer (relayd serves the control socket once every child
    /// runs). Panics with the daemon's log if it does not.
    pub fn start(label: &str, config_body: &str) -> Daemon {
        Self::start_with_env(label, config_body, &[])
    }

    /// Like [`Daemon::start`] with extra environment variables for relayd
    /// (e.g. `RELAYD_CHROOT`), given to its command only.
    pub fn start_with_env(label: &str, config_body: &str, env: &[(&str, &str)]) -> Daemon {
        Self::start_with_prefix(label, config_body, env, &[])
    }

    /// Like [`Daemon::start`] with relayd's `/etc/ssl` moved to `ssl`
    /// (`RELAYD_SSL_DIR`), for TLS relays and their keypairs.
    pub fn start_with_ssl(label: &str, config_body: &str, ssl: &SslDir) -> Daemon {
        let (var, dir) = ssl.env();
        Self::start_with_env(label, config_body, &[(var, &dir)])
    }

    /// Like [`Daemon::start`], inside the network namespace `namespace`
    /// (through `ip netns exec`, which execs relayd: the pid stays relayd's).
    pub fn start_in(namespace: &Namespace, label: &str, config_body: &str) -> Daemon {
        Self::start_in_with_env(namespace, label, config_body, &[])
    }

    /// [`Daemon::start_in`] with extra environment variables for relayd.
    pub fn start_in_with_env(
        namespace: &Namespace,
        label: &str,
        config_body: &str,
        env: &[(&str, &str)],
    ) -> Daemon {
        Self::start_with_prefix(
            label,
            config_body,
            env,
            &["ip", "netns", "exec", &namespace.name],
        )
    }

    /// Runs relayd through a command prefix that execs its last argument
    /// (`ip netns exec NS`, `prlimit --nofile=...`).
    pub fn start_with_prefix(
        label: &str,
        config_body: &str,
        env: &[(&str, &str)],
        prefix: &[&str],
    ) -> Daemon {
        let dir = ScratchDir::new(label);
        let socket = dir.join("relayd.sock");
        let config = dir.write("relayd.conf", &Self::config_text(&socket, config_body));
        let log = dir.join("relayd.log");
        let log_file = fs::File::create(&log).expect("create log");
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin("relayd"));
                command
            }
            None => Command::new(bin("relayd")),
        };
        let child = command
            .args(["-d", "-v", "-f"])
            .arg(&config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .expect("start relayd");
        let pid = child.id();
        let mut daemon = Daemon {
            child: Some(child),
            pid,
            dir,
            config,
            socket,
            log,
            known_children: Vec::new(),
        };
        let up = wait_until(Duration::from_secs(10), || {
            !process_alive(pid)
                || (daemon.socket.exists()
                    && relayctl(&daemon.socket, &["show", "summary"])
                        .status
                        .success())
        });
        if !up || !process_alive(pid) {
            panic!("relayd did not start; its log:\n{}", daemon.log_text());
        }
        daemon.known_children = children_of(pid);
        daemon
    }

    /// A config file text with the control socket at `socket`.
    pub fn config_text(socket: &Path, body: &str) -> String {
        format!("socket \"{}\"\n{body}", socket.display())
    }

    /// Replaces the config file (for reload tests).
    pub fn rewrite_config(&self, body: &str) {
        fs::write(&self.config, Self::config_text(&self.socket, body)).expect("rewrite config");
    }

    /// What the daemon and its children logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's current children (and remembers them for cleanup).
    pub fn children(&mut self) -> Vec<u32> {
        let now = children_of(self.pid);
        for pid in &now {
            if !self.known_children.contains(pid) {
                self.known_children.push(*pid);
            }
        }
        now
    }

    /// The pid of the child whose title starts with `title`
    /// (`relayd: pfe`); panics if there is none.
    pub fn child_titled(&mut self, title: &str) -> u32 {
        self.children()
            .into_iter()
            .find(|pid| cmdline(*pid).starts_with(title))
            .unwrap_or_else(|| panic!("no {title} process; log:\n{}", self.log_text()))
    }

    /// Runs `relayctl -s SOCKET args...`.
    pub fn relayctl(&self, args: &[&str]) -> Output {
        relayctl(&self.socket, args)
    }

    /// Waits up to `timeout` for relayd to exit; its exit code if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status.code().unwrap_or(-1));
                }
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.children();
        if self.child.is_some() {
            send_signal(self.pid, "TERM");
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                send_signal(self.pid, "KILL");
                let _ = self.wait_exit(Duration::from_secs(2));
            }
        }
        for pid in &self.known_children {
            // Still ours (or orphaned), not a reused pid in another daemon.
            let ours = matches!(parent_of(*pid), Some(p) if p == self.pid || p == 1);
            if ours && process_alive(*pid) && cmdline(*pid).starts_with("relayd:") {
                send_signal(*pid, "KILL");
            }
        }
    }
}
