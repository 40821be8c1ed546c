//! Percent-encoding as Alibaba's signatures define it: UTF-8 bytes, `A-Z a-z 0-9 - _ . ~`
//! kept, every other byte `%XY` in upper-case hex (so a space is `%20`, `*` is `%2A`).

/// Percent-encodes `s` for signing.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// Decodes an `application/x-www-form-urlencoded` string (query or body) into pairs, in
/// order, with `+` as a space.
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}
