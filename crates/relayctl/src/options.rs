//! relayctl's options, getopt style: `-s socket`, `-t seconds`,
//! `-j`/`--json`; the first word that is not an option starts the command.

use relayd_config::DEFAULT_SOCKET;
use std::time::Duration;

pub const USAGE: &str = "usage: relayctl [-j] [-s socket] [-t seconds] command [argument ...]";

/// How long relayctl waits for relayd by default (`-t`): more than a
/// reload may take (every child has 30 s to answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub socket: String,
    pub json: bool,
    /// How long to wait for each answer from relayd; `None`: for ever
    /// (`-t 0`). `monitor` waits only for the greeting.
    pub timeout: Option<Duration>,
    /// The command words.
    pub words: Vec<String>,
}

/// Parses the arguments after the program name; `Err` means print usage.
pub fn parse_options<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut options = Options {
        socket: DEFAULT_SOCKET.to_string(),
        json: false,
        timeout: Some(DEFAULT_TIMEOUT),
        words: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--json" {
            options.json = true;
            continue;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            options.words.push(arg);
            break;
        };
        for (at, flag) in flags.char_indices() {
            match flag {
                'j' => options.json = true,
                's' | 't' => {
                    let rest = &flags[at + 1..];
                    let value = if rest.is_empty() {
                        args.next()
                            .ok_or(format!("option requires an argument -- {flag}"))?
                    } else {
                        rest.to_string()
                    };
                    if flag == 's' {
                        options.socket = value;
                    } else {
                        options.timeout = parse_timeout(&value)?;
                    }
                    break;
                }
                other => return Err(format!("unknown option -- {other}")),
            }
        }
    }
    options.words.extend(args);
    Ok(options)
}

/// `-t`'s whole seconds; 0 waits for ever.
fn parse_timeout(value: &str) -> Result<Option<Duration>, String> {
    match value.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(seconds) if seconds <= 86_400 => Ok(Some(Duration::from_secs(seconds))),
        _ => Err(format!(
            "-t {value}: the timeout is whole seconds from 0 (none) to 86400"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Options, String> {
        parse_options(line.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse("show summary").unwrap();
        assert_eq!((o.socket.as_str(), o.json), (DEFAULT_SOCKET, false));
        assert_eq!(o.words, ["show", "summary"]);
        let o = parse("-s /tmp/r.sock -j sh h").unwrap();
        assert_eq!((o.socket.as_str(), o.json), ("/tmp/r.sock", true));
        assert_eq!(o.words, ["sh", "h"]);
        let o = parse("-js/tmp/x --json poll").unwrap();
        assert_eq!((o.socket.as_str(), o.json), ("/tmp/x", true));
        assert_eq!(o.words, ["poll"]);
    }

    #[test]
    fn options_stop_at_the_first_word() {
        let o = parse("host disable -j").unwrap();
        assert!(!o.json);
        assert_eq!(o.words, ["host", "disable", "-j"]);
        let o = parse("-- -weird").unwrap();
        assert_eq!(o.words, ["-weird"]);
    }

    #[test]
    fn bad_options() {
        assert!(parse("-x show").is_err());
        assert!(parse("-s").is_err());
        assert!(parse("-t").is_err());
        assert!(parse("-t soon show summary").is_err());
        assert!(parse("-t -1 show summary").is_err());
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            parse("show summary").unwrap().timeout,
            Some(DEFAULT_TIMEOUT)
        );
        let o = parse("-t 5 show summary").unwrap();
        assert_eq!(o.timeout, Some(Duration::from_secs(5)));
        assert_eq!(o.words, ["show", "summary"]);
        assert_eq!(parse("-jt0 monitor").unwrap().timeout, None);
    }
}
