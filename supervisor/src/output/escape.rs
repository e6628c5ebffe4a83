//! String escaping for JSON and text records, safe for any text.
//!
//! Child output is decoded with [`String::from_utf8_lossy`] first, which
//! replaces every invalid UTF-8 sequence with U+FFFD and borrows valid
//! input. The JSON escaper keeps a string valid inside a JSON string
//! literal. The text escaper keeps it on one line.

use std::io::Write as _;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Bytes that may start a character needing an escape in either format:
/// ASCII controls, DEL, `"`, `\`, and the lead bytes `0xC2` (U+0080 to
/// U+00BF, which contains the C1 controls) and `0xE2` (U+2000 to U+2FFF,
/// which contains the line and paragraph separators). Every other byte is copied.
const MAY_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[0x7F] = true;
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xC2] = true;
    table[0xE2] = true;
    table
};

/// Appends `text` escaped for a JSON string literal.
///
/// Besides what JSON requires (`"`, `\` and U+0000 to U+001F), DEL and
/// U+2028 and U+2029 are escaped, so the record also stays valid JavaScript.
pub(crate) fn json_str(text: &str, out: &mut Vec<u8>) {
    let needs_escape = |c| {
        matches!(
            c,
            '"' | '\\' | '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{2028}' | '\u{2029}'
        )
    };
    escape(text, out, needs_escape, |c, out| match c {
        '"' => push_str(out, "\\\""),
        '\\' => push_str(out, "\\\\"),
        '\n' => push_str(out, "\\n"),
        '\r' => push_str(out, "\\r"),
        '\t' => push_str(out, "\\t"),
        '\u{8}' => push_str(out, "\\b"),
        '\u{c}' => push_str(out, "\\f"),
        _ => push_unicode(out, c),
    });
}

