//! The swap listing's page cursor: opaque to clients, as the contract
//! says, so a client that builds its own cursor is caught.

pub(super) fn encode_cursor(index: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("i:{index}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("i:")?
        .parse()
        .ok()
}
