//! `callsim protocol decode` and `encode`: call messages between wire and readable form.

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use callsim_engine::Error;
use callsim_engine::protocol::{ChatMessage, MAX_MESSAGE_BYTES, readable};
use serde_json::Value;

/// An I/O failure while streaming, split by side so the caller can name the file.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output or the error report failed.
    Write(io::Error),
}

/// How many messages a run handled and how many of them failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Messages read (blank lines excluded).
    pub messages: usize,
    /// Messages that could not be converted.
    pub failed: usize,
}

impl Summary {
    /// 0 if everything converted, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    fn report(&self, err: &mut impl Write, verb: &str) -> Result<(), StreamError> {
        if self.failed > 0 {
            writeln!(
                err,
                "{} of {} messages failed to {verb}",
                self.failed, self.messages
            )
            .map_err(StreamError::Write)?;
        }
        Ok(())
    }
}

/// Decodes one wire message per line from `input`, writing each as pretty readable JSON to
/// `out` and each failure, with its line number, to `err`.
pub fn decode(
    mut input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Summary, StreamError> {
    let mut summary = Summary::default();
    let mut buf = Vec::new();
    let mut line_no = 0;
    while let Some(len) =
        read_line(&mut input, &mut buf, MAX_MESSAGE_BYTES).map_err(StreamError::Read)?
    {
        line_no += 1;
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        summary.messages += 1;
        let decoded = if len > MAX_MESSAGE_BYTES {
            Err(Error::TooLarge {
                size: len,
                limit: MAX_MESSAGE_BYTES,
            })
        } else {
            ChatMessage::from_json(line).and_then(|m| readable::to_readable(&m))
        };
        match decoded {
            Ok(value) => {
                serde_json::to_writer_pretty(&mut *out, &value)
                    .map_err(|e| StreamError::Write(e.into()))?;
                writeln!(out).map_err(StreamError::Write)?;
            }
            Err(e) => {
                summary.failed += 1;
                writeln!(err, "line {line_no}: {e}").map_err(StreamError::Write)?;
            }
        }
    }
    summary.report(err, "decode")?;
    Ok(summary)
}

/// Encodes a stream of readable JSON messages from `input` into wire lines on `out`, reporting
/// each failure, with the line it starts on, to `err`.
///
/// A JSON syntax error ends the run, since the rest of the stream cannot be split reliably.
pub fn encode(
    mut input: impl Read,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Summary, StreamError> {
    let mut text = Vec::new();
    input.read_to_end(&mut text).map_err(StreamError::Read)?;
    let mut summary = Summary::default();
    let mut stream = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
    loop {
        let start = skip_whitespace(&text, stream.byte_offset());
        let Some(next) = stream.next() else { break };
        summary.messages += 1;
        let line_no = 1 + text[..start].iter().filter(|&&b| b == b'\n').count();
        let encoded = match next {
            Ok(value) => readable::from_readable(value).and_then(|m| m.to_json()),
            Err(e) => {
                summary.failed += 1;
                writeln!(err, "bad JSON: {e}; stopping").map_err(StreamError::Write)?;
                break;
            }
        };
        match encoded {
            Ok(line) => writeln!(out, "{line}").map_err(StreamError::Write)?,
            Err(e) => {
                summary.failed += 1;
                writeln!(err, "message {} (line {line_no}): {e}", summary.messages)
                    .map_err(StreamError::Write)?;
            }
        }
    }
    summary.report(err, "encode")?;
    Ok(summary)
}

fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Reads one line into `buf` without its newline, keeping at most `limit + 1` bytes of it so a
/// huge line cannot exhaust memory. Returns the line's full length, or `None` at end of input.
fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<usize>> {
    buf.clear();
    let mut total = 0;
    let mut read_any = false;
    loop {
        let (used, done) = {
            let chunk = match input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(read_any.then_some(total));
            }
            read_any = true;
            let newline = chunk.iter().position(|&b| b == b'\n');
            let part = &chunk[..newline.unwrap_or(chunk.len())];
            let room = (limit + 1).saturating_sub(buf.len());
            buf.extend_from_slice(&part[..part.len().min(room)]);
            total += part.len();
            (newline.map_or(chunk.len(), |i| i + 1), newline.is_some())
        };
        input.consume(used);
        if done {
            return Ok(Some(total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_measured_but_not_kept() {
        let mut input = io::Cursor::new(format!("{}\nshort\n", "x".repeat(100)));
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf, 10).ok(), Some(Some(100)));
        assert_eq!(buf.len(), 11);
        assert_eq!(read_line(&mut input, &mut buf, 10).ok(), Some(Some(5)));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut input, &mut buf, 10).ok(), Some(None));
    }

    #[test]
    fn a_last_line_without_newline_is_read() {
        let mut input = io::Cursor::new("a\nbc");
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf, 10).ok(), Some(Some(1)));
        assert_eq!(read_line(&mut input, &mut buf, 10).ok(), Some(Some(2)));
        assert_eq!(buf, b"bc");
        assert_eq!(read_line(&mut input, &mut buf, 10).ok(), Some(None));
    }
}
