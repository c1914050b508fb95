//! Framing: splits a text file into records (lines; for CSV, records whose quoted fields may
//! span lines), skipping blank lines (white space only; for CSV, without a delimiter: a line
//! of tabs in a tab-separated file is a record), with every record bounded in size.
//!
//! Guarantees: memory is bounded by [`Framing::max_record_bytes`] whatever the input; every
//! non-blank line belongs to exactly one record or bad record. A record over the bound, or a
//! CSV record with unbalanced quotes (an odd number of `"`, or a quoted field not closed
//! within the bound or before the end of the file) becomes a bad record of its first line
//! only, and framing resumes at the next line: one stray `"` never takes the lines after it.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use super::BadRecord;

/// How a file is split into records.
#[derive(Debug, Clone, Copy)]
pub(super) struct Framing {
    /// CSV quoting with this field delimiter (a quoted field may span lines); `None`: one
    /// record per line.
    pub csv_delimiter: Option<u8>,
    /// The largest record, in bytes without its line end.
    pub max_record_bytes: usize,
}

/// What [`Records::next`] found.
pub(super) enum Framed {
    /// A record (in [`Records::record`]) starting at this 1-based line.
    Record(i64),
    Bad(BadRecord),
    End,
}

/// One line, without its line end.
#[derive(Default)]
struct Line {
    no: i64,
    /// At most `max_record_bytes + 1` bytes of it.
    bytes: Vec<u8>,
    /// Its full length.
    len: usize,
}

/// Reads the records of a text stream.
pub(super) struct Records<R> {
    reader: R,
    framing: Framing,
    line_no: i64,
    /// Lines read ahead and given back (after a bad multi-line record).
    back: VecDeque<Line>,
    line: Line,
    /// The last record's bytes (for multi-line records; single lines stay in `line`).
    joined: Vec<u8>,
    multi: bool,
}

impl<R: BufRead> Records<R> {
    pub fn new(reader: R, framing: Framing) -> Self {
        Records {
            reader,
            framing,
            line_no: 0,
            back: VecDeque::new(),
            line: Line::default(),
            joined: Vec::new(),
            multi: false,
        }
    }

    /// The bytes of the record [`Records::next`] returned last.
    pub fn record(&self) -> &[u8] {
        if self.multi {
            &self.joined
        } else {
            &self.line.bytes
        }
    }

    /// The first line not yet given out as (part of) a record.
    pub fn unread_from(&self) -> i64 {
        self.back.front().map_or(self.line_no + 1, |l| l.no)
    }

    /// The next record, bad record, or the end.
    pub fn next(&mut self) -> io::Result<Framed> {
        self.multi = false;
        loop {
            if !self.next_line()? {
                return Ok(Framed::End);
            }
            let max = self.framing.max_record_bytes;
            if self.line.len > max {
                return Ok(Framed::Bad(oversized(&self.line, max)));
            }
            if self.is_blank() {
                continue;
            }
            let Some(delimiter) = self.framing.csv_delimiter else {
                return Ok(Framed::Record(self.line.no));
            };
            let (state, quotes) = scan(&self.line.bytes, delimiter, Quote::FieldStart);
            if state == Quote::Quoted {
                return self.continue_quoted(delimiter, quotes);
            }
            if quotes % 2 == 1 {
                return Ok(Framed::Bad(unbalanced(
                    &self.line,
                    "a `\"` inside a field that is not quoted",
                )));
            }
            return Ok(Framed::Record(self.line.no));
        }
    }

    /// Whether `self.line` is blank: white space only, and no CSV delimiter (with a tab or a
    /// space as the delimiter, a line of delimiters is a record of empty fields).
    fn is_blank(&self) -> bool {
        let bytes = &self.line.bytes;
        bytes.iter().all(|b| b.is_ascii_whitespace())
            && self
                .framing
                .csv_delimiter
                .is_none_or(|d| !bytes.contains(&d))
    }

    /// Reads the lines of a record whose quoted field is open at the end of `self.line`.
    fn continue_quoted(&mut self, delimiter: u8, mut quotes: usize) -> io::Result<Framed> {
        let max = self.framing.max_record_bytes;
        let first = std::mem::take(&mut self.line);
        let mut rest: Vec<Line> = Vec::new();
        let mut total = first.len;
        loop {
            let more = match self.next_line() {
                Ok(more) => more,
                Err(e) => {
                    // Not framed: the lines stay unread (`unread_from` starts at `first`).
                    for l in rest.into_iter().rev() {
                        self.back.push_front(l);
                    }
                    self.back.push_front(first);
                    return Err(e);
                }
            };
            if !more {
                return Ok(self.resync(first, rest, "is not closed by the end of the file"));
            }
            let line = std::mem::take(&mut self.line);
            total += 1 + line.len;
            let (state, q) = if line.len > max {
                (Quote::Quoted, 0)
            } else {
                scan(&line.bytes, delimiter, Quote::Quoted)
            };
            rest.push(line);
            if total > max {
                let why = format!("is not closed within the maximum record size ({max} bytes)");
                return Ok(self.resync(first, rest, &why));
            }
            quotes += q;
            if state == Quote::Quoted {
                continue;
            }
            if quotes % 2 == 1 {
                return Ok(self.resync(
                    first,
                    rest,
                    "is closed by a later line whose quotes do not balance",
                ));
            }
            self.joined.clear();
            self.joined.extend_from_slice(&first.bytes);
            for l in &rest {
                self.joined.push(b'\n');
                self.joined.extend_from_slice(&l.bytes);
            }
            self.multi = true;
            return Ok(Framed::Record(first.no));
        }
    }

