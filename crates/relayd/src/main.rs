//! relayd(8): the entry point. Parses the command line, then either checks
//! the configuration (`-n`), starts the parent process, or (with the
//! internal `-P name -I instance` the parent passes) runs one child engine.
//!
//! Environment: `RELAYD_CHROOT` and `RELAYD_USER` change the children's
//! chroot directory and user (see `privsep`).

mod ca;
mod child;
mod control;
mod daemonize;
mod engine;
mod hce;
mod joined;
mod log;
mod metrics;
mod parent;
mod pfe;
mod privsep;
mod proc;
mod procs;
mod relay;
mod same_host;
mod sandbox;

use clap::Parser;
use relayd_proto::ProcessKind;
use std::path::PathBuf;
use std::process::ExitCode;

/// Command line of relayd(8): `relayd [-dnv] [-D macro=value] [-f file]`.
#[derive(Parser, Debug)]
#[command(name = "relayd", about = "relay daemon", disable_version_flag = true)]
struct Args {
    /// Do not daemonize; log to stderr.
    #[arg(short = 'd')]
    foreground: bool,
    /// Only check the configuration file for validity.
    #[arg(short = 'n')]
    check_only: bool,
    /// Verbose output; with -n, print the parsed configuration.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Define a macro, overriding a definition in the file.
    #[arg(short = 'D', value_name = "macro=value", value_parser = parse_macro)]
    defines: Vec<(String, String)>,
    /// Configuration file.
    #[arg(short = 'f', value_name = "file", default_value = "/etc/relayd.conf")]
    file: PathBuf,
    /// Internal: run as this child process (hce, pfe, relay, ca).
    #[arg(short = 'P', value_name = "name", hide = true)]
    process: Option<String>,
    /// Internal: instance number of the child process, from 0.
    #[arg(short = 'I', value_name = "instance", hide = true, default_value_t = 0)]
    instance: u32,
}

/// A `-D` argument that is not `name=value`.
#[derive(Debug, thiserror::Error)]
#[error("could not parse macro definition {0}")]
struct BadMacro(String);

fn parse_macro(s: &str) -> Result<(String, String), BadMacro> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(BadMacro(s.to_string())),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(name) = &args.process {
        return match ProcessKind::from_title(name) {
            Some(kind) if kind != ProcessKind::Parent => {
                child::run(kind, args.instance, args.foreground, args.verbose)
            }
            _ => {
                eprintln!("relayd: unknown process {name}");
                ExitCode::FAILURE
            }
        };
    }
    let loaded = match parent::load_config(&args.file, &args.defines) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("relayd: no valid configuration in {}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    if args.check_only {
        // The daemon's parent never reads a private key (the ca processes
        // do); this process is gone once it answers.
        if let Err(problems) = parent::check_key_files(&loaded.config) {
            eprintln!("{problems}");
            eprintln!("relayd: no valid configuration in {}", args.file.display());
            return ExitCode::FAILURE;
        }
        for warning in &loaded.warnings {
            eprintln!("{warning}");
        }
        if args.verbose > 0 {
            print!("{}", relayd_config::print_config(&loaded.config));
        }
        eprintln!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let config_path = match std::path::absolute(&args.file) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("relayd: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let options = parent::ParentOptions {
        config_path,
        macros: args.defines,
        foreground: args.foreground,
        verbosity: args.verbose,
    };
    parent::run(options, loaded)
}
