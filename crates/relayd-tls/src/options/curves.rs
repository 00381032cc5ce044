//! `tls ecdhe CURVES`: libtls's curve list -> rustls key-exchange groups.
//!
//! libtls reads a comma-separated list of curve names (NIST or SECG
//! spelling), or `default`/`secure` (and the older `auto`) for its own list.
//! Here the default is rustls' own, which leads with the post-quantum hybrid
//! X25519MLKEM768 before libtls's X25519, P-256 and P-384.

use rustls::crypto::aws_lc_rs::{kx_group, DEFAULT_KX_GROUPS};
use rustls::crypto::SupportedKxGroup;

/// relayd's default (`TLSECDHECURVES_DEFAULT`).
pub const DEFAULT_CURVES: &str = "default";

#[derive(Debug)]
pub struct CurveSelection {
    pub groups: Vec<&'static dyn SupportedKxGroup>,
    /// Curves libtls knows that rustls has not (P-521, ...), for a warning.
    pub unsupported: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CurveError {
    #[error("unknown curve {0} (expected X25519, P-256, P-384, X25519MLKEM768, or default)")]
    Unknown(String),
    #[error("\"{0}\" names no curve rustls has (X25519, P-256, P-384, X25519MLKEM768)")]
    NothingSelected(String),
}

/// Curves libtls accepts that have no rustls group.
const WITHOUT_GROUP: &[&str] = &[
    "P-521",
    "secp521r1",
    "P-224",
    "secp224r1",
    "X448",
    "brainpoolP256r1",
    "brainpoolP384r1",
    "brainpoolP512r1",
    "secp256k1",
];

fn group(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    match name {
        "X25519" | "x25519" => Some(kx_group::X25519),
        "P-256" | "prime256v1" | "secp256r1" => Some(kx_group::SECP256R1),
        "P-384" | "secp384r1" => Some(kx_group::SECP384R1),
        "X25519MLKEM768" => Some(kx_group::X25519MLKEM768),
        _ => None,
    }
}

/// Evaluates `curves` (relayd's `tls ecdhe`).
pub fn select(curves: &str) -> Result<CurveSelection, CurveError> {
    if matches!(
        curves.to_ascii_lowercase().as_str(),
        "default" | "secure" | "auto"
    ) {
        return Ok(CurveSelection {
            groups: DEFAULT_KX_GROUPS.to_vec(),
            unsupported: Vec::new(),
        });
    }
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut unsupported = Vec::new();
    for name in curves.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match group(name) {
            Some(g) if !groups.iter().any(|known| known.name() == g.name()) => groups.push(g),
            Some(_) => {}
            None if WITHOUT_GROUP.iter().any(|c| c.eq_ignore_ascii_case(name)) => {
                unsupported.push(name.to_string())
            }
            None => return Err(CurveError::Unknown(name.to_string())),
        }
    }
    if groups.is_empty() {
        return Err(CurveError::NothingSelected(curves.to_string()));
    }
    Ok(CurveSelection {
        groups,
        unsupported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::NamedGroup;

    fn names(curves: &str) -> Vec<NamedGroup> {
        select(curves)
            .unwrap()
            .groups
            .iter()
            .map(|g| g.name())
            .collect()
    }

    #[test]
    fn default_spellings_are_rustls_defaults() {
        for spelling in ["default", "auto", "secure", "DEFAULT"] {
            assert_eq!(names(spelling)[0], NamedGroup::X25519MLKEM768, "{spelling}");
            assert!(names(spelling).contains(&NamedGroup::secp384r1));
        }
    }

    #[test]
    fn nist_and_secg_names_in_order() {
        assert_eq!(
            names("P-384,prime256v1, X25519"),
            [
                NamedGroup::secp384r1,
                NamedGroup::secp256r1,
                NamedGroup::X25519
            ]
        );
        assert_eq!(names("secp384r1,P-384"), [NamedGroup::secp384r1]);
    }

    #[test]
    fn curves_rustls_lacks_are_reported_or_refused() {
        let selection = select("P-521,X25519").unwrap();
        assert_eq!(selection.unsupported, ["P-521"]);
        assert_eq!(
            select("secp521r1").unwrap_err(),
            CurveError::NothingSelected("secp521r1".into())
        );
        assert_eq!(
            select("X25519,P-999").unwrap_err(),
            CurveError::Unknown("P-999".into())
        );
    }
}
