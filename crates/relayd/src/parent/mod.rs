//! The parent process: reads the configuration, starts and supervises the
//! children, opens what needs root (listening sockets, raw sockets, key
//! files), serves the control socket and reloads.
//!
//! imsg peers: every child (hce, pfe, relay N, ca N) and relayctl clients.
//! Sandbox: none; it stays root for the work listed above, as relayd's
//! parent does.
//!
//! Lifecycle: any child that dies takes the whole daemon down with a
//! non-zero exit status (relayd's rule); SIGTERM and SIGINT shut down
//! cleanly; SIGHUP reloads. The control socket is unlinked on every exit
//! path that runs destructors.

mod children;
mod commands;
mod configure;
mod demote;
mod events;
mod mirror;
mod scripts;
mod sessions;
mod sockets;
mod unsupported;

use crate::control::{Answer, ControlCall, ControlSocket};
use crate::daemonize::Readiness;
use crate::proc::ProcId;
use children::{describe, ChildEvent, Common, ProcessTree, TreeOptions};
pub use configure::load_config;
use mirror::Mirror;
use relayd_config::Config;
use relayd_proto::control::{ControlReply, ControlRequest, MonitorEvent};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc};

/// How long children get to leave after `Shutdown` before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long children get to acknowledge a configuration; a child stuck
/// longer is treated as lost.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(30);

/// What the command line asked the parent to do.
pub struct ParentOptions {
    /// Absolute: the daemon changes to `/` and must still find it on reload.
    pub config_path: PathBuf,
    pub macros: Vec<(String, String)>,
    pub foreground: bool,
    pub verbosity: u8,
}

