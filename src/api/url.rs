//! The one rule that turns a configured base URL and a path into the URL
//! called, for the auth base and the API base alike.
//!
//! `Url::join` would drop a base's last path segment unless it ends in a
//! slash (`https://host/tenant` + `oauth/token` = `https://host/oauth/token`),
//! so an operator's path prefix would silently vanish. Segments are appended
//! instead: the prefix is kept with or without a trailing slash.

use url::Url;

/// Whether a host name (as a URL or a `Host` header gives it, brackets
/// around an IPv6 address allowed, no port) names this machine's loopback:
/// `localhost`, an address of 127.0.0.0/8, `::1`. The one test of it for
/// the warnings about clear text and the admin endpoint's Host check.
pub fn is_loopback_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `base` with `segments` appended to its path, each percent-encoded.
pub fn endpoint<S: AsRef<str>>(base: &Url, segments: &[S]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("an http(s) base URL has path segments")
        .pop_if_empty()
        .extend(segments.iter().map(AsRef::as_ref));
    url
}

/// `url` fit for a message: no user name or password, every query value
/// hidden (chat webhooks and some proxies carry keys there), no fragment.
pub fn shown(url: &Url) -> String {
    let mut safe = url.clone();
    let _ = safe.set_username("");
    let _ = safe.set_password(None);
    safe.set_fragment(None);
    safe.set_query(None);
    let mut out = safe.to_string();
    if let Some(query) = url.query() {
        out.push('?');
        out.push_str(&query_names(query));
    }
    out
}

/// `a=1&b=2&c` as `a=…&b=…&…`: the names, as written, without the values.
fn query_names(query: &str) -> String {
    let names: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=…"),
            None => "…".to_owned(),
        })
        .collect();
    names.join("&")
}

/// Configured text meant as a URL, fit for a message whether or not it
/// parses, and as the operator wrote it: never the parser's normal form
/// (which adds a `/` the file does not have), so that it can be found in
/// the file. Whatever precedes an `@` in its host part, every query value
/// and any fragment are left out.
pub fn shown_text(text: &str) -> String {
    let text = text.split('#').next().unwrap_or_default();
    let (address, query) = match text.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (text, None),
    };
    let authority_at = address.find("://").map_or(0, |at| at + 3);
    // A backslash ends the host part too: the parser reads it as `/`.
    let authority_end = address[authority_at..]
        .find(['/', '\\'])
        .map_or(address.len(), |end| authority_at + end);
    let mut out = match address[authority_at..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &address[..authority_at],
            &address[authority_at + at + 1..]
        ),
        None => address.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        out.push_str(&query_names(query));
    }
    out
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
    fn text_that_does_not_parse_is_shown_without_credentials_or_query_values() {
        for (text, expected) in [
            (
                "https://u:pw-1@ho st/x?key=K1&flag#frag",
                "https://ho st/x?key=…&…",
            ),
            ("u:pw-1@host:99999/x", "host:99999/x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(shown_text(text), expected, "{text}");
        }
        assert_eq!(
            shown_text("https://u:pw-1@host/x?key=K1#frag"),
            "https://host/x?key=…"
        );
    }

    /// Issue 29 item 16: no slash the operator did not write.
    #[test]
    fn text_that_parses_is_shown_as_written() {
        for text in [
            "http://127.0.0.1:18081",
            "https://HOST.example.com/tenant",
            "https://host:443/a/",
        ] {
            assert_eq!(shown_text(text), text);
        }
        assert_eq!(
            shown_text("https://u:pw-1@host\\x?key=K1"),
            "https://host\\x?key=…"
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
