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

/// `url` fit for a message: no user name or password, and every query
/// value hidden (chat webhooks and some proxies carry keys there).
pub fn shown(url: &Url) -> String {
    let mut safe = url.clone();
    let _ = safe.set_username("");
    let _ = safe.set_password(None);
    if safe.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| format!("{k}=…")).collect();
        safe.set_query(Some(&keys.join("&")));
    }
    safe.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_has_no_credentials_and_no_query_values() {
        let url = Url::parse("https://user:pw-9876@host:8443/tenant/oauth/token?key=sk-12345&x=1")
            .unwrap();
        let text = shown(&url);
        assert!(
            !text.contains("pw-9876") && !text.contains("user") && !text.contains("sk-12345"),
            "{text}"
        );
        assert!(
            text.starts_with("https://host:8443/tenant/oauth/token?key="),
            "{text}"
        );
    }

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
