//! relayd.conf(5) for relayd: read a file (macros, includes, line
//! continuation), parse it with a pest grammar, build the typed [`model`],
//! validate it as the man page requires, and print it back
//! ([`print::print_config`]) in relayd.conf syntax.
//!
//! This crate knows nothing about processes, sockets or the platform: what
//! Linux cannot do is refused by the daemon, not here.

pub mod model;

pub use model::*;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

/// One problem in a configuration, located as `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// All the problems found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Turns a host name into addresses at load time.
pub type Resolver = dyn Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync;

/// How to load a configuration.
pub struct LoadOptions<'a> {
    /// `-D name=value`: these win over definitions in the file.
    pub macros: Vec<(String, String)>,
    /// Host name resolution; `None` uses the system resolver.
    pub resolver: Option<&'a Resolver>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            macros: Vec::new(),
            resolver: None,
        }
    }
}

/// Loads, parses and validates the configuration file at `path`.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let _ = (path, options);
    Err(ConfigErrors(vec![ConfigError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        message: "parser not implemented yet".into(),
    }]))
}

/// Prints `config` back in relayd.conf(5) syntax; parsing the output gives
/// the same [`Config`].
pub fn print_config(config: &Config) -> String {
    format!(
        "# {} tables, {} relays\n",
        config.tables.len(),
        config.relays.len()
    )
}
