//! relayctl's options, getopt style: `-s socket`, `-j`/`--json`; the
//! first word that is not an option starts the command.

use relayd_config::DEFAULT_SOCKET;

pub const USAGE: &str = "usage: relayctl [-j] [-s socket] command [argument ...]";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub socket: String,
    pub json: bool,
    /// The command words.
    pub words: Vec<String>,
}

/// Parses the arguments after the program name; `Err` means print usage.
pub fn parse_options<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut options = Options {
        socket: DEFAULT_SOCKET.to_string(),
        json: false,
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
                's' => {
                    let rest = &flags[at + 1..];
                    options.socket = if rest.is_empty() {
                        args.next().ok_or("option requires an argument -- s")?
                    } else {
                        rest.to_string()
                    };
                    break;
                }
                other => return Err(format!("unknown option -- {other}")),
            }
        }
    }
    options.words.extend(args);
    Ok(options)
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
    }
}
