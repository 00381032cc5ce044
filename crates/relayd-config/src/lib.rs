//! relayd.conf(5) for relayd: read a file (macros, includes, line
//! continuation), parse it with a pest grammar, build the typed [`model`],
//! validate it as the man page requires, and print it back
//! ([`print::print_config`]) in relayd.conf syntax.
//!
//! This crate knows nothing about processes, sockets or the platform: what
//! Linux cannot do is refused by the daemon, not here.
//!
//! Loading goes through these steps, one module each:
//! [`source`] reads the files as relayd's lexer does (`\` continuation,
//! comments, quotes, [`macros`], `include`) into one normalized text that
//! remembers where each byte came from; [`syntax`] cuts it into top-level
//! statements and parses each with the pest grammar (`grammar.pest`);
//! `build*.rs` turn the statements into the [`model`] in file order (with
//! [`resolve`] for addresses and ports); `validate.rs` checks the whole.

mod build;
mod build_protocol;
mod build_service;
pub mod macros;
pub mod model;
pub mod print;
pub mod resolve;
pub mod source;
pub mod syntax;
mod validate;

pub use model::*;
pub use print::print_config;

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
#[derive(Default)]
pub struct LoadOptions<'a> {
    /// `-D name=value`: these win over definitions in the file.
    pub macros: Vec<(String, String)>,
    /// Host name resolution; `None` uses the system resolver.
    pub resolver: Option<&'a Resolver>,
}

/// Loads, parses and validates the configuration file at `path`.
/// Included files are opened as written (relative to the current
/// directory unless absolute).
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read configuration: {e}"),
        }])
    })?;
    parse_str(&text, &name, options)
}

/// Parses and validates configuration `text`, reporting errors against
/// `file_name`. Includes are read from disk.
pub fn parse_str(
    text: &str,
    file_name: &str,
    options: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    let macros = macros::MacroTable::with_command_line(&options.macros).map_err(|message| {
        ConfigErrors(vec![ConfigError {
            file: file_name.to_string(),
            line: 0,
            column: 0,
            message,
        }])
    })?;
    let (src, mut errors) = source::Preprocessor::new(macros).run(text, file_name);
    let parsed = syntax::parse_statements(&src);
    errors.extend(parsed.errors);
    let (config, build_errors, locations) = build::build(
        &src,
        parsed.statements,
        parsed.broken_names,
        options.resolver,
    );
    errors.extend(build_errors);
    if errors.is_empty() {
        errors.extend(validate::validate(&config, &src, &locations));
    }
    if errors.is_empty() {
        return Ok(config);
    }
    // File order: where each error's line appears in the text as read
    // (an included file sits where its `include` is), then column.
    // Bytes of one line sit together: one map entry per run of them, not
    // one hash per byte of the text.
    let mut first_offset = std::collections::HashMap::new();
    let mut previous = None;
    for (offset, loc) in src.locs.iter().enumerate() {
        let line = (loc.file, loc.line);
        if previous != Some(line) {
            first_offset.entry(line).or_insert(offset);
            previous = Some(line);
        }
    }
    let position = |e: &ConfigError| {
        let file = src.files.iter().position(|f| *f == e.file);
        let offset = file.and_then(|file| first_offset.get(&(file, e.line)).copied());
        (offset.unwrap_or(usize::MAX), e.column)
    };
    errors.sort_by_key(position);
    Err(ConfigErrors(errors))
}
