//! relayd(8): the entry point. Parses the command line, then either checks
//! the configuration (`-n`) or starts the parent process.

use clap::Parser;
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
}

fn parse_macro(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("could not parse macro definition {s}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = relayd_config::LoadOptions {
        macros: args.defines.clone(),
        resolver: None,
    };
    let config = match relayd_config::load_file(&args.file, &options) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("relayd: no valid configuration in {}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    if args.check_only {
        if args.verbose > 0 {
            print!("{}", relayd_config::print_config(&config));
        }
        eprintln!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let _ = args.foreground;
    eprintln!("relayd: the daemon is not implemented yet");
    ExitCode::FAILURE
}
