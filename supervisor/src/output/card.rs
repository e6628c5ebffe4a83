//! Finding payment card numbers in text, for redaction.
//!
//! A card number is 13 to 19 digits, either in one run or in groups
//! separated by single spaces or dashes. When grouped, the first group has
//! 4 digits and the others 3 to 6. The number must not be part of a longer
//! word or number, must start with 2 to 6 as the major card networks do,
//! and must pass the Luhn check.
//! The first-digit rule keeps Unix timestamps in milliseconds and longer
//! units, which start with 1, and the grouping rule keeps dates and phone
//! numbers.

/// Calls `found` with the start and end offsets of every card number in
/// `text`.
pub(crate) fn find_card_numbers(text: &str, mut found: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(start) = find_digit(bytes, at) {
        let groups = digit_groups(bytes, start);
        let end = groups.end;
        at = end.max(start + 1);

        let after_word = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
        let separate = !after_word && !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if separate && is_card(bytes, start, groups) {
            found(start, end);
        }
    }
}

/// Returns the offset of the first ASCII digit at or after `from`.
///
/// Eight bytes are tested at a time, because this scan runs over every
/// byte of every line.
fn find_digit(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(word) = bytes.get(at..at + 8) {
        let mut array = [0; 8];
        array.copy_from_slice(word);
        let mask = digit_mask(u64::from_le_bytes(array));
        if mask != 0 {
            return Some(at + (mask.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter()
        .position(u8::is_ascii_digit)
        .map(|offset| at + offset)
}

/// Returns a word with the high bit set in every byte of `word` that is an
/// ASCII digit.
fn digit_mask(word: u64) -> u64 {
    const LOW_BITS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // Digits become 0 to 9, and nothing else does.
    let shifted = word ^ 0x3030_3030_3030_3030;
    // Adding 0x76 sets the high bit of a byte whose low seven bits are 10
    // or more, without carrying into the next byte. Or-ing `shifted` sets
    // it for bytes of 0x80 and more.
    let not_digit = ((shifted & LOW_BITS) + 0x7676_7676_7676_7676) | shifted;
    !not_digit & HIGH_BITS
}

/// Digit groups that may form a card number.
#[derive(Debug, Clone, Copy)]
struct DigitGroups {
    /// Offset just past the last group.
    end: usize,
    /// Number of digits in all groups.
    count: usize,
    /// Whether the grouping fits a card: one run, or a first group of 4
    /// and the others of 3 to 6 digits.
    well_grouped: bool,
}

/// Reads digit groups from `start`, separated by one space or dash.
fn digit_groups(bytes: &[u8], start: usize) -> DigitGroups {
    let mut number = DigitGroups {
        end: start,
        count: 0,
        well_grouped: true,
    };
    let mut groups = 0;
    loop {
        let group_start = number.end;
        while bytes.get(number.end).is_some_and(u8::is_ascii_digit) {
            number.end += 1;
        }
        let length = number.end - group_start;
        number.count += length;
        groups += 1;
        if groups == 2 && number.count - length != 4 {
            number.well_grouped = false;
        }
        if groups > 1 && !(3..=6).contains(&length) {
            number.well_grouped = false;
        }

        let separator = matches!(bytes.get(number.end), Some(b' ' | b'-'));
        let digit_follows = bytes.get(number.end + 1).is_some_and(u8::is_ascii_digit);
        if !separator || !digit_follows || number.count > 19 {
            return number;
        }
        number.end += 1;
    }
}

/// Tells whether the digits in `bytes[start..groups.end]` form a card number.
fn is_card(bytes: &[u8], start: usize, groups: DigitGroups) -> bool {
    let digits = || {
        bytes[start..groups.end]
            .iter()
            .filter(|byte| byte.is_ascii_digit())
    };
    (13..=19).contains(&groups.count)
        && groups.well_grouped
        && matches!(bytes.get(start), Some(b'2'..=b'6'))
        && passes_luhn(digits().rev())
}

/// Checks the Luhn checksum, the mod 10 check digit of card numbers, of
/// ASCII digits given from the last to the first.
fn passes_luhn<'d>(digits_from_last: impl Iterator<Item = &'d u8>) -> bool {
    let mut sum = 0u32;
    for (index, digit) in digits_from_last.enumerate() {
        let mut value = u32::from(digit - b'0');
        if index % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_check_matches_known_numbers() {
        let luhn = |digits: &[u8]| passes_luhn(digits.iter().rev());

        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn digit_search_finds_every_digit_position() {
        let text = b"abcdefgh9ijklmnop\xff\x800/ :;12345678";
        for from in 0..text.len() + 2 {
            let expected = text
                .get(from..)
                .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
                .map(|offset| from + offset);

            assert_eq!(find_digit(text, from), expected, "from {from}");
        }
    }

    #[test]
    fn digit_mask_marks_exactly_the_digits() {
        for byte in 0..=255u8 {
            let word = u64::from_le_bytes([b'x', byte, b'x', b'x', b'x', b'x', b'x', byte]);
            let expected = if byte.is_ascii_digit() {
                0x8000_0000_0000_8000
            } else {
                0
            };

            assert_eq!(digit_mask(word), expected, "byte {byte:#x}");
        }
    }

    #[test]
    fn card_numbers_are_found_with_offsets() {
        let text = "a 4111 1111 1111 1111, b 5555555555554444 c 4111111111111112";
        let mut found = Vec::new();

        find_card_numbers(text, |start, end| found.push(&text[start..end]));

        assert_eq!(found, ["4111 1111 1111 1111", "5555555555554444"]);
    }
}
