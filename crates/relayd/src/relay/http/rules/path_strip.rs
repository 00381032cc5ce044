//! `path strip N`: drops leading directories from the request path before
//! the request goes to the backend, the way relayd's `server_root_strip`
//! does.

/// The path without its first `count` directories. The last component
/// (the part after the last `/`) always stays, so stripping more
/// directories than the path has leaves that last component with its
/// leading `/`: `/a/b` stripped by 5 is `/b`, `/a/b/` is `/`. The query is
/// not part of `path` and is left alone by the caller.
pub fn strip_path(path: &str, count: u32) -> String {
    let mut rest = path;
    for _ in 0..count {
        // Skip the `/` (or whatever single character) the rest starts with,
        // then jump to the next `/`.
        let Some(first) = rest.chars().next() else {
            break;
        };
        match rest[first.len_utf8()..].find('/') {
            Some(at) => rest = &rest[first.len_utf8() + at..],
            None => break,
        }
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::strip_path;

    #[test]
    fn leading_directories_go() {
        assert_eq!(strip_path("/api/v1/users", 1), "/v1/users");
        assert_eq!(strip_path("/api/v1/users", 2), "/users");
        assert_eq!(strip_path("/api/v1/", 1), "/v1/");
        assert_eq!(strip_path("/api/v1/", 2), "/");
    }

    #[test]
    fn zero_keeps_the_path() {
        assert_eq!(strip_path("/api/v1/users", 0), "/api/v1/users");
    }

    #[test]
    fn the_last_component_survives_a_count_larger_than_the_path() {
        assert_eq!(strip_path("/api/v1/users", 3), "/users");
        assert_eq!(strip_path("/api/v1/users", 100), "/users");
        assert_eq!(strip_path("/api/v1/", 100), "/");
        assert_eq!(strip_path("/file", 1), "/file");
    }

    #[test]
    fn root_empty_and_odd_paths_stay_whole() {
        assert_eq!(strip_path("/", 1), "/");
        assert_eq!(strip_path("", 3), "");
        assert_eq!(strip_path("*", 1), "*");
        assert_eq!(strip_path("//x", 1), "/x");
        assert_eq!(strip_path("/é/ü", 1), "/ü");
    }
}