/// Runs the daemon with an already loaded `config`. Called before any thread
/// exists: it binds the control socket, daemonizes, then starts the runtime.
pub fn run(options: ParentOptions, config: Config) -> ExitCode {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("relayd: need root privileges");
        return ExitCode::FAILURE;
    }
    if let Err(e) = crate::privsep::Sandbox::from_env().check() {
        eprintln!("relayd: {e}");
        return ExitCode::FAILURE;
    }
    let control = match ControlSocket::bind(Path::new(&config.global.socket)) {
        Ok(control) => control,
        Err(e) => {
            eprintln!("relayd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let readiness = if options.foreground {
        None
    } else {
        match crate::daemonize::daemonize() {
            Ok(readiness) => Some(readiness),
            Err(e) => {
                eprintln!("relayd: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let destination = if options.foreground {
        crate::log::Destination::Stderr
    } else {
        crate::log::Destination::Syslog
    };
    crate::log::init("parent", destination, options.verbosity);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(options, config, control, readiness));
    ExitCode::from(code)
}

/// Why the main loop stopped.
enum Exit {
    /// Asked to (signal, `relayctl stop`): status 0.
    Requested,
    /// A child died or startup failed: status 1.
    Failure,
}

struct Parent {
    options: ParentOptions,
    mirror: Mirror,
    tree: ProcessTree,
    /// Children that have not acknowledged the configuration being sent.
    pending_config: HashSet<ProcId>,
    /// When the children acknowledging the configuration count as lost.
    config_deadline: tokio::time::Instant,
    /// Daemonized: tells the waiting foreground process startup is done.
    readiness: Option<Readiness>,
    monitor: broadcast::Sender<MonitorEvent>,
    /// Bound from the start (so a second relayd is refused early), served
    /// once every child runs: an answer from relayctl means relayd is up.
    control: ControlSocket,
    control_calls: Option<mpsc::Sender<ControlCall>>,
    /// relayctl reloads to answer when the configuration barrier passes.
    waiting_for_config: Vec<tokio::sync::oneshot::Sender<Answer>>,
    /// `check script` runs for the hce.
    scripts: scripts::ScriptRunner,
    /// `show sessions` waiting for the relay processes' lists.
    sessions: sessions::SessionQueries,
    /// keepalived track files for `demote` groups.
    demotion: demote::Demotion,
}

async fn serve(
    options: ParentOptions,
    config: Config,
    control: ControlSocket,
    readiness: Option<Readiness>,
) -> u8 {
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let tree_options = TreeOptions {
        prefork: config.global.prefork.max(1),
        foreground: options.foreground,
        verbosity: options.verbosity,
    };
    let tree = match ProcessTree::start(&tree_options, event_tx).await {
        Ok(tree) => tree,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let (monitor, _) = broadcast::channel(256);
    let (call_tx, mut calls) = mpsc::channel(16);
    let mut parent = Parent {
        options,
        mirror: Mirror::new(config.clone()),
        tree,
        pending_config: HashSet::new(),
        config_deadline: tokio::time::Instant::now(),
        readiness,
        monitor,
        control,
        control_calls: Some(call_tx),
        waiting_for_config: Vec::new(),
        scripts: scripts::ScriptRunner::new(),
        sessions: sessions::SessionQueries::default(),
        demotion: demote::Demotion::from_env(),
    };
    parent.demotion.update(&parent.mirror);
    let exit = match parent.distribute(&config).await {
        Ok(()) => parent.main_loop(&mut events, &mut calls).await,
        Err(e) => {
            tracing::error!("{e}");
            Exit::Failure
        }
    };
    parent.tree.shut_down(SHUTDOWN_GRACE).await;
    parent.demotion.shut_down(parent.mirror.config());
    // Dropping the parent unlinks the control socket.
    drop(parent);
    match exit {
        Exit::Requested => {
            tracing::info!("terminating");
            0
        }
        Exit::Failure => 1,
    }
}

impl Parent {
    async fn main_loop(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<ChildEvent>,
        calls: &mut mpsc::Receiver<ControlCall>,
    ) -> Exit {
        let signals = [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::hangup(),
            SignalKind::child(),
        ]
        .map(signal);
        let [Ok(mut sigterm), Ok(mut sigint), Ok(mut sighup), Ok(mut sigchld)] = signals else {
            tracing::error!("cannot install signal handlers");
            return Exit::Failure;
        };
        loop {
            tokio::select! {
                _ = sigterm.recv() => return Exit::Requested,
                _ = tokio::time::sleep_until(self.config_deadline),
                    if !self.pending_config.is_empty() =>
                {
                    let stuck: Vec<String> =
                        self.pending_config.iter().map(ToString::to_string).collect();
                    tracing::error!(
                        "lost child: {} did not acknowledge the configuration",
                        stuck.join(", ")
                    );
                    return Exit::Failure;
                }
                _ = sigint.recv() => return Exit::Requested,
                _ = sighup.recv() => {
                    tracing::info!("reload requested with SIGHUP");
                    let path = self.options.config_path.clone();
                    if let Err(e) = self.reload(&path).await {
                        tracing::error!("reload failed, keeping the running configuration: {e}");
                    }
                }
                _ = sigchld.recv() => {
                    if let Some((id, status)) = self.tree.reap().into_iter().next() {
                        tracing::error!("lost child: {id} {}", describe(status));
                        return Exit::Failure;
                    }
                }
                Some(event) = events.recv() => {
                    if let Err(e) = self.handle_child_event(event).await {
                        tracing::error!("{e}");
                        return Exit::Failure;
                    }
                }
                Some(result) = self.scripts.next_result() => {
                    let result = relayd_proto::messages::parent_hce::ParentToHce::ScriptResult(result);
                    if let Err(e) = self.tree.send_hce(&result, None).await {
                        tracing::error!("{e}");
                        return Exit::Failure;
                    }
                }
                Some(call) = calls.recv() => {
                    if call.request == ControlRequest::ShowSessions {
                        // Answered when every relay process has listed its own.
                        self.start_session_query(call.answer).await;
                        continue;
                    }
                    let stop = call.request == ControlRequest::Shutdown;
                    let reload =
                        matches!(call.request, ControlRequest::Reload | ControlRequest::Load(_));
                    let answer = self.handle_control(call.request).await;
                    let accepted =
                        matches!(&answer, Answer::Replies(r) if r == &[ControlReply::Ok]);
                    if reload && accepted {
                        // Answered once every child runs the new configuration.
                        self.waiting_for_config.push(call.answer);
                    } else {
                        let _ = call.answer.send(answer);
                    }
                    if stop {
                        return Exit::Requested;
                    }
                }
            }
        }
    }

    async fn config_acknowledged(&mut self, id: ProcId) -> Result<(), String> {
        if !self.pending_config.remove(&id) || !self.pending_config.is_empty() {
            return Ok(());
        }
        self.tree.broadcast(Common::Start).await?;
        let first = self.control_calls.is_some();
        if let Some(calls) = self.control_calls.take() {
            self.control.serve(calls)?;
        }
        if let Some(readiness) = self.readiness.take() {
            readiness.ready();
        }
        for waiting in self.waiting_for_config.drain(..) {
            let _ = waiting.send(Answer::Replies(vec![ControlReply::Ok]));
        }
        let pids: Vec<String> = self
            .tree
            .pids()
            .iter()
            .map(|(id, pid)| format!("{id} {pid}"))
            .collect();
        let what = if first { "startup" } else { "reload" };
        tracing::info!("{what}: configuration running in {}", pids.join(", "));
        Ok(())
    }
}