    /// Gives `rest` back to be read again and makes a bad record of the first line.
    fn resync(&mut self, first: Line, rest: Vec<Line>, why: &str) -> Framed {
        for l in rest.into_iter().rev() {
            self.back.push_front(l);
        }
        Framed::Bad(unbalanced(
            &first,
            &format!("a quoted field opened on this line {why}"),
        ))
    }

    /// Reads the next line into `self.line`; false at the end.
    fn next_line(&mut self) -> io::Result<bool> {
        if let Some(l) = self.back.pop_front() {
            self.line = l;
            return Ok(true);
        }
        let limit = self.framing.max_record_bytes as u64 + 1;
        let buf = &mut self.line.bytes;
        buf.clear();
        let n = (&mut self.reader).take(limit).read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        self.line.no = self.line_no;
        // The length without the line end; past the bound only the first bytes are kept.
        let mut len = buf.len();
        let mut cut = false;
        if buf.last() != Some(&b'\n') && n as u64 == limit {
            let (skipped, crs) = skip_line(&mut self.reader)?;
            cut = skipped > crs;
            len += if cut { skipped - crs } else { 0 };
        }
        if !cut {
            let mut end = buf.len();
            while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            buf.truncate(end);
            len = end;
        }
        self.line.len = len;
        Ok(true)
    }
}

/// Skips to the end of the line (consuming its `\n`); returns the bytes skipped before it
/// and how many of them are carriage returns at its end.
fn skip_line<R: BufRead>(reader: &mut R) -> io::Result<(usize, usize)> {
    let (mut skipped, mut crs) = (0, 0);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((skipped, crs));
        }
        let (part, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        let tail = part.iter().rev().take_while(|&&b| b == b'\r').count();
        crs = if tail == part.len() { crs + tail } else { tail };
        skipped += part.len();
        let consumed = part.len() + usize::from(done);
        reader.consume(consumed);
        if done {
            return Ok((skipped, crs));
        }
    }
}

/// CSV quoting state, as csv-core (arrow's CSV reader) reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: the field's end, or the first of `""`.
    QuoteInQuoted,
}

/// Scans one line from `state`; returns the state at its end (a line end closes every
/// field but a quoted one) and the number of `"` in it.
fn scan(line: &[u8], delimiter: u8, state: Quote) -> (Quote, usize) {
    if memchr::memchr(b'"', line).is_none() {
        // What `scan_bytes` gives for a line without quotes, without looking at each byte.
        let end = if state == Quote::Quoted {
            Quote::Quoted
        } else {
            Quote::FieldStart
        };
        return (end, 0);
    }
    scan_bytes(line, delimiter, state)
}

/// Whether a record (a Kafka message, which may hold line ends) ends inside a quoted field,
/// as csv-core reads it: a `\r` or `\n` outside quotes ends a record there.
pub(super) fn ends_quoted(record: &[u8], delimiter: u8) -> bool {
    scan(record, delimiter, Quote::FieldStart).0 == Quote::Quoted
}

/// [`scan`], byte by byte.
fn scan_bytes(line: &[u8], delimiter: u8, mut state: Quote) -> (Quote, usize) {
    let mut quotes = 0;
    for &b in line {
        if b == b'"' {
            quotes += 1;
        }
        state = match (state, b) {
            (Quote::Quoted, b'"') => Quote::QuoteInQuoted,
            (Quote::Quoted, _) => Quote::Quoted,
            (Quote::QuoteInQuoted, b'"') => Quote::Quoted,
            (_, b) if b == delimiter || b == b'\r' || b == b'\n' => Quote::FieldStart,
            (Quote::FieldStart, b'"') => Quote::Quoted,
            _ => Quote::Unquoted,
        };
    }
    let end = if state == Quote::Quoted {
        Quote::Quoted
    } else {
        Quote::FieldStart
    };
    (end, quotes)
}

