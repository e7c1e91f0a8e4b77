//! Server-sent events, as MCP's Streamable HTTP frames responses.
//!
//! Owns: cutting a byte stream that arrives in arbitrary chunks into complete
//! events, reading an event's `data` (its JSON-RPC message), and writing the
//! same event back with other data. Lines end in LF, CRLF or CR; an event ends
//! at a blank line.
//!
//! Does not own: what the messages mean (`stream`, `toolslist`).

/// A growing stream of bytes, cut into events as they complete.
#[derive(Debug, Default)]
pub struct Events {
    pending: Vec<u8>,
}

impl Events {
    /// Adds a chunk: taken as it is when nothing is held (no copy).
    pub fn push(&mut self, chunk: Vec<u8>) {
        if self.pending.is_empty() {
            self.pending = chunk;
        } else {
            self.pending.extend_from_slice(&chunk);
        }
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The next complete event, its blank-line terminator included.
    pub fn next_event(&mut self) -> Option<Vec<u8>> {
        let end = event_end(&self.pending)?;
        Some(self.pending.drain(..end).collect())
    }

    /// Whatever is left (an unterminated event at the end of a stream, or a
    /// whole JSON body).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

/// Where the first event ends: just past its terminating blank line.
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0usize;
    let mut line_start = true;
    while let Some(&b) = buf.get(i) {
        let next = i.saturating_add(1);
        let eol_len = match b {
            b'\n' => 1,
            b'\r' if buf.get(next) == Some(&b'\n') => 2,
            // A lone CR at the very end might be the first half of CRLF.
            b'\r' if next == buf.len() => return None,
            b'\r' => 1,
            _ => {
                line_start = false;
                i = next;
                continue;
            }
        };
        let after = i.saturating_add(eol_len);
        if line_start {
            return Some(after);
        }
        line_start = true;
        i = after;
    }
    None
}

/// The event's lines, without their ends (LF, CR or CRLF) and without the
/// empty ones.
fn lines(event: &[u8]) -> Lines<'_> {
    Lines(event)
}

struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.0.is_empty() {
            let end = self
                .0
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(self.0.len());
            let (line, rest) = self.0.split_at(end);
            self.0 = rest.get(1..).unwrap_or_default();
            if !line.is_empty() {
                return Some(line);
            }
        }
        None
    }
}

/// The event's data: its `data:` lines joined by LF.
pub fn data(event: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines(event) {
        if let Some(d) = line.strip_prefix(b"data:") {
            if !out.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
        }
    }
    out
}

/// The same event (its `event:`, `id:` and other fields kept) carrying `data`.
pub fn with_data(event: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut written = false;
    for line in lines(event) {
        if line.starts_with(b"data:") {
            if !written {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(data);
                out.push(b'\n');
                written = true;
            }
        } else {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    if !written {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_complete_across_chunks_and_line_endings() {
        let mut e = Events::default();
        e.push(b"event: message\r\ndata: {\"a\":".to_vec());
        assert_eq!(e.next_event(), None);
        e.push(b"1}\r\n\r".to_vec());
        assert_eq!(e.next_event(), None, "a lone CR may be half of CRLF");
        e.push(b"\nid: 2\ndata: x\n\n: comment\n\ndata: tail".to_vec());
        let first = e.next_event().unwrap();
        assert_eq!(data(&first), b"{\"a\":1}");
        let second = e.next_event().unwrap();
        assert_eq!(second, b"id: 2\ndata: x\n\n");
        assert_eq!(data(&e.next_event().unwrap()), b"");
        assert_eq!(e.next_event(), None);
        assert_eq!(e.take_rest(), b"data: tail");
    }

    #[test]
    fn multi_line_data_and_rewriting() {
        let event = b"event: message\nid: 7\ndata: {\"a\":\ndata: 1}\n\n";
        assert_eq!(data(event), b"{\"a\":\n1}");
        assert_eq!(
            with_data(event, b"{}"),
            b"event: message\nid: 7\ndata: {}\n\n"
        );
        assert_eq!(with_data(b"data:x\r\n\r\n", b"y"), b"data: y\n\n");
    }
}
