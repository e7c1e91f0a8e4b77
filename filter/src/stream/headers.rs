//! Request and response headers as the host lends them.
//!
//! Owns: reading proxy-wasm's header map in place, names compared without
//! regard to case, a repeated header read as HTTP reads it (all its values,
//! joined), and what a request's `Content-Type` declares about the bytes of
//! its body (`charset`).
//!
//! Does not own: what the headers mean for judging (`stream`).

use std::borrow::Cow;

/// Header pairs, as the host lends them in one call: one buffer, read in
/// place. Decoding only records where each name and value sit; a value is
/// checked as UTF-8 when it is read, and only then.
#[derive(Debug, Default, Clone)]
pub struct Headers {
    raw: Vec<u8>,
    /// (name start, name end, value start, value end) into `raw`.
    entries: Vec<[u32; 4]>,
}

/// Where a header sits among the entries: its first value, and how many
/// times it occurs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    first: Option<u32>,
    count: u32,
}

impl Slot {
    pub fn count(self) -> u32 {
        self.count
    }

    pub fn present(self) -> bool {
        self.count > 0
    }
}

impl Headers {
    /// Headers from name/value pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Headers {
        let mut h = Headers::default();
        for (k, v) in pairs {
            let key = h.push(k.as_bytes());
            let value = h.push(v.as_bytes());
            h.entries.push([key.0, key.1, value.0, value.1]);
        }
        h
    }

    /// Headers in proxy-wasm's map encoding: a u32 count, a (u32, u32) size
    /// pair per entry, then each name and value followed by NUL; all
    /// little-endian. Malformed input reads as no headers.
    pub fn from_map_bytes(raw: Vec<u8>) -> Headers {
        let entries = Headers::spans(&raw).unwrap_or_default();
        Headers { raw, entries }
    }

    fn spans(raw: &[u8]) -> Option<Vec<[u32; 4]>> {
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = raw.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(u32::from_le_bytes(b))
        };
        let count = word(0)?;
        let mut at = count.checked_mul(8)?.checked_add(4)?;
        let mut out = Vec::with_capacity(usize::try_from(count.min(256)).ok()?);
        for i in 0..count {
            let sizes = usize::try_from(i.checked_mul(8)?.checked_add(4)?).ok()?;
            let (k, v) = (word(sizes)?, word(sizes.checked_add(4)?)?);
            let key_end = at.checked_add(k)?;
            let value_start = key_end.checked_add(1)?;
            let value_end = value_start.checked_add(v)?;
            out.push([at, key_end, value_start, value_end]);
            at = value_end.checked_add(1)?;
        }
        raw.get(..usize::try_from(at.checked_sub(1)?).ok()?)?;
        Some(out)
    }

    fn push(&mut self, bytes: &[u8]) -> (u32, u32) {
        let start = u32::try_from(self.raw.len()).unwrap_or(u32::MAX);
        self.raw.extend_from_slice(bytes);
        (start, u32::try_from(self.raw.len()).unwrap_or(u32::MAX))
    }

    fn bytes(&self, start: u32, end: u32) -> &[u8] {
        let (Ok(s), Ok(e)) = (usize::try_from(start), usize::try_from(end)) else {
            return &[];
        };
        self.raw.get(s..e).unwrap_or_default()
    }

    fn name(&self, entry: &[u32; 4]) -> &[u8] {
        self.bytes(entry[0], entry[1])
    }

    fn value_bytes(&self, entry: &[u32; 4]) -> &[u8] {
        self.bytes(entry[2], entry[3])
    }

    /// Where each of `names` sits, in one pass over the headers (names
    /// compare without regard to case, as HTTP's do).
    pub fn slots<const N: usize>(&self, names: [&str; N]) -> [Slot; N] {
        let mut out = [Slot::default(); N];
        let names: &[&str] = &names;
        let mut index = 0u32;
        for entry in &self.entries {
            let name = self.name(entry);
            if let Some(first) = name.first().map(u8::to_ascii_lowercase) {
                for (slot, wanted) in out.iter_mut().zip(names.iter()) {
                    let wanted = wanted.as_bytes();
                    // Envoy hands names over in lower case: an exact match
                    // first, the case-blind one only when that fails.
                    if wanted.len() == name.len()
                        && wanted.first() == Some(&first)
                        && (name == wanted || name.eq_ignore_ascii_case(wanted))
                    {
                        if slot.count == 0 {
                            slot.first = Some(index);
                        }
                        slot.count = slot.count.saturating_add(1);
                    }
                }
            }
            index = index.wrapping_add(1);
        }
        out
    }

    /// The slot of one header.
    pub fn slot(&self, name: &str) -> Slot {
        let [slot] = self.slots([name]);
        slot
    }

    /// The value of a header that occurs once, or every value joined with
    /// `, ` as HTTP reads a repeated header (a second `Mcp-Name`,
    /// `Content-Encoding` or identity header is judged with the first, never
    /// ignored: something after the filter might read the last one). Bytes
    /// that are not UTF-8 read as a NUL and their hex, so two such values
    /// stay distinct (no header value holds a NUL).
    pub fn value(&self, slot: Slot) -> Option<Cow<'_, str>> {
        let first = self.entries.get(usize::try_from(slot.first?).ok()?)?;
        if slot.count <= 1 {
            return Some(text(self.value_bytes(first)));
        }
        let name = self.name(first);
        let mut joined = String::new();
        for (i, entry) in self
            .entries
            .iter()
            .filter(|e| self.name(e).eq_ignore_ascii_case(name))
            .enumerate()
        {
            // By position, not by what is joined so far: an empty first
            // value still takes its place.
            if i > 0 {
                joined.push_str(", ");
            }
            joined.push_str(&text(self.value_bytes(entry)));
        }
        Some(Cow::Owned(joined))
    }

    /// The value of header `name` (see [`value`](Self::value)).
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.value(self.slot(name))
    }

    /// The first value of a header, as bytes.
    pub fn first_bytes(&self, slot: Slot) -> Option<&[u8]> {
        let first = self.entries.get(usize::try_from(slot.first?).ok()?)?;
        Some(self.value_bytes(first))
    }
}

