//! The one rule that turns a configured base URL and a path into the URL
//! called, for the auth base and the API base alike.
//!
//! `Url::join` would drop a base's last path segment unless it ends in a
//! slash (`https://host/tenant` + `oauth/token` = `https://host/oauth/token`),
//! so an operator's path prefix would silently vanish. Segments are appended
//! instead: the prefix is kept with or without a trailing slash.

use url::Url;

/// `base` with `segments` appended to its path, each percent-encoded.
pub fn endpoint<S: AsRef<str>>(base: &Url, segments: &[S]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("an http(s) base URL has path segments")
        .pop_if_empty()
        .extend(segments.iter().map(AsRef::as_ref));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_prefix_is_kept_with_or_without_a_trailing_slash() {
        for base in [
            "https://host/tenant",
            "https://host/tenant/",
            "https://host/tenant//",
        ] {
            let base = Url::parse(base).unwrap();
            let url = endpoint(&base, &["oauth", "token"]);
            assert!(
                url.as_str() == "https://host/tenant/oauth/token"
                    || url.as_str() == "https://host/tenant//oauth/token",
                "{base} -> {url}"
            );
        }
        for base in ["https://host", "https://host/"] {
            let url = endpoint(&Url::parse(base).unwrap(), &["oauth", "token"]);
            assert_eq!(url.as_str(), "https://host/oauth/token");
        }
    }

    #[test]
    fn segments_are_encoded() {
        let base = Url::parse("https://host/api").unwrap();
        let url = endpoint(&base, &["agent", "a/1 b"]);
        assert_eq!(url.as_str(), "https://host/api/agent/a%2F1%20b");
    }
}
