//! Splitting a child's byte stream into lines, and cutting long lines.
//!
//! A line ends at `\n`, and a `\r` right before it is dropped. A last line
//! without `\n` is ended by end of file. A line longer than the cap is cut
//! into parts of at most the cap. Every part of a cut line is numbered from
//! 1, so a reader can join them again, and none of its bytes are dropped:
//! keeping the whole output was chosen over keeping every line in one record.

/// Smallest cap accepted, so a cut can always step back over a whole UTF-8
/// character (at most 4 bytes) without reaching the start of the line.
pub(crate) const MIN_LINE_BYTES: usize = 4;

/// A line, or one part of a cut line, ready to become a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece<'a> {
    /// The raw bytes, without the line ending. They may be invalid UTF-8.
    pub(crate) bytes: &'a [u8],
    /// The 1-based part number if the line was cut, `None` otherwise.
    pub(crate) part: Option<u64>,
    /// Whether more parts of the same line follow this one.
    pub(crate) more: bool,
}

/// Splits a stream that arrives in chunks of any size into [`Piece`]s.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    max_line_bytes: usize,
    /// Start of the current line, received without its `\n` yet.
    pending: Vec<u8>,
    /// Number of parts of the current line already emitted, or 0 while it is
    /// not cut.
    parts: u64,
}

impl LineSplitter {
    /// Creates a splitter that cuts lines longer than `max_line_bytes`,
    /// raised to [`MIN_LINE_BYTES`] if smaller.
    pub(crate) fn new(max_line_bytes: usize) -> LineSplitter {
        LineSplitter {
            max_line_bytes: max_line_bytes.max(MIN_LINE_BYTES),
            pending: Vec::new(),
            parts: 0,
        }
    }

    /// Passes every line completed by `chunk` to `emit`, and every part of
    /// the unfinished line that is already known to be too long.
    ///
    /// Complete lines are passed straight from `chunk`. Only the unfinished
    /// tail is copied and kept for the next call.
    pub(crate) fn push(&mut self, chunk: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
        let max = self.max_line_bytes;
        let mut rest = chunk;

        while let Some(newline) = memchr::memchr(b'\n', rest) {
            let line = &rest[..newline];
            rest = &rest[newline + 1..];

            let line = if self.pending.is_empty() {
                line
            } else {
                self.pending.extend_from_slice(line);
                &self.pending
            };
            emit_line(strip_cr(line), max, &mut self.parts, emit);
            self.pending.clear();
        }

        if !rest.is_empty() {
            self.pending.extend_from_slice(rest);
            self.cut_pending(emit);
        }
    }

    /// Passes the unfinished last line, if any, to `emit` at end of file.
    /// A `\r` at its end is kept, since no `\n` follows it.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        if !self.pending.is_empty() || self.parts > 0 {
            emit_line(&self.pending, self.max_line_bytes, &mut self.parts, emit);
        }
        self.pending.clear();
    }

    /// Emits parts from the front of `pending` while it is sure to be longer
    /// than the cap, then keeps only the rest.
    fn cut_pending(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        let max = self.max_line_bytes;
        let mut start = 0;

        loop {
            let rest = &self.pending[start..];
            if rest.len() <= max {
                break;
            }
            // One byte over the cap may still be a `\r` that the next `\n`
            // removes, leaving a line that fits.
            if rest.len() - 1 == max && rest.last() == Some(&b'\r') {
                break;
            }

            let cut = cut_point(rest, max);
            self.parts += 1;
            emit(Piece {
                bytes: &rest[..cut],
                part: Some(self.parts),
                more: true,
            });
            start += cut;
        }

        self.pending.drain(..start);
    }
}