/// Bytes as text: borrowed when UTF-8, else a NUL and their hex.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            let mut escaped = String::from("\0");
            crate::digest::push_hex(&mut escaped, bytes);
            Cow::Owned(escaped)
        }
    }
}

/// Whether `haystack` holds `needle`, ASCII letters compared without regard
/// to case.
pub fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether a `Content-Type` declares a charset other than UTF-8: `Some`
/// with what it declares. Servers decode a body by its declared charset (the
/// TypeScript SDK's express app does, through iconv), while the filter reads
/// UTF-8: a body it judged would mean something else to the server. Every
/// `charset` in the value counts (in any case, quoted or not, once per
/// parameter); a name normalises as iconv's does (letters and digits only,
/// lower case), so `UTF-8`, `utf8` and `"utf-8"` are UTF-8.
pub fn foreign_charset(content_type: &str) -> Option<String> {
    let bytes = content_type.as_bytes();
    let mut from = 0usize;
    while let Some(at) = find_ignore_case(bytes.get(from..).unwrap_or_default(), b"charset") {
        let after_name = from.saturating_add(at).saturating_add(7);
        from = after_name;
        let after = content_type.get(after_name..).unwrap_or_default();
        let Some(value) = after.trim_start_matches([' ', '\t']).strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start_matches([' ', '\t']);
        let value = value.strip_prefix('"').unwrap_or(value);
        let raw: &str = value
            .split([';', ',', '"', ' ', '\t'])
            .next()
            .unwrap_or_default();
        let utf8 = raw
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
            .eq(b"utf8".iter().copied());
        if !utf8 {
            return Some(raw.to_ascii_lowercase());
        }
    }
    None
}

/// Where `needle` (ASCII) first occurs in `haystack`, case aside.
fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_header_keeps_every_value_in_its_place() {
        let h = Headers::from_pairs(vec![
            (":path".into(), String::new()),
            ("X-A".into(), "1".into()),
            (":PATH".into(), "/mcp".into()),
        ]);
        let path = h.slot(":path");
        assert_eq!(path.count(), 2);
        assert_eq!(h.value(path).as_deref(), Some(", /mcp"));
        assert_eq!(h.first_bytes(path), Some(&b""[..]));
        assert_eq!(h.get("x-a").as_deref(), Some("1"));
    }

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
