//! `tls ciphers STRING`: OpenSSL-style cipher lists, and libtls's keywords,
//! evaluated over the cipher suites rustls has.
//!
//! The string is read as OpenSSL reads it: terms separated by `:`, `,` or
//! blanks; a term is a suite name or an alias (`HIGH`, `ECDHE`, `AESGCM`,
//! ...), several joined by `+` select what all of them select; a leading
//! `!` removes for good, `-` removes, `+` moves to the end, nothing adds.
//! Suite names are OpenSSL's (`ECDHE-RSA-AES256-GCM-SHA384`), IANA's
//! (`TLS_AES_256_GCM_SHA384`) or LibreSSL's for TLS 1.3
//! (`AEAD-AES256-GCM-SHA384`). As in LibreSSL, where relayd runs, the list
//! also governs the TLS 1.3 suites, and a list that names none of them
//! keeps all of them (so a TLS 1.2-era list does not switch TLS 1.3 off).

use rustls::crypto::aws_lc_rs::cipher_suite as suite;
use rustls::SupportedCipherSuite;

/// relayd's default (`TLSCIPHERS_DEFAULT`).
pub const DEFAULT_CIPHERS: &str = "HIGH:!aNULL";

/// One suite rustls has, with the names and aliases that select it.
struct Known {
    suite: SupportedCipherSuite,
    names: &'static [&'static str],
    aliases: &'static [&'static str],
    bits: u16,
}

/// Aliases every suite here belongs to: all are AEAD, forward secret and
/// HIGH strength.
const COMMON: &[&str] = &["ALL", "DEFAULT", "HIGH", "AEAD"];

/// In OpenSSL's order of preference for `HIGH` (strongest first, ECDSA
/// before RSA), TLS 1.3 first as LibreSSL lists them.
fn known() -> [Known; 9] {
    [
        Known {
            suite: suite::TLS13_AES_256_GCM_SHA384,
            names: &["TLS_AES_256_GCM_SHA384", "AEAD-AES256-GCM-SHA384"],
            aliases: &["TLSv1.3", "AES", "AES256", "AESGCM", "SHA384"],
            bits: 256,
        },
        Known {
            suite: suite::TLS13_CHACHA20_POLY1305_SHA256,
            names: &[
                "TLS_CHACHA20_POLY1305_SHA256",
                "AEAD-CHACHA20-POLY1305-SHA256",
            ],
            aliases: &["TLSv1.3", "CHACHA20", "SHA256"],
            bits: 256,
        },
        Known {
            suite: suite::TLS13_AES_128_GCM_SHA256,
            names: &["TLS_AES_128_GCM_SHA256", "AEAD-AES128-GCM-SHA256"],
            aliases: &["TLSv1.3", "AES", "AES128", "AESGCM", "SHA256"],
            bits: 128,
        },
        Known {
            suite: suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            names: &[
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            ],
            aliases: &[
                "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "aECDSA", "ECDSA", "AES",
                "AES256", "AESGCM", "SHA384",
            ],
            bits: 256,
        },
        Known {
            suite: suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            names: &[
                "ECDHE-RSA-AES256-GCM-SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            ],
            aliases: &[
                "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "aRSA", "AES", "AES256",
                "AESGCM", "SHA384",
            ],
            bits: 256,
        },
        Known {
            suite: suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            names: &[
                "ECDHE-ECDSA-CHACHA20-POLY1305",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            ],
            aliases: &[
                "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "aECDSA", "ECDSA",
                "CHACHA20", "SHA256",
            ],
            bits: 256,
        },
        Known {
            suite: suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            names: &[
                "ECDHE-RSA-CHACHA20-POLY1305",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ],
            aliases: &[
                "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "aRSA", "CHACHA20",
                "SHA256",
            ],
            bits: 256,
        },
        Known {
            suite: suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            names: &[
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ],
            aliases: &[
                "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "aECDSA", "ECDSA", "AES",
                "AES128", "AESGCM", "SHA256",
            ],
            bits: 128,
        },
        Known {
            suite: suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            names: &[
                "ECDHE-RSA-AES128-GCM-SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            ],
            aliases: &[
                "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "aRSA", "AES", "AES128",
                "AESGCM", "SHA256",
            ],
            bits: 128,
        },
    ]
}

impl Known {
    fn is_tls13(&self) -> bool {
        matches!(self.suite, SupportedCipherSuite::Tls13(_))
    }

    /// Selected by one word of a term (case matters, as in OpenSSL).
    fn selected_by(&self, word: &str) -> bool {
        self.names.contains(&word) || self.aliases.contains(&word) || COMMON.contains(&word)
    }
}

/// libtls's keywords (`tls_config_set_ciphers`), as the lists they stand for.
fn libtls_keyword(ciphers: &str) -> Option<&'static str> {
    match ciphers.to_ascii_lowercase().as_str() {
        "secure" | "default" => Some("TLSv1.3:TLSv1.2+AEAD+ECDHE:TLSv1.2+AEAD+DHE"),
        "compat" => Some("HIGH:!aNULL"),
        "legacy" => Some("HIGH:MEDIUM:!aNULL"),
        "insecure" | "all" => Some("ALL:!aNULL:!eNULL"),
        _ => None,
    }
}

/// The suites a cipher string selects, in order of preference.
#[derive(Debug)]
pub struct CipherSelection {
    pub suites: Vec<SupportedCipherSuite>,
    /// Terms that add suites but match none rustls has (`DHE-RSA-...`,
    /// `MEDIUM`, `CAMELLIA`), for a warning. Empty for libtls keywords,
    /// whose lists are libtls's own.
    pub unmatched: Vec<String>,
}

/// Why a cipher string cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("\"{0}\" selects no cipher suite rustls has (it has ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2, and the three TLS 1.3 suites)")]
    NothingSelected(String),
}

