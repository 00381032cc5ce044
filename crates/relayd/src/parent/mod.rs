//! The parent process: reads the configuration, starts and supervises the
//! children, opens what needs root (listening sockets, raw sockets, key
//! files), serves the control socket and reloads.
//!
//! imsg peers: hce, pfe, relay N, ca N, metrics.
//! Every child has its channel to the parent; relayctl clients speak to it
//! on the control socket (`control`).
//!
//! Sandbox: none, root. It stays root for the work listed above, as
//! relayd's parent does.
//!
//! Lifecycle: any child that dies takes the whole daemon down with a
//! non-zero exit status (relayd's rule), and the parent then removes what
//! the children installed (`leftovers`: the nftables table); SIGTERM and
//! SIGINT shut down cleanly; SIGHUP reloads; SIGUSR2 drains (`drain`: stop
//! accepting, exit once the open sessions end, within a bound). A
//! configuration is rolled out in two phases
//! (`rollout`): every child prepares it and says whether it accepts it,
//! then all run it or none does; a refusal at startup stops the daemon with
//! the reason, on reload it keeps the running configuration and the reload
//! fails with the reason. The control socket is unlinked on every exit
//! path that runs destructors.

mod agentx;
mod children;
mod commands;
mod configure;
mod demote;
mod drain;
mod error;
mod events;
mod exposition;
mod leftovers;
mod links;
mod listeners;
mod mirror;
mod rollout;
mod routers;
mod scripts;
mod sessions;
mod sockets;
mod tables;
mod tickets;
mod tls_files;

