//! `url digest KEY`: the key is the SHA-1 (40 hex digits) or MD5 (32 hex
//! digits) digest of one URL lookup string, such as
//! `www.example.com/private/`, so a block list can name URLs without
//! spelling them out.

use md5::Md5;
use sha1::{Digest, Sha1};

/// Whether `key` is the digest of `lookup`. The key's length picks the
/// algorithm; hex digits compare case-insensitively, as relayd's
/// `strcasecmp` does. A key of any other length never matches (the config
/// parser refuses such keys already).
pub fn matches(key: &str, lookup: &str) -> bool {
    match hex_digest(key.len(), lookup) {
        Some(digest) => digest.eq_ignore_ascii_case(key),
        None => false,
    }
}

/// The lower-case hex digest of `text` with the algorithm whose hex form is
/// `hex_len` long: 40 for SHA-1, 32 for MD5.
fn hex_digest(hex_len: usize, text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let raw: Vec<u8> = match hex_len {
        40 => Sha1::digest(bytes).to_vec(),
        32 => Md5::digest(bytes).to_vec(),
        _ => return None,
    };
    Some(raw.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::matches;

    // sha1 and md5 of "www.example.com/private/", from sha1sum and md5sum.
    const SHA1: &str = "b7c8285042e9f951077c121a909f43a5ac322c60";
    const MD5: &str = "58164e72968eaed8e55e1a127c35ba6c";

    #[test]
    fn sha1_and_md5_keys_match_the_digest_of_the_lookup() {
        assert!(matches(SHA1, "www.example.com/private/"));
        assert!(matches(MD5, "www.example.com/private/"));
        assert!(matches(
            &SHA1.to_ascii_uppercase(),
            "www.example.com/private/"
        ));
        assert!(!matches(SHA1, "www.example.com/private"));
        assert!(!matches(MD5, "example.com/private/"));
    }

    #[test]
    fn keys_of_other_lengths_never_match() {
        assert!(!matches("", ""));
        assert!(!matches(&SHA1[..39], "www.example.com/private/"));
    }
}