/// Evaluates `ciphers` (relayd's `tls ciphers`).
pub fn select(ciphers: &str) -> Result<CipherSelection, CipherError> {
    let (list, keyword) = match libtls_keyword(ciphers) {
        Some(list) => (list, true),
        None => (ciphers, false),
    };
    let known = known();
    let mut active: Vec<usize> = Vec::new();
    let mut banned: Vec<usize> = Vec::new();
    let mut unmatched = Vec::new();
    let mut named_tls13 = false;
    let terms = list
        .split([':', ',', ' ', '\t'])
        .filter(|term| !term.is_empty());
    for term in terms {
        if term.starts_with('@') {
            if term == "@STRENGTH" {
                active.sort_by_key(|&i| std::cmp::Reverse(known[i].bits));
            }
            // @SECLEVEL=n and the like: every suite here passes any level.
            continue;
        }
        let (op, words) = match term.as_bytes()[0] {
            b'!' | b'-' | b'+' => (term.as_bytes()[0], &term[1..]),
            _ => (b' ', term),
        };
        let matching: Vec<usize> = (0..known.len())
            .filter(|&i| words.split('+').all(|word| known[i].selected_by(word)))
            .collect();
        match op {
            b'!' => {
                active.retain(|i| !matching.contains(i));
                banned.extend(&matching);
            }
            b'-' => active.retain(|i| !matching.contains(i)),
            b'+' => {
                let (moved, kept): (Vec<usize>, Vec<usize>) =
                    active.iter().partition(|i| matching.contains(i));
                active = kept;
                active.extend(moved);
            }
            _ => {
                if matching.is_empty() {
                    unmatched.push(term.to_string());
                }
                named_tls13 |= matching.iter().any(|&i| known[i].is_tls13());
                for i in matching {
                    if !active.contains(&i) && !banned.contains(&i) {
                        active.push(i);
                    }
                }
            }
        }
    }
    if active.is_empty() {
        return Err(CipherError::NothingSelected(ciphers.to_string()));
    }
    if !named_tls13 {
        let tls13 = (0..known.len()).filter(|&i| known[i].is_tls13() && !banned.contains(&i));
        let mut with_tls13: Vec<usize> = tls13.collect();
        with_tls13.extend(active);
        active = with_tls13;
    }
    Ok(CipherSelection {
        suites: active.into_iter().map(|i| known[i].suite).collect(),
        unmatched: if keyword { Vec::new() } else { unmatched },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    fn names(ciphers: &str) -> Vec<CipherSuite> {
        select(ciphers)
            .unwrap_or_else(|e| panic!("{ciphers}: {e}"))
            .suites
            .iter()
            .map(|s| s.suite())
            .collect()
    }

    #[test]
    fn relayds_default_selects_every_suite_strongest_first() {
        let suites = names(DEFAULT_CIPHERS);
        assert_eq!(suites.len(), 9);
        assert_eq!(suites[0], CipherSuite::TLS13_AES_256_GCM_SHA384);
        assert_eq!(
            suites[3],
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        );
        assert_eq!(
            suites[8],
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn libtls_keywords_are_their_lists() {
        for keyword in ["secure", "default", "compat", "legacy", "all", "insecure"] {
            let selection = select(keyword).unwrap();
            assert_eq!(selection.suites.len(), 9, "{keyword}");
            assert!(selection.unmatched.is_empty(), "{keyword}");
        }
    }

    #[test]
    fn names_select_in_the_order_written_with_tls13_kept() {
        let suites = names("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256");
        assert_eq!(
            suites,
            [
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ]
        );
    }

    #[test]
    fn naming_a_tls13_suite_governs_tls13_too() {
        let suites = names("TLS_CHACHA20_POLY1305_SHA256,ECDHE-ECDSA-AES256-GCM-SHA384");
        assert_eq!(
            suites,
            [
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            ]
        );
        assert_eq!(
            names("AEAD-AES128-GCM-SHA256"),
            [CipherSuite::TLS13_AES_128_GCM_SHA256]
        );
    }

    #[test]
    fn operators_remove_ban_and_move() {
        // Plus joins aliases; ! bans for good; - removes until added again.
        let suites = names("ECDHE+AESGCM:!AES128:-aECDSA:ECDSA+AES256:TLSv1.3:+TLSv1.3");
        assert_eq!(
            suites,
            [
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            ]
        );
        let suites = names("CHACHA20:AESGCM:@STRENGTH");
        assert_eq!(
            suites.last(),
            Some(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        );
    }

    #[test]
    fn terms_rustls_cannot_serve_are_reported() {
        let selection =
            select("ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:MEDIUM:!RC4").unwrap();
        assert_eq!(selection.unmatched, ["DHE-RSA-AES256-GCM-SHA384", "MEDIUM"]);
    }

    #[test]
    fn a_string_that_selects_nothing_is_an_error_naming_it() {
        for ciphers in [
            "AES256-SHA:DHE-RSA-AES128-SHA",
            "RC4",
            "HIGH:!ALL",
            "",
            "aNULL",
        ] {
            assert_eq!(
                select(ciphers).unwrap_err(),
                CipherError::NothingSelected(ciphers.to_string())
            );
        }
        let message = select("DHE-RSA-AES256-SHA").unwrap_err().to_string();
        assert!(message.contains("\"DHE-RSA-AES256-SHA\""), "{message}");
    }
}