use crate::control::{Answer, ControlCall, ControlSocket};
use crate::daemonize::Readiness;
use crate::proc::ProcId;
use children::{describe, ProcessTree, TreeOptions};
pub use configure::{load_config, Loaded};
use configure::{Current, Purpose};
pub use error::ParentError;
use links::{ChildEvent, EngineMessage, Links};
use mirror::Mirror;
use relayd_config::Config;
use relayd_proto::control::{ControlReply, ControlRequest, MonitorEvent};
use relayd_proto::messages::parent_hce::ParentToHce;
use relayd_proto::messages::Generation;
use relayd_proto::status::SessionRow;
use relayd_proto::{FanOut, ProcessKind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
pub use tls_files::check_key_files;
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

/// Runs the daemon with an already loaded configuration. Called before any
/// thread exists: it binds the control socket, daemonizes, then starts the
/// runtime.
pub fn run(options: ParentOptions, loaded: Loaded) -> ExitCode {
    let Loaded { config, warnings } = loaded;
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("relayd: need root privileges");
        return ExitCode::FAILURE;
    }
    raise_descriptor_limit();
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
    configure::log_warnings(&warnings);
    crate::sandbox::log_support();
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

/// Control connections, listening sockets handed on, check scripts: the
/// default soft limit of 1024 descriptors is soon reached. The parent
/// (and so every child, which inherits it) takes the whole hard limit
/// (the systemd unit sets `LimitNOFILE=65536`).
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                eprintln!("relayd: cannot raise the descriptor limit to {hard}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => eprintln!("relayd: cannot read the descriptor limit: {e}"),
    }
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
    links: Links,
    /// The configuration being rolled out, until every child answered.
    current: Option<Current>,
    /// The generation of the last rollout.
    generation: Generation,
    /// The relays' listening sockets, kept across reloads.
    listeners: listeners::Listeners,
    /// A graceful stop under way.
    draining: Option<drain::Drain>,
    /// Daemonized: tells the waiting foreground process startup is done.
    readiness: Option<Readiness>,
    monitor: broadcast::Sender<MonitorEvent>,
    /// Bound from the start (so a second relayd is refused early), served
    /// once every child runs: an answer from relayctl means relayd is up.
    control: ControlSocket,
    control_calls: Option<mpsc::Sender<ControlCall>>,
    /// `check script` runs for the hce.
    scripts: scripts::ScriptRunner,
    /// `show sessions` waiting for the relay processes' lists.
    sessions: FanOut<ProcId, SessionRow>,
    /// keepalived track files for `demote` groups.
    demotion: demote::Demotion,
    /// Session ticket keys, made and rotated here, shared by the relays.
    tickets: tickets::Tickets,
    /// The hce has its raw ICMP sockets (only once a configuration checks
    /// a table with `check icmp`).
    icmp_handed: bool,
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
    let (tree, links) = match ProcessTree::start(&tree_options, &event_tx) {
        Ok(started) => started,
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
        links,
        current: None,
        generation: 0,
        listeners: listeners::Listeners::default(),
        draining: None,
        readiness,
        monitor,
        control,
        control_calls: Some(call_tx),
        scripts: scripts::ScriptRunner,
        sessions: FanOut::new(),
        demotion: demote::Demotion::from_env(),
        tickets: tickets::Tickets::default(),
        icmp_handed: false,
    };
    parent.demotion.update(&parent.mirror);
    let started = parent
        .hand_icmp_sockets(&config)
        .and_then(|()| parent.roll_out(&config, Purpose::Startup));
    let exit = match started {
        Ok(()) => parent.main_loop(&mut events, &mut calls).await,
        Err(e) => {
            tracing::error!("{e}");
            Exit::Failure
        }
    };
    parent.tree.shut_down(&parent.links, SHUTDOWN_GRACE).await;
    if matches!(exit, Exit::Failure) {
        leftovers::remove_redirections();
    }
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
    /// The raw ICMP sockets for the hce's `check icmp`, the first time a
    /// configuration has such a check (before it is sent): an hce that
    /// checks no host with ICMP holds no raw socket.
    fn hand_icmp_sockets(&mut self, config: &Config) -> Result<(), ParentError> {
        let wanted = config
            .tables
            .iter()
            .any(|table| table.check == relayd_config::Check::Icmp);
        if self.icmp_handed || !wanted {
            return Ok(());
        }
        self.icmp_handed = true;
        for hce in self.links.of_kind(ProcessKind::Hce) {
            for (family, socket) in sockets::open_icmp_sockets() {
                let message = EngineMessage::Hce(ParentToHce::IcmpSocket(family));
                hce.send(message, Some(socket))?;
            }
        }
        Ok(())
    }

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
            SignalKind::user_defined2(),
        ]
        .map(signal);
        let [Ok(mut sigterm), Ok(mut sigint), Ok(mut sighup), Ok(mut sigchld), Ok(mut sigusr2)] =
            signals
        else {
            tracing::error!("cannot install signal handlers");
            return Exit::Failure;
        };
        loop {
            if self.draining.as_ref().is_some_and(drain::Drain::done) {
                return Exit::Requested;
            }
            let deadline = self.current.as_ref().map(|c| c.rollout.deadline());
            let rotation = self.tickets.next_rotation();
            let drain_end = self.draining.as_ref().map(drain::Drain::deadline);
            tokio::select! {
                _ = sigterm.recv() => return Exit::Requested,
                _ = tokio::time::sleep_until(rotation.unwrap_or_else(tokio::time::Instant::now)),
                    if rotation.is_some() =>
                {
                    if let Err(e) = self.tickets.rotate(&self.links) {
                        tracing::error!("{e}");
                        return Exit::Failure;
                    }
                }
                _ = tokio::time::sleep_until(drain_end.unwrap_or_else(tokio::time::Instant::now)),
                    if drain_end.is_some() =>
                {
                    self.drain_timed_out();
                    return Exit::Requested;
                }
                _ = sigusr2.recv() => {
                    tracing::info!("drain requested with SIGUSR2");
                    if let Err(e) = self.start_drain(None) {
                        tracing::error!("cannot drain: {e}");
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() =>
                {
                    let stuck = self
                        .current
                        .as_ref()
                        .map(|c| c.rollout.waiting())
                        .unwrap_or_default();
                    tracing::error!("{}", ParentError::ConfigTimeout(stuck));
                    return Exit::Failure;
                }
                _ = sigint.recv() => return Exit::Requested,
                _ = sighup.recv() => {
                    tracing::info!("reload requested with SIGHUP");
                    let path = self.options.config_path.clone();
                    if let Err(e) = self.reload(&path) {
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
                    if let Err(e) = self.handle_child_event(event) {
                        tracing::error!("{e}");
                        return Exit::Failure;
                    }
                }
                Some(call) = calls.recv() => {
                    if self.control_call(call) {
                        return Exit::Requested;
                    }
                }
            }
        }
    }

    /// Answers one relayctl request, now or when what it started ends;
    /// `true` when relayd is to stop.
    fn control_call(&mut self, call: ControlCall) -> bool {
        match call.request {
            ControlRequest::ShowSessions => self.start_session_query(call.answer),
            ControlRequest::Reload => {
                tracing::info!("reload requested by relayctl");
                let path = self.options.config_path.clone();
                self.reload_for(&path, call.answer);
            }
            ControlRequest::Load(file) => {
                tracing::info!("load of {file} requested by relayctl");
                self.reload_for(Path::new(&file), call.answer);
            }
            ControlRequest::TableAdd { table, host } => {
                let change = tables::TableChange::Add { table, host };
                self.change_table(change, call.peer_uid, call.answer);
            }
            ControlRequest::TableRemove { table, host } => {
                let change = tables::TableChange::Remove { table, host };
                self.change_table(change, call.peer_uid, call.answer);
            }
            ControlRequest::Drain { seconds } => {
                tracing::info!("drain requested by relayctl");
                let bound = seconds.map(|s| Duration::from_secs(u64::from(s)));
                let reply = match self.start_drain(bound) {
                    Ok(()) => ControlReply::Ok,
                    Err(e) => {
                        tracing::warn!("control command failed: {e}");
                        ControlReply::Failed(e.to_string())
                    }
                };
                let _ = call.answer.send(Answer::Replies(vec![reply]));
            }
            ControlRequest::Shutdown => {
                tracing::info!("shutdown requested by relayctl");
                let _ = call.answer.send(Answer::Replies(vec![ControlReply::Ok]));
                return true;
            }
            request => {
                let answer = self.handle_control(request);
                let _ = call.answer.send(answer);
            }
        }
        false
    }
}