/// What the quarantine keeps of a bad record (at most 64 KiB of it).
fn shown(bytes: &[u8], len: usize) -> String {
    const LIMIT: usize = 64 << 10;
    if len > LIMIT || bytes.len() < len {
        format!(
            "{}… ({len} bytes in all)",
            String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)])
        )
    } else {
        String::from_utf8_lossy(bytes).to_string()
    }
}

fn oversized(line: &Line, max: usize) -> BadRecord {
    BadRecord {
        line: line.no,
        record: shown(&line.bytes, line.len),
        reason: format!(
            "the record has {} bytes, more than the maximum record size ({max} bytes); split it, or check that the file has line ends",
            line.len
        ),
        column: None,
    }
}

fn unbalanced(line: &Line, what: &str) -> BadRecord {
    BadRecord {
        line: line.no,
        record: shown(&line.bytes, line.len),
        reason: format!(
            "invalid CSV record: unbalanced quote: {what}; the lines after it were read as records of their own. \
             Quote the whole field and write a `\"` inside it as `\"\"`"
        ),
        column: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str, csv: bool, max: usize) -> Vec<(i64, String)> {
        let framing = Framing {
            csv_delimiter: csv.then_some(b','),
            max_record_bytes: max,
        };
        let mut r = Records::new(io::Cursor::new(text.as_bytes().to_vec()), framing);
        let mut out = Vec::new();
        loop {
            match r.next().unwrap() {
                Framed::Record(line) => {
                    out.push((line, String::from_utf8_lossy(r.record()).to_string()))
                }
                Framed::Bad(b) => out.push((-b.line, b.record)),
                Framed::End => return out,
            }
        }
    }

    #[test]
    fn quoted_fields_span_lines_and_stray_quotes_stay_on_their_line() {
        let got = frame("a,1\n\"b\nb\",2\n\nc,x\"y\nd,4\r\n", true, 100);
        assert_eq!(
            got,
            vec![
                (1, "a,1".into()),
                (2, "\"b\nb\",2".into()),
                (-5, "c,x\"y".into()),
                (6, "d,4".into())
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_costs_one_line_and_framing_resumes_at_the_next() {
        let got = frame("a,1\nb,\"2\nc,3\nd,4", true, 100);
        assert_eq!(
            got,
            vec![
                (1, "a,1".into()),
                (-2, "b,\"2".into()),
                (3, "c,3".into()),
                (4, "d,4".into())
            ]
        );
        // Closed only past the bound: the same.
        let got = frame("b,\"2\nc,3\nd,4\"\ne,5\n", true, 8);
        assert_eq!(got[0], (-1, "b,\"2".into()));
        assert_eq!(got[1], (2, "c,3".into()));
        assert_eq!(got[2].0, -3, "d,4\" has a stray quote");
        assert_eq!(got[3], (4, "e,5".into()));
    }

    #[test]
    fn a_line_over_the_bound_is_one_bad_record() {
        let long = "x".repeat(50);
        let got = frame(&format!("a\n{long}\nb\n"), false, 10);
        assert_eq!(got[0], (1, "a".into()));
        assert_eq!(got[1].0, -2);
        assert!(got[1].1.contains("(50 bytes in all)"), "{}", got[1].1);
        assert_eq!(got[2], (3, "b".into()));
    }

    /// A line without quotes is not looked at byte by byte: the state at its end is the
    /// one the byte loop gives, from every state, whatever the other bytes.
    #[test]
    fn a_line_without_quotes_ends_where_the_byte_loop_ends() {
        let states = [
            Quote::FieldStart,
            Quote::Unquoted,
            Quote::Quoted,
            Quote::QuoteInQuoted,
        ];
        for line in ["", "a", ",", "a,b\r", "\r", " , ;x,,", "é,€"] {
            for state in states {
                for delimiter in [b',', b';', b'\t'] {
                    let line = line.as_bytes();
                    assert_eq!(
                        scan(line, delimiter, state),
                        scan_bytes(line, delimiter, state),
                        "{line:?} from {state:?}"
                    );
                }
            }
        }
    }

    /// A blank line is skipped, but a line of tabs in a tab-separated file is a record.
    #[test]
    fn a_line_of_delimiters_is_a_record_even_when_they_are_white_space() {
        let framing = Framing {
            csv_delimiter: Some(b'\t'),
            max_record_bytes: 100,
        };
        let mut r = Records::new(
            io::Cursor::new(b"a\tb\n\t\n  \n\n c\td\n".to_vec()),
            framing,
        );
        let mut got = Vec::new();
        while let Framed::Record(line) = r.next().unwrap() {
            got.push((line, String::from_utf8_lossy(r.record()).to_string()));
        }
        assert_eq!(
            got,
            vec![(1, "a\tb".into()), (2, "\t".into()), (5, " c\td".into())]
        );
    }
}
