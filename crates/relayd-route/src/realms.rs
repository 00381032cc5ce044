//! `rtlabel` on Linux: OpenBSD attaches a route label that pf rules can
//! match; the closest Linux has is the route's realm (a number that
//! nftables matches with `meta rtclassid` and iptables with `-m realm`).
//! A label is a realm named in iproute2's `rt_realms` file, or a realm
//! number. The names are read where the file can be read (the parent, at
//! load); the numbers travel with the [`crate::RoutePlan`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where iproute2 looks for realm names: the first file that exists
/// (newer iproute2 keeps its defaults under /usr/share and lets /etc
/// override them).
pub const REALMS_FILES: [&str; 2] = ["/etc/iproute2/rt_realms", "/usr/share/iproute2/rt_realms"];

/// The highest realm iproute2 names or accepts as a number.
pub const MAX_REALM: u16 = 255;

/// Realm names, as an `rt_realms` file gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Realms {
    names: BTreeMap<String, u16>,
    /// The file the names came from, for error messages; `None` when no
    /// file was found.
    file: Option<PathBuf>,
}

/// Why a `rtlabel` names no realm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("rtlabel {label:?} is no realm {}: add a line \"NUMBER {label}\" there (NUMBER 1 to {MAX_REALM}), or write the number", where_named(.file))]
    Unknown {
        label: String,
        file: Option<PathBuf>,
    },
    #[error("rtlabel {label:?} is realm 0, which marks a route without a realm")]
    Zero { label: String },
    #[error("rtlabel {label:?} is past the highest realm, {MAX_REALM}")]
    OutOfRange { label: String },
}

fn where_named(file: &Option<PathBuf>) -> String {
    match file {
        Some(file) => format!("named in {}", file.display()),
        None => format!("name (none of {} exists)", REALMS_FILES.join(", ")),
    }
}

/// A realms file exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("read {}: {source}", .file.display())]
pub struct RealmsFileError {
    pub file: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Realms {
    /// Reads the names of the first of [`REALMS_FILES`] that exists; no
    /// names when none does (numbers still work).
    pub fn load_system() -> Result<Realms, RealmsFileError> {
        for file in REALMS_FILES {
            match std::fs::read_to_string(file) {
                Ok(text) => return Ok(Realms::parse(&text, Some(Path::new(file)))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(RealmsFileError {
                        file: PathBuf::from(file),
                        source,
                    })
                }
            }
        }
        Ok(Realms::default())
    }

    /// The names of an `rt_realms` text: `NUMBER NAME` lines, `#` comments.
    /// Lines iproute2 would not read either are skipped.
    pub fn parse(text: &str, file: Option<&Path>) -> Realms {
        let mut names = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let (Some(number), Some(name), None) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            if let Some(realm) = parse_number(number).filter(|&n| n <= MAX_REALM) {
                names.insert(name.to_string(), realm);
            }
        }
        Realms {
            names,
            file: file.map(Path::to_path_buf),
        }
    }

    /// The realm a `rtlabel` stands for: a name of the file, else a
    /// number; never 0.
    pub fn resolve(&self, label: &str) -> Result<u16, LabelError> {
        let realm = match self.names.get(label) {
            Some(&realm) => realm,
            None => match parse_number(label) {
                Some(realm) if realm <= MAX_REALM => realm,
                Some(_) => {
                    return Err(LabelError::OutOfRange {
                        label: label.to_string(),
                    })
                }
                None => {
                    return Err(LabelError::Unknown {
                        label: label.to_string(),
                        file: self.file.clone(),
                    })
                }
            },
        };
        if realm == 0 {
            return Err(LabelError::Zero {
                label: label.to_string(),
            });
        }
        Ok(realm)
    }
}

/// A decimal or `0x` hexadecimal number, as iproute2 reads them; `None`
/// for anything else (or past u16).
fn parse_number(word: &str) -> Option<u16> {
    match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => word.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "#\n# reserved values\n#\n0\tcosmos\n#\n# local\n#\n\
                        5\tuplink # the ISP\n0x10 backup\n300 toolarge\nbroken\n1 2 3\n#6 commented\n";

    fn realms() -> Realms {
        Realms::parse(FILE, Some(Path::new("/etc/iproute2/rt_realms")))
    }

    #[test]
    fn names_of_the_file_resolve_to_their_numbers() {
        assert_eq!(realms().resolve("uplink"), Ok(5));
        assert_eq!(realms().resolve("backup"), Ok(16));
    }

    #[test]
    fn numbers_stand_for_themselves() {
        assert_eq!(realms().resolve("7"), Ok(7));
        assert_eq!(realms().resolve("0x2a"), Ok(42));
        assert_eq!(realms().resolve("255"), Ok(255));
    }

    #[test]
    fn unknown_names_say_where_to_name_them() {
        let error = realms().resolve("commented").expect_err("not named");
        assert_eq!(
            error.to_string(),
            "rtlabel \"commented\" is no realm named in /etc/iproute2/rt_realms: \
             add a line \"NUMBER commented\" there (NUMBER 1 to 255), or write the number"
        );
        assert!(matches!(
            Realms::default().resolve("uplink"),
            Err(LabelError::Unknown { file: None, .. })
        ));
        assert!(realms().resolve("toolarge").is_err());
    }

    #[test]
    fn realm_zero_and_numbers_past_255_are_refused() {
        assert!(matches!(
            realms().resolve("cosmos"),
            Err(LabelError::Zero { .. })
        ));
        assert!(matches!(
            realms().resolve("0"),
            Err(LabelError::Zero { .. })
        ));
        assert!(matches!(
            realms().resolve("256"),
            Err(LabelError::OutOfRange { .. })
        ));
    }
}
