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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_keeps_only_unreserved() {
        let cases = [("aZ09-_.~", "aZ09-_.~"), ("a b*+/:=&!'()", "a%20b%2A%2B%2F%3A%3D%26%21%27%28%29"), ("é", "%C3%A9")];
        for (raw, encoded) in cases {
            assert_eq!(percent_encode(raw), encoded, "{raw}");
        }
    }

    #[test]
    fn form_decode_plus_is_space_and_order_is_kept() {
        assert_eq!(
            form_decode("b=hello+world&a=%7B%22x%22%3A+1%7D&c=&d&a=2"),
            vec![
                ("b".to_string(), "hello world".to_string()),
                ("a".to_string(), r#"{"x": 1}"#.to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), String::new()),
                ("a".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(form_decode("x=%2B"), vec![("x".to_string(), "+".to_string())]);
    }
}
