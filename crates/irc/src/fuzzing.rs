//! Entry points for the fuzz targets (`fuzz/`): the parsers a client's input reaches, with
//! nothing else around them. Not an API.

/// A SASL PLAIN payload (base64 of `authzid NUL authcid NUL password`).
pub fn sasl_plain(payload: &str) -> bool {
    crate::command::account::decode_plain(payload).is_some()
}

/// A CHATHISTORY target and message reference.
pub fn chathistory(target: &str, reference: &str, is_latest: bool, is_lower: bool) -> bool {
    crate::command::history::parse_target(target).is_some()
        && crate::command::history::parse_ref(reference, is_latest, is_lower).is_some()
}