/// Appends `text` with every control character escaped so the result is one
/// line: `\n`, `\r`, `\t`, `\x1b`-style for the other ASCII controls and
/// `\u{85}`-style for C1 controls and U+2028 and U+2029.
///
/// With `quoted`, `"` and `\` are escaped too, so the result can be written
/// between quotes and read back. Without it, a literal `\n` in the input
/// looks the same as an escaped newline. That is acceptable in text meant
/// for people, and the JSON format is the lossless one.
pub(crate) fn text_str(text: &str, quoted: bool, out: &mut Vec<u8>) {
    let needs_escape = |c| match c {
        '"' | '\\' => quoted,
        _ => is_text_control(c),
    };
    escape(text, out, needs_escape, |c, out| match c {
        '"' | '\\' => {
            out.push(b'\\');
            out.push(c as u8);
        }
        '\n' => push_str(out, "\\n"),
        '\r' => push_str(out, "\\r"),
        '\t' => push_str(out, "\\t"),
        '\u{0}'..='\u{7f}' => {
            push_str(out, "\\x");
            push_hex_byte(out, c as u8);
        }
        _ => {
            // `io::Write` for `Vec<u8>` never returns an error.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    });
}

/// Returns whether `c` is escaped in text records: a C0 or C1 control, DEL,
/// or U+2028 or U+2029.
fn is_text_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Returns whether a text value needs quotes to be read back as one value:
/// it is empty or contains a space, `=`, `"`, `\` or a character that
/// [`text_str`] escapes.
pub(crate) fn text_needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text
            .chars()
            .any(|c| matches!(c, ' ' | '=' | '"' | '\\') || is_text_control(c))
}

/// Copies `text` to `out`, letting `write_escaped` write each character for
/// which `needs_escape` is true.
///
/// Only characters whose first byte is in [`MAY_ESCAPE`] are tested, and
/// runs of other bytes are copied with one `extend_from_slice` each, so text
/// without special characters costs one table look-up a byte.
fn escape(
    text: &str,
    out: &mut Vec<u8>,
    needs_escape: impl Fn(char) -> bool,
    write_escaped: impl Fn(char, &mut Vec<u8>),
) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut index = 0;

    while let Some(&byte) = bytes.get(index) {
        if !MAY_ESCAPE[usize::from(byte)] {
            index += 1;
            continue;
        }

        // A byte in MAY_ESCAPE is ASCII or a lead byte, so `index` is on a
        // character boundary and the slice always exists.
        let Some(c) = text.get(index..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if needs_escape(c) {
            out.extend_from_slice(&bytes[copied..index]);
            write_escaped(c, out);
            copied = index + c.len_utf8();
        }
        index += c.len_utf8();
    }

    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
}

fn push_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
}

/// Writes `c`, which is in the Basic Multilingual Plane, as `\uXXXX`.
fn push_unicode(out: &mut Vec<u8>, c: char) {
    let code = u32::from(c);
    push_str(out, "\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX_DIGITS[((code >> shift) & 0xF) as usize]);
    }
}

fn push_hex_byte(out: &mut Vec<u8>, byte: u8) {
    out.push(HEX_DIGITS[usize::from(byte >> 4)]);
    out.push(HEX_DIGITS[usize::from(byte & 0xF)]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn json(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        json_str(&String::from_utf8_lossy(bytes), &mut out);
        String::from_utf8(out).unwrap_or_else(|error| panic!("escaper wrote bad UTF-8: {error}"))
    }

    fn text(bytes: &[u8], quoted: bool) -> String {
        let mut out = Vec::new();
        text_str(&String::from_utf8_lossy(bytes), quoted, &mut out);
        String::from_utf8(out).unwrap_or_else(|error| panic!("escaper wrote bad UTF-8: {error}"))
    }

    #[test]
    fn json_plain_text_is_unchanged() {
        assert_eq!(json(b"GET /index.php 200"), "GET /index.php 200");
    }

    #[test]
    fn json_escapes_quotes_and_controls() {
        assert_eq!(
            json(b"a\"b\\c\nd\re\tf\x08\x0c\x00\x1b\x7f"),
            r#"a\"b\\c\nd\re\tf\b\f\u0000\u001b\u007f"#
        );
    }

    #[test]
    fn json_escapes_line_separators() {
        assert_eq!(json("x\u{2028}y\u{2029}z".as_bytes()), r"x\u2028y\u2029z");
    }

    #[test]
    fn json_keeps_other_non_ascii() {
        assert_eq!(
            json("é € \u{85} 😀 \u{2027}".as_bytes()),
            "é € \u{85} 😀 \u{2027}"
        );
    }

    #[test]
    fn json_replaces_invalid_utf8() {
        assert_eq!(json(b"a\xffb\xf0\x9f\x98"), "a\u{FFFD}b\u{FFFD}");
    }

    #[test]
    fn text_escapes_controls() {
        assert_eq!(text(b"a\nb\rc\td\x1be\x7f", false), r"a\nb\rc\td\x1be\x7f");
    }

    #[test]
    fn text_escapes_c1_and_separators() {
        assert_eq!(
            text("a\u{85}b\u{2028}c".as_bytes(), false),
            r"a\u{85}b\u{2028}c"
        );
    }

    #[test]
    fn text_unquoted_keeps_quotes() {
        assert_eq!(text(br#"say "hi" \o/"#, false), r#"say "hi" \o/"#);
    }

    #[test]
    fn text_quoted_escapes_quotes() {
        assert_eq!(text(br#"say "hi" \o/"#, true), r#"say \"hi\" \\o/"#);
    }

    #[test]
    fn text_needs_quotes_for_spaces() {
        assert!(text_needs_quotes("a b"));
        assert!(text_needs_quotes(""));
        assert!(text_needs_quotes("a\nb"));
        assert!(!text_needs_quotes("pre-start"));
    }

    proptest! {
        #[test]
        fn json_round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let literal = format!("\"{}\"", json(&bytes));
            let parsed: String = serde_json::from_str(&literal)
                .map_err(|error| TestCaseError::fail(format!("{literal}: {error}")))?;

            prop_assert_eq!(parsed, String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn text_is_one_line_for_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let escaped = text(&bytes, true);

            prop_assert!(!escaped.chars().any(|c| c.is_control()));
        }
    }
}
