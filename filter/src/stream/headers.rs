//! Request and response headers as the host lends them.
//!
//! Owns: reading proxy-wasm's header map in place, names compared without
//! regard to case, a repeated header read as HTTP reads it (all its values,
//! joined), and what a request's `Content-Type` declares about the bytes of
//! its body (`charset`).
//!
//! Does not own: what the headers mean for judging (`stream`).

/// Header pairs, as the host lends them in one call: one buffer, read in
/// place (a request's dozen headers cost no allocation each).
#[derive(Debug, Default, Clone)]
pub struct Headers {
    raw: Vec<u8>,
    entries: Vec<(Text, Text)>,
}

/// Byte offsets `start..end` into `Headers::raw`.
type Span = (usize, usize);

/// A name or value: a span of `raw` that is UTF-8, or, for bytes that are
/// not, a NUL and the bytes in hex. So two values that differ only in
/// invalid bytes stay distinct (no header value holds a NUL).
#[derive(Debug, Clone)]
enum Text {
    Span(usize, usize),
    Escaped(String),
}

impl Headers {
    /// Headers from name/value pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Headers {
        let mut h = Headers::default();
        for (k, v) in pairs {
            let key = h.push(k.as_bytes());
            let value = h.push(v.as_bytes());
            h.entries.push((key, value));
        }
        h
    }

    /// Headers in proxy-wasm's map encoding: a u32 count, a (u32, u32) size
    /// pair per entry, then each name and value followed by NUL; all
    /// little-endian. Malformed input reads as no headers.
    pub fn from_map_bytes(raw: Vec<u8>) -> Headers {
        let entries = Headers::spans(&raw).unwrap_or_default();
        let mut h = Headers {
            raw,
            entries: Vec::with_capacity(entries.len()),
        };
        for (k, v) in entries {
            let key = h.text(k);
            let value = h.text(v);
            h.entries.push((key, value));
        }
        h
    }

    fn spans(raw: &[u8]) -> Option<Vec<(Span, Span)>> {
        let word = |at: usize| -> Option<usize> {
            let b: [u8; 4] = raw.get(at..at.checked_add(4)?)?.try_into().ok()?;
            usize::try_from(u32::from_le_bytes(b)).ok()
        };
        let count = word(0)?;
        let mut at = count.checked_mul(8)?.checked_add(4)?;
        let mut out = Vec::with_capacity(count.min(256));
        for i in 0..count {
            let sizes = i.checked_mul(8)?.checked_add(4)?;
            let (k, v) = (word(sizes)?, word(sizes.checked_add(4)?)?);
            let key = (at, at.checked_add(k)?);
            at = key.1.checked_add(1)?;
            let value = (at, at.checked_add(v)?);
            at = value.1.checked_add(1)?;
            raw.get(value.0..value.1)?;
            out.push((key, value));
        }
        Some(out)
    }

    fn push(&mut self, bytes: &[u8]) -> Text {
        let start = self.raw.len();
        self.raw.extend_from_slice(bytes);
        Text::Span(start, self.raw.len())
    }

    fn text(&self, (start, end): Span) -> Text {
        let bytes = self.raw.get(start..end).unwrap_or_default();
        if std::str::from_utf8(bytes).is_ok() {
            Text::Span(start, end)
        } else {
            let mut escaped = String::from("\0");
            crate::policy::push_hex(&mut escaped, bytes);
            Text::Escaped(escaped)
        }
    }

    fn str<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            Text::Span(s, e) => self
                .raw
                .get(*s..*e)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            Text::Escaped(s) => s,
        }
    }

    /// Every value of header `name`, in order (names compare
    /// case-insensitively).
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.entries
            .iter()
            .filter(move |(k, _)| self.bytes(k).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| self.str(v))
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    fn bytes<'a>(&'a self, text: &'a Text) -> &'a [u8] {
        match text {
            Text::Span(s, e) => self.raw.get(*s..*e).unwrap_or_default(),
            Text::Escaped(s) => s.as_bytes(),
        }
    }

    /// How many times header `name` occurs.
    pub fn count(&self, name: &str) -> usize {
        self.values(name).count()
    }

    /// Every value of header `name`, joined with `, ` as HTTP reads a
    /// repeated header. A second `Mcp-Name`, `Content-Encoding` or identity
    /// header is judged with the first, never ignored: something after the
    /// filter might read the last one.
    pub fn owned(&self, name: &str) -> Option<String> {
        let mut values = self.values(name);
        let mut joined = values.next()?.to_owned();
        for v in values {
            joined.push_str(", ");
            joined.push_str(v);
        }
        Some(joined)
    }
}

/// Whether a `Content-Type` declares a charset other than UTF-8: `Some`
/// with what it declares. Servers decode a body by its declared charset (the
/// TypeScript SDK's express app does, through iconv), while the filter reads
/// UTF-8: a body it judged would mean something else to the server. Every
/// `charset` in the value counts (in any case, quoted or not, once per
/// parameter); a name normalises as iconv's does (letters and digits only,
/// lower case), so `UTF-8`, `utf8` and `"utf-8"` are UTF-8.
pub fn foreign_charset(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("charset") {
        let after = rest.get(at.saturating_add(7)..).unwrap_or_default();
        rest = after;
        let Some(value) = after.trim_start_matches([' ', '\t']).strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start_matches([' ', '\t']);
        let value = value.strip_prefix('"').unwrap_or(value);
        let raw: String = value
            .chars()
            .take_while(|c| !matches!(c, ';' | ',' | '"' | ' ' | '\t'))
            .collect();
        let name: String = raw.chars().filter(char::is_ascii_alphanumeric).collect();
        if name != "utf8" {
            return Some(raw);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_other_than_utf8_are_named() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json; charset = utf8",
            "text/event-stream",
        ] {
            assert_eq!(foreign_charset(ok), None, "{ok}");
        }
        for (bad, named) in [
            ("application/json; charset=utf-16le", "utf-16le"),
            ("application/json; charset=UTF-7", "utf-7"),
            ("application/json; charset=\"shift_jis\"", "shift_jis"),
            ("application/json; charset=utf-8; charset=utf-16", "utf-16"),
            (
                "application/json; charset=utf-8, text/plain; charset=gbk",
                "gbk",
            ),
            ("application/json; charset=us-ascii", "us-ascii"),
            ("application/json; charset=", ""),
            ("application/json; x-charset=latin1", "latin1"),
        ] {
            assert_eq!(foreign_charset(bad).as_deref(), Some(named), "{bad}");
        }
    }
}