/// Emits `line` as one piece, or as numbered parts if it is longer than
/// `max` or earlier parts of it were emitted, and resets `parts`.
fn emit_line(mut line: &[u8], max: usize, parts: &mut u64, emit: &mut impl FnMut(Piece<'_>)) {
    while line.len() > max {
        let cut = cut_point(line, max);
        *parts += 1;
        emit(Piece {
            bytes: &line[..cut],
            part: Some(*parts),
            more: true,
        });
        line = &line[cut..];
    }

    let part = if *parts > 0 { Some(*parts + 1) } else { None };
    emit(Piece {
        bytes: line,
        part,
        more: false,
    });
    *parts = 0;
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Returns where to cut `line`, which is longer than `max`: at most `max`
/// bytes in, and never inside a UTF-8 character or an invalid sequence, so
/// decoding the parts lossily gives the same text as decoding the line.
///
/// Every character and every invalid sequence starts with a byte that is
/// not a continuation byte (`0b10xx_xxxx`), except a lone continuation byte,
/// and spans at most 4 bytes. So the cut goes before the last such start
/// byte among the 4 bytes ending at `max`. If all 4 are continuation bytes,
/// the byte at `max` is a lone one, and cutting right there is safe too.
fn cut_point(line: &[u8], max: usize) -> usize {
    let is_start = |at: usize| {
        line.get(at)
            .is_some_and(|byte| byte & 0b1100_0000 != 0b1000_0000)
    };

    (0..MIN_LINE_BYTES)
        .map(|back| max - back)
        .find(|&at| at > 0 && is_start(at))
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Splits `chunks` and returns each piece as `(text, part)`.
    fn split(max: usize, chunks: &[&[u8]]) -> Vec<(String, Option<u64>)> {
        let mut splitter = LineSplitter::new(max);
        let mut pieces = Vec::new();
        let mut emit = |piece: Piece<'_>| {
            let text = String::from_utf8_lossy(piece.bytes).into_owned();
            pieces.push((text, piece.part));
        };
        for chunk in chunks {
            splitter.push(chunk, &mut emit);
        }
        splitter.finish(&mut emit);
        pieces
    }

    fn whole(lines: &[&str]) -> Vec<(String, Option<u64>)> {
        lines.iter().map(|line| (line.to_string(), None)).collect()
    }

    #[test]
    fn splits_lines_across_chunks() {
        let pieces = split(100, &[b"one\ntw", b"o\nthr", b"ee\n"]);

        assert_eq!(pieces, whole(&["one", "two", "three"]));
    }

    #[test]
    fn last_line_without_newline_is_kept() {
        assert_eq!(split(100, &[b"a\nlast"]), whole(&["a", "last"]));
    }

    #[test]
    fn crlf_loses_cr() {
        assert_eq!(split(100, &[b"a\r", b"\nb\r\n"]), whole(&["a", "b"]));
    }

    #[test]
    fn lone_cr_is_kept() {
        assert_eq!(split(100, &[b"a\rb\n", b"c\r"]), whole(&["a\rb", "c\r"]));
    }

    #[test]
    fn empty_lines_are_kept() {
        assert_eq!(split(100, &[b"\n\na\n\r\n"]), whole(&["", "", "a", ""]));
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert_eq!(split(100, &[b"", b""]), Vec::new());
    }

    #[test]
    fn long_line_is_cut_into_numbered_parts() {
        let pieces = split(4, &[b"abcdefghij\nk\n"]);

        let expected = vec![
            ("abcd".to_owned(), Some(1)),
            ("efgh".to_owned(), Some(2)),
            ("ij".to_owned(), Some(3)),
            ("k".to_owned(), None),
        ];
        assert_eq!(pieces, expected);
    }

    #[test]
    fn cut_never_splits_a_character() {
        let pieces = split(4, &["ab€cd\n".as_bytes()]);

        let expected = vec![
            ("ab".to_owned(), Some(1)),
            ("€c".to_owned(), Some(2)),
            ("d".to_owned(), Some(3)),
        ];
        assert_eq!(pieces, expected);
    }

    #[test]
    fn line_of_cap_plus_crlf_is_not_cut() {
        assert_eq!(split(4, &[b"abcd\r", b"\n"]), whole(&["abcd"]));
    }

    #[test]
    fn line_cut_before_newline_arrives() {
        let mut splitter = LineSplitter::new(4);
        let mut pieces = Vec::new();
        splitter.push(b"abcdefg", &mut |piece| pieces.push(piece.bytes.to_vec()));

        assert_eq!(pieces, vec![b"abcd".to_vec()]);
    }

    #[test]
    fn tiny_cap_is_raised_to_minimum() {
        let pieces = split(1, &["😀😀\n".as_bytes()]);

        let expected = vec![("😀".to_owned(), Some(1)), ("😀".to_owned(), Some(2))];
        assert_eq!(pieces, expected);
    }

    /// Splits `input` at `cuts` and rebuilds the text from the pieces,
    /// joining consecutive parts and ending every line with `\n`.
    fn rebuild(input: &[u8], cuts: &[usize], max: usize) -> Result<String, TestCaseError> {
        let mut splitter = LineSplitter::new(max);
        let mut pieces = Vec::new();
        let mut emit = |piece: Piece<'_>| {
            pieces.push((piece.bytes.to_vec(), piece.part, piece.more));
        };

        let mut start = 0;
        for &cut in cuts {
            let end = cut.clamp(start, input.len());
            splitter.push(&input[start..end], &mut emit);
            start = end;
        }
        splitter.push(&input[start..], &mut emit);
        splitter.finish(&mut emit);

        let mut text = String::new();
        let mut previous_part = None;
        for (index, (bytes, part, more)) in pieces.iter().enumerate() {
            prop_assert!(bytes.len() <= max.max(MIN_LINE_BYTES), "piece over the cap");
            if let Some(part) = part {
                let expected = previous_part.map_or(1, |previous| previous + 1);
                prop_assert_eq!(*part, expected, "parts are not consecutive");
            }
            text.push_str(&String::from_utf8_lossy(bytes));

            let next_part = pieces.get(index + 1).and_then(|(_, part, _)| *part);
            let continues = part.is_some() && next_part.is_some_and(|next| next > 1);
            prop_assert_eq!(*more, continues, "`more` disagrees with the next part");
            previous_part = if continues { *part } else { None };
            if !continues {
                text.push('\n');
            }
        }
        Ok(text)
    }

    proptest! {
        #[test]
        fn pieces_rebuild_the_input(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(0xE2), Just(0x82), Just(0xAC), any::<u8>()],
                0..200,
            ),
            mut cuts in proptest::collection::vec(0usize..200, 0..8),
            max in 1usize..12,
        ) {
            cuts.sort_unstable();
            // Parts are joined back by length here, so give every line an end.
            let mut input = input;
            input.push(b'\n');

            let text = rebuild(&input, &cuts, max)?;

            let expected = String::from_utf8_lossy(&input).replace("\r\n", "\n");
            prop_assert_eq!(text, expected);
        }
    }
}
