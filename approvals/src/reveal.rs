//! What text from a call looks like on the approver's page: every
//! character that could hide, imitate or reorder other text is written as
//! a visible `\u{…}` escape, and the arguments come with what a person
//! should look at twice.
//!
//! Owns: which characters are shown as themselves ([`Chars`]), the escaped
//! HTML of a value ([`literal`]) or plain text ([`visible`]), and the
//! arguments' view ([`arguments`]: indented JSON, the list of keys, the
//! findings). Does not own: the page around them (`html`). Output is HTML
//! already escaped for text and attribute contexts (through `html::esc`).
//!
//! The rule is an allowlist, not a list of known tricks: in keys, tool
//! names and identities only printable ASCII shows as itself; in other
//! values printable ASCII and the letters of a few scripts (Latin, Greek,
//! Cyrillic, Hebrew and Arabic letters, kana, CJK ideographs, Hangul
//! syllables). Everything else (punctuation and symbols outside ASCII,
//! controls, format and bidi characters, tag characters, variation
//! selectors, combining marks, fillers, private use, unassigned code
//! points, other scripts, emoji) is escaped. In the arguments, a run of
//! [`SPACE_RUN`] or more spaces is shown as one marker (`⟨400 spaces⟩`).

use std::collections::HashMap;

use crate::html::esc;

/// Which characters of a value are shown as themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chars {
    /// Printable ASCII only (U+0020–U+007E): object keys, tool names,
    /// identities, digests. A key that only looks like another is a
    /// different argument.
    Ascii,
    /// Printable ASCII and the allowlisted letters
    /// ([`allowed_letter`]): string values, grant, rule, reason, session,
    /// request id.
    Text,
}

/// Whether `c` is shown as itself under `chars`.
pub fn as_is(c: char, chars: Chars) -> bool {
    matches!(c, ' '..='~') || (chars == Chars::Text && allowed_letter(c))
}

/// The non-ASCII characters a value may show as themselves: assigned
/// letters and digits of a few blocks, and nothing else of them: no
/// punctuation or symbols outside ASCII (U+05F4 GERSHAYIM looks like `"`,
/// U+05C3 SOF PASUQ like `:`, U+037E like `;`, U+30A0 like `=`: a value
/// could paint JSON it does not contain), no combining marks, points,
/// format characters or bidi controls. The soft hyphen (U+00AD), no-break
/// space (U+00A0), the Arabic letter mark (U+061C) and CJK punctuation
/// (U+3000–U+303F) are not among them.
pub fn allowed_letter(c: char) -> bool {
    matches!(u32::from(c),
        // Latin-1 supplement: its letters only (ª µ º and U+00C0–U+00FF
        // without × and ÷); its punctuation and symbols (¡ « ° ´ · ¿ ...)
        // are escaped.
        0x00AA | 0x00B5 | 0x00BA | 0x00C0..=0x00D6 | 0x00D8..=0x00F6 | 0x00F8..=0x00FF
        // Latin extended A and B, without the click letters ǀ ǁ ǂ ǃ that
        // look like `|`, `‖`, `≠` and `!`.
        | 0x0100..=0x01BF | 0x01C4..=0x024F
        // Greek and Coptic letters: not the numeral signs (U+0374–0375),
        // the question mark (U+037E, a `;`), tonos (U+0384–0385), ano
        // teleia (U+0387, a `·`) or U+03F6.
        | 0x0370..=0x0373 | 0x0376..=0x0377 | 0x037B..=0x037D | 0x037F | 0x0386
        | 0x0388..=0x038A | 0x038C | 0x038E..=0x03A1 | 0x03A3..=0x03F5 | 0x03F7..=0x03FF
        // Cyrillic letters, without the thousands sign (U+0482) and the
        // combining titlo and enclosing signs.
        | 0x0400..=0x0481 | 0x048A..=0x04FF
        // Hebrew letters and ligatures only: no points, cantillation or
        // punctuation (maqaf U+05BE, paseq U+05C0, sof pasuq U+05C3,
        // nun hafukha U+05C6, geresh U+05F3, gershayim U+05F4).
        | 0x05D0..=0x05EA | 0x05F0..=0x05F2
        // Arabic letters only: no format characters (U+0600–0605, U+06DD),
        // letter mark (U+061C), harakat or superscript alef (U+0670),
        // punctuation (comma U+060C, semicolon U+061B, question mark
        // U+061F, U+066A–066D, full stop U+06D4) or digits (U+0660–0669,
        // U+06F0–06F9: ٠ and ۰ look like a dot).
        | 0x0620..=0x064A | 0x066E..=0x066F | 0x0671..=0x06D3 | 0x06D5
        // Hiragana and katakana letters and length and iteration marks:
        // not the combining or spacing sound marks (U+3099–309C), the
        // double hyphen (U+30A0, a `=`) or the middle dot (U+30FB).
        | 0x3041..=0x3096 | 0x309D..=0x309F | 0x30A1..=0x30FA | 0x30FC..=0x30FF
        // CJK unified ideographs.
        | 0x4E00..=0x9FFF
        // Hangul syllables (not the fillers U+115F, U+1160, U+3164, U+FFA0).
        | 0xAC00..=0xD7A3)
}

/// A run of this many spaces or more in a string value is shown as one
/// marker (`⟨400 spaces⟩`): spaces in the arguments' `pre-wrap` block can
/// push what follows them to a line of its own, where it reads as another
/// member.
pub const SPACE_RUN: usize = 4;

/// The marker that stands for a run of `n` spaces.
fn space_run(n: usize) -> String {
    format!(r#"<span class="u ws">⟨{n} spaces⟩</span>"#)
}

/// A finding about runs of spaces (their lengths, in order) in `what`.
fn runs_finding(what: &str, runs: &[usize]) -> String {
    match runs {
        [n] => format!(
            "{what} contains a run of {n} spaces, shown as {}: text after it can look like a line of its own.",
            space_run(*n)
        ),
        _ => format!(
            "{what} contains {} runs of {SPACE_RUN} or more spaces (the longest {}), each shown as <span class=\"u ws\">⟨… spaces⟩</span>: text after them can look like a line of its own.",
            runs.len(),
            runs.iter().max().copied().unwrap_or_default()
        ),
    }
}

/// `\u{435}`: how a character not shown as itself is written.
fn escape(c: char) -> String {
    format!("\\u{{{:x}}}", u32::from(c))
}

/// Marks an escape so it stands out from the text around it.
fn mark(text: &str) -> String {
    format!(r#"<span class="u">{}</span>"#, esc(text))
}

/// Plain text (a page title, a log): every character not shown as itself
/// written as `\u{…}`.
pub fn visible(text: &str, chars: Chars) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if as_is(c, chars) {
            out.push(c);
        } else {
            out.push_str(&escape(c));
        }
    }
    out
}

/// HTML of a value from a call: escaped, and every character not shown as
/// itself as a marked `\u{…}`.
pub fn literal(text: &str, chars: Chars) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut plain = [0u8; 4];
    for c in text.chars() {
        if as_is(c, chars) {
            out.push_str(&esc(c.encode_utf8(&mut plain)));
        } else {
            out.push_str(&mark(&escape(c)));
        }
    }
    out
}

/// [`literal`] keeping line breaks (a person's denial reason, shown with
/// `white-space: pre-wrap`).
pub fn literal_lines(text: &str, chars: Chars) -> String {
    text.split('\n')
        .map(|line| literal(line, chars))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many characters of `text` are not shown as themselves.
pub fn hidden(text: &str, chars: Chars) -> usize {
    text.chars().filter(|&c| !as_is(c, chars)).count()
}

/// The arguments as the page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arguments {
    /// The JSON indented (HTML): every token as sent (numbers with all
    /// their digits, strings with their escapes, members in their order),
    /// with the characters not shown as themselves marked.
    pub html: String,
    /// The top-level keys in order, decoded, each as HTML by [`Chars::Ascii`].
    pub keys: Vec<String>,
    /// What to look at twice, each one sentence of HTML.
    pub findings: Vec<String>,
}

/// More findings than this are summed up in one line.
const MAX_FINDINGS: usize = 40;

/// Reads the arguments' JSON (an object, as the binding has it) for the page.
pub fn arguments(raw: &str) -> Arguments {
    // The binding was read by serde_json, so this holds; a value that is
    // not JSON is shown as text rather than guessed at.
    if serde_json::from_str::<serde::de::IgnoredAny>(raw).is_err() {
        return Arguments {
            html: literal(raw, Chars::Text),
            keys: Vec::new(),
            findings: vec!["The arguments are not valid JSON; they are shown as stored.".into()],
        };
    }
    let mut r = Render {
        src: raw.as_bytes(),
        text: raw,
        pos: 0,
        out: String::with_capacity(raw.len() * 2),
        findings: Vec::new(),
        key_findings: Vec::new(),
        keys: Vec::new(),
    };
    r.value(0, None);
    // Keys first: a look-alike key is the likelier trick.
    let mut findings = r.key_findings;
    findings.append(&mut r.findings);
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(format!("… and {more} more findings like these."));
    }
    Arguments {
        html: r.out,
        keys: r.keys,
        findings,
    }
}

/// A string token: its decoded text, its HTML, how many of its
/// characters were marked and the runs of spaces shown as a marker.
struct Token {
    decoded: String,
    html: String,
    marked: usize,
    /// The length of each run of [`SPACE_RUN`] or more spaces, in order.
    runs: Vec<usize>,
}

impl Token {
    /// Writes the run of `*spaces` spaces just read: as themselves when
    /// short, as one marker when long.
    fn spaces(&mut self, spaces: &mut usize) {
        let n = std::mem::take(spaces);
        if n >= SPACE_RUN {
            self.html.push_str(&space_run(n));
            self.runs.push(n);
        } else {
            self.html.extend(std::iter::repeat_n(' ', n));
        }
    }
}

/// What the tag characters (U+E0020–U+E007E, invisible ASCII) of `text`
/// spell, if it has any: a hidden instruction reads as one.
fn tag_text(text: &str) -> String {
    text.chars()
        .filter_map(|c| match u32::from(c) {
            t @ 0xE0020..=0xE007E => char::from_u32(t - 0xE0000),
            _ => None,
        })
        .collect()
}

/// Where a value sits, for a finding: `None` is the arguments object itself.
type Path<'p> = Option<&'p str>;

struct Render<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    out: String,
    /// About values.
    findings: Vec<String>,
    /// About keys.
    key_findings: Vec<String>,
    keys: Vec<String>,
}

impl Render<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    fn value(&mut self, depth: usize, path: Path<'_>) {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(depth, path),
            Some(b'[') => self.array(depth, path),
            Some(b'"') => {
                let token = self.string(Chars::Text);
                self.out.push_str(&token.html);
                if !token.runs.is_empty() {
                    let what = format!("Value of {}", place(path));
                    self.findings.push(runs_finding(&what, &token.runs));
                }
                if token.marked > 0 {
                    let n = token.marked;
                    let tags = tag_text(&token.decoded);
                    let spelled = if tags.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " Its invisible tag characters spell <code>{}</code>.",
                            esc(&tags)
                        )
                    };
                    self.findings.push(format!(
                        "Value of {} contains {n} character{} shown as <span class=\"u\">\\u{{…}}</span> (invisible, look-alike or unusual).{spelled}",
                        place(path),
                        if n == 1 { "" } else { "s" }
                    ));
                }
            }
            Some(_) => {
                // A number or a literal: ASCII, kept exactly.
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b']' | b'}') && !b.is_ascii_whitespace())
                {
                    self.pos += 1;
                }
                let token = self.text.get(start..self.pos).unwrap_or_default();
                self.out.push_str(&literal(token, Chars::Ascii));
            }
            None => {}
        }
    }

    fn object(&mut self, depth: usize, path: Path<'_>) {
        self.pos += 1;
        self.out.push('{');
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.out.push('}');
            return;
        }
        let mut keys: Vec<String> = Vec::new();
        let mut runs: Vec<Vec<usize>> = Vec::new();
        loop {
            self.newline(depth + 1);
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return;
            }
            let key = self.string(Chars::Ascii);
            self.out.push_str(&key.html);
            self.out.push_str(": ");
            self.skip_ws();
            if self.peek() == Some(b':') {
                self.pos += 1;
            }
            let shown = literal(&key.decoded, Chars::Ascii);
            let child = match path {
                None => shown.clone(),
                Some(p) => format!("{p}.{shown}"),
            };
            self.value(depth + 1, Some(&child));
            if path.is_none() {
                self.keys.push(shown);
            }
            keys.push(key.decoded);
            runs.push(key.runs);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.out.push(',');
                }
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return,
            }
        }
        self.newline(depth);
        self.out.push('}');
        self.key_findings(&keys, &runs, path);
    }

    fn array(&mut self, depth: usize, path: Path<'_>) {
        self.pos += 1;
        self.out.push('[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.out.push(']');
            return;
        }
        let mut i = 0usize;
        loop {
            self.newline(depth + 1);
            let child = format!("{}[{i}]", path.unwrap_or_default());
            self.value(depth + 1, Some(&child));
            i += 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.out.push(',');
                }
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => return,
            }
        }
        self.newline(depth);
        self.out.push(']');
    }

    /// A string token at `pos`, shown by `chars`: a raw character not shown
    /// as itself becomes a marked `\u{…}`; a JSON `\u` escape of one stays
    /// as written, marked.
    fn string(&mut self, chars: Chars) -> Token {
        let mut t = Token {
            decoded: String::new(),
            html: String::from("&quot;"),
            marked: 0,
            runs: Vec::new(),
        };
        // Spaces read and not yet written.
        let mut spaces = 0usize;
        self.pos += 1;
        let rest = self.text.get(self.pos..).unwrap_or_default();
        let mut it = rest.char_indices().peekable();
        let mut plain = [0u8; 4];
        while let Some((at, c)) = it.next() {
            if c == ' ' {
                t.decoded.push(c);
                spaces += 1;
                continue;
            }
            t.spaces(&mut spaces);
            match c {
                '"' => {
                    self.pos += at + 1;
                    t.html.push_str("&quot;");
                    return t;
                }
                '\\' => {
                    let Some((_, e)) = it.next() else { break };
                    if e != 'u' {
                        let decoded = match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            other => other,
                        };
                        t.decoded.push(decoded);
                        t.html.push('\\');
                        t.html.push_str(&esc(e.encode_utf8(&mut plain)));
                        continue;
                    }
                    let unit = |s: &str| u32::from_str_radix(s, 16).ok();
                    let first = rest.get(at + 2..at + 6).and_then(unit);
                    let mut len = 6;
                    let decoded = match first {
                        Some(hi @ 0xD800..=0xDBFF) => {
                            let low = rest
                                .get(at + 6..at + 8)
                                .filter(|s| *s == "\\u")
                                .and_then(|_| rest.get(at + 8..at + 12))
                                .and_then(unit)
                                .filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                            match low {
                                Some(lo) => {
                                    len = 12;
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                }
                                None => None,
                            }
                        }
                        Some(u) => char::from_u32(u),
                        None => None,
                    };
                    let written = rest.get(at..at + len).unwrap_or_default();
                    // `\n` and `\t` read as what they are; any other
                    // escaped character is marked unless shown as itself.
                    let benign = decoded.is_some_and(|d| as_is(d, chars) || d == '\n' || d == '\t');
                    if benign {
                        t.html.push_str(&esc(written));
                    } else {
                        t.html.push_str(&mark(written));
                        t.marked += 1;
                    }
                    t.decoded.push(decoded.unwrap_or('\u{fffd}'));
                    // Past the escape's remaining characters.
                    while it.peek().is_some_and(|&(next, _)| next < at + len) {
                        it.next();
                    }
                }
                c if as_is(c, chars) => {
                    t.decoded.push(c);
                    t.html.push_str(&esc(c.encode_utf8(&mut plain)));
                }
                c => {
                    t.decoded.push(c);
                    t.html.push_str(&mark(&escape(c)));
                    t.marked += 1;
                }
            }
        }
        // Unterminated (not JSON): the rest was shown.
        t.spaces(&mut spaces);
        self.pos = self.src.len();
        t
    }

    /// Keys that are not plain ASCII, and keys that are the same or look
    /// the same as an earlier key of the object.
    fn key_findings(&mut self, keys: &[String], runs: &[Vec<usize>], path: Path<'_>) {
        let of = match path {
            None => "the arguments".to_owned(),
            Some(p) => format!("<code>{p}</code>"),
        };
        let mut exact: HashMap<&str, usize> = HashMap::new();
        let mut folded: HashMap<String, usize> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            let n = i + 1;
            let shown = literal(key, Chars::Ascii);
            if !key.is_ascii() {
                self.key_findings.push(format!(
                    "Key {n} of {of} contains non-ASCII characters: <code>{shown}</code>."
                ));
            } else if key.chars().any(|c| !as_is(c, Chars::Ascii)) {
                self.key_findings.push(format!(
                    "Key {n} of {of} contains control characters: <code>{shown}</code>."
                ));
            }
            if let Some(runs) = runs.get(i).filter(|r| !r.is_empty()) {
                self.key_findings
                    .push(runs_finding(&format!("Key {n} of {of}"), runs));
            }
            if let Some(&first) = exact.get(key.as_str()) {
                self.key_findings.push(format!(
                    "Key {n} of {of} repeats key {}: <code>{shown}</code> appears twice, and the tool may read either value.",
                    first + 1
                ));
                continue;
            }
            exact.insert(key, i);
            let fold = fold(key);
            if let Some(&first) = folded.get(&fold) {
                self.key_findings.push(format!(
                    "Keys {} and {n} of {of} look alike: <code>{}</code> and <code>{shown}</code>.",
                    first + 1,
                    literal(&keys[first], Chars::Ascii)
                ));
            } else {
                folded.insert(fold, i);
            }
        }
    }
}

/// `path` for a finding: the top-level key, or a dotted path, as code.
fn place(path: Path<'_>) -> String {
    format!("<code>{}</code>", path.unwrap_or_default())
}

/// What a key looks like: lower case, the Cyrillic and Greek letters that
/// look like Latin ones and full-width forms as those, and any other
/// non-ASCII character dropped.
fn fold(key: &str) -> String {
    key.chars()
        .filter_map(|c| {
            let c = lookalike(c).unwrap_or(c);
            c.is_ascii().then(|| c.to_ascii_lowercase())
        })
        .collect()
}

fn lookalike(c: char) -> Option<char> {
    if ('\u{ff01}'..='\u{ff5e}').contains(&c) {
        return char::from_u32(u32::from(c) - 0xfee0);
    }
    let latin = match c {
        'а' | 'А' | 'α' | 'Α' => 'a',
        'В' | 'Β' | 'в' => 'b',
        'с' | 'С' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ε' | 'Ε' => 'e',
        'Η' | 'Н' | 'һ' => 'h',
        'і' | 'І' | 'ι' | 'Ι' | 'ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' | 'κ' | 'Κ' => 'k',
        'М' | 'Μ' | 'м' => 'm',
        'Ν' | 'η' => 'n',
        'о' | 'О' | 'ο' | 'Ο' | 'σ' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' | 'τ' | 'Τ' => 't',
        'υ' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' => 'w',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'у' | 'У' | 'Υ' | 'γ' => 'y',
        'Ζ' => 'z',
        _ => return None,
    };
    Some(latin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_show_printable_ascii_only() {
        assert_eq!(visible("repo", Chars::Ascii), "repo");
        assert_eq!(visible("r\u{435}po", Chars::Ascii), "r\\u{435}po");
        assert_eq!(visible("caf\u{e9}", Chars::Ascii), "caf\\u{e9}");
        assert_eq!(
            visible("a\nb\u{0}\u{7f}", Chars::Ascii),
            "a\\u{a}b\\u{0}\\u{7f}"
        );
        assert_eq!(
            literal("r\u{435}<po>", Chars::Ascii),
            r#"r<span class="u">\u{435}</span>&lt;po&gt;"#
        );
    }

    #[test]
    fn values_show_letters_of_the_allowlist_and_nothing_that_hides() {
        for shown in [
            "caf\u{e9} na\u{ef}ve \u{f1} \u{df} \u{c0}\u{ff} \u{aa} \u{ba} \u{b5} \u{17e}\u{24f}",
            "\u{3b1}\u{3b2}\u{3b3} \u{39b}",
            "\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}",
            "\u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{5f0}\u{5f2}",
            "\u{645}\u{631}\u{62d}\u{628}\u{627} \u{620}\u{64a}\u{66e}\u{6d3}\u{6d5}",
            "\u{3072}\u{3089}\u{304c}\u{306a} \u{30ab}\u{30bf}\u{30ab}\u{30ca} \u{30b3}\u{30fc}\u{30d2}\u{30fc}",
            "\u{4e2d}\u{6587}",
            "\u{d55c}\u{ad6d}\u{c5b4}",
        ] {
            assert_eq!(visible(shown, Chars::Text), shown);
            assert_eq!(hidden(shown, Chars::Text), 0, "{shown}");
        }
        for hides in [
            '\u{e0041}', // tag LATIN CAPITAL LETTER A
            '\u{e0001}',
            '\u{e007f}',
            '\u{ad}',   // soft hyphen
            '\u{a0}',   // no-break space
            '\u{2028}', // line separator
            '\u{2029}',
            '\u{115f}', // Hangul fillers
            '\u{1160}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{fe00}', // variation selectors
            '\u{fe0f}',
            '\u{e0100}',
            '\u{e01ef}',
            '\u{34f}', // combining grapheme joiner
            '\u{301}', // combining acute
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{61c}', // Arabic letter mark
            '\u{600}', // Arabic number sign (Cf)
            '\u{6dd}',
            '\u{64b}', // fathatan (combining)
            '\u{591}', // Hebrew accent (combining)
            '\u{483}', // Cyrillic titlo (combining)
            '\u{3099}',
            '\u{feff}',
            '\u{2060}',
            '\u{180e}',
            '\u{e000}', // private use
            '\u{f8ff}',
            '\u{f0000}',
            '\u{378}',  // unassigned
            '\u{fdd0}', // noncharacters
            '\u{fffe}',
            '\u{ffff}',
            '\u{10ffff}',
            '\u{1f600}', // emoji
            '\u{0}',
            '\u{7f}',
            '\u{85}',
            '\u{2062}',
            '\u{3000}', // ideographic space
            // Punctuation and symbols outside ASCII: they can imitate the
            // JSON around a value.
            '\u{5f4}', // Hebrew gershayim, a `"`
            '\u{5f3}', // geresh, a `'`
            '\u{5c3}', // sof pasuq, a `:`
            '\u{5be}', // maqaf
            '\u{5c0}', // paseq, a `|`
            '\u{5c6}',
            '\u{5ef}',
            '\u{5f5}',
            '\u{60c}', // Arabic comma
            '\u{61b}', // Arabic semicolon
            '\u{61f}', // Arabic question mark
            '\u{66a}', // Arabic percent sign
            '\u{66b}',
            '\u{66c}',
            '\u{66d}', // Arabic five-pointed star
            '\u{6d4}', // Arabic full stop
            '\u{670}', // superscript alef (combining)
            '\u{660}', // Arabic-Indic digit zero, a dot
            '\u{661}',
            '\u{6f0}',
            '\u{6d6}',
            '\u{a1}',  // ¡
            '\u{a9}',  // ©
            '\u{ab}',  // «
            '\u{b0}',  // °
            '\u{b2}',  // ²
            '\u{b4}',  // ´
            '\u{b7}',  // ·
            '\u{bb}',  // »
            '\u{bd}',  // ½
            '\u{bf}',  // ¿
            '\u{d7}',  // ×
            '\u{f7}',  // ÷
            '\u{1c3}', // Latin letter retroflex click, a `!`
            '\u{1c0}', // dental click, a `|`
            '\u{374}', // Greek numeral sign
            '\u{37e}', // Greek question mark, a `;`
            '\u{387}', // Greek ano teleia, a `·`
            '\u{3f6}',
            '\u{482}',  // Cyrillic thousands sign
            '\u{3001}', // ideographic comma
            '\u{3002}', // ideographic full stop
            '\u{300c}', // corner bracket
            '\u{3005}',
            '\u{303f}',
            '\u{309b}', // katakana-hiragana voiced sound mark
            '\u{30a0}', // katakana-hiragana double hyphen, a `=`
            '\u{30fb}', // katakana middle dot
        ] {
            assert!(!as_is(hides, Chars::Text), "U+{:04X}", u32::from(hides));
            let text = format!("a{hides}b");
            assert_eq!(
                visible(&text, Chars::Text),
                format!("a\\u{{{:x}}}b", u32::from(hides))
            );
        }
        assert_eq!(
            literal_lines("a\nb\u{ad}", Chars::Text),
            "a\nb<span class=\"u\">\\u{ad}</span>"
        );
    }

    #[test]
    fn arguments_keep_every_token_in_order() {
        let raw = r#"{"a":12345678901234567890123,"b":[1, 2,{}],"c":"x,{\"y\":1}","d":[],"e":{"f":null},"g":1.0E+2}"#;
        let view = arguments(raw);
        assert_eq!(
            view.html,
            "{\n  &quot;a&quot;: 12345678901234567890123,\n  &quot;b&quot;: [\n    1,\n    2,\n    {}\n  ],\n  &quot;c&quot;: &quot;x,{\\&quot;y\\&quot;:1}&quot;,\n  &quot;d&quot;: [],\n  &quot;e&quot;: {\n    &quot;f&quot;: null\n  },\n  &quot;g&quot;: 1.0E+2\n}"
        );
        assert_eq!(view.keys, ["a", "b", "c", "d", "e", "g"]);
        assert!(view.findings.is_empty(), "{:?}", view.findings);
        assert_eq!(arguments("{}").html, "{}");
        assert!(arguments("{}").keys.is_empty());
    }

    #[test]
    fn hidden_characters_and_lookalike_keys_are_found() {
        let raw = "{\"r\u{435}po\":\"evil/x\",\"repo\":\"good/y\",\"body\":\"hi\u{e0049}\u{e0047}\u{ad}\u{2028}\u{3164}\u{fe0f}\",\"n\":{\"Repo\":1,\"repo\":2,\"repo\":3},\"e\":\"\\u200b\\u0435\\n\\ud83d\\ude00\"}";
        let view = arguments(raw);
        assert_eq!(
            view.keys,
            [
                "r<span class=\"u\">\\u{435}</span>po",
                "repo",
                "body",
                "n",
                "e"
            ]
        );
        let all = view.findings.join("\n");
        for text in [
            "Key 1 of the arguments contains non-ASCII characters: <code>r<span class=\"u\">\\u{435}</span>po</code>.",
            "Keys 1 and 2 of the arguments look alike: <code>r<span class=\"u\">\\u{435}</span>po</code> and <code>repo</code>.",
            "Value of <code>body</code> contains 6 characters shown as",
            "Keys 1 and 2 of <code>n</code> look alike: <code>Repo</code> and <code>repo</code>.",
            "Key 3 of <code>n</code> repeats key 2: <code>repo</code> appears twice",
            // `\u200b` and the emoji's surrogate pair; not the allowed
            // Cyrillic `\u0435` nor `\n`.
            "Value of <code>e</code> contains 2 characters shown as",
        ] {
            assert!(all.contains(text), "{text}\n{all}");
        }
        assert!(
            all.contains("Its invisible tag characters spell <code>IG</code>."),
            "{all}"
        );
        assert!(view.html.contains(
            "&quot;hi<span class=\"u\">\\u{e0049}</span><span class=\"u\">\\u{e0047}</span><span class=\"u\">\\u{ad}</span><span class=\"u\">\\u{2028}</span><span class=\"u\">\\u{3164}</span><span class=\"u\">\\u{fe0f}</span>&quot;"
        ), "{}", view.html);
        assert!(view.html.contains(
            "&quot;<span class=\"u\">\\u200b</span>\\u0435\\n<span class=\"u\">\\ud83d\\ude00</span>&quot;"
        ), "{}", view.html);
        // Cyrillic in a value is a letter; in a key it is a finding.
        let view = arguments("{\"to\":\"\u{418}\u{432}\u{430}\u{43d}\"}");
        assert!(view.findings.is_empty(), "{:?}", view.findings);
    }

    #[test]
    fn findings_are_bounded() {
        let raw = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"k\u{e9}{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let view = arguments(&raw);
        assert_eq!(view.keys.len(), 100);
        assert_eq!(view.findings.len(), MAX_FINDINGS + 1);
        assert!(view.findings[MAX_FINDINGS].contains("60 more"));
    }

    /// The red-team finding: a value that paints a member line of its own
    /// with spaces and punctuation that looks like JSON's.
    #[test]
    fn a_value_cannot_paint_a_member_line() {
        let value = format!(
            "Routine cleanup.{}\u{5f4}repo\u{5f4}\u{5c3} \u{5f4}acme/sandbox\u{5f4}",
            " ".repeat(400)
        );
        let raw = format!(
            r#"{{"body":{},"repo":"acme/prod"}}"#,
            serde_json::json!(value)
        );
        let view = arguments(&raw);
        let mark = |hex: &str| format!(r#"<span class="u">\u{{{hex}}}</span>"#);
        let painted = format!(
            "&quot;Routine cleanup.<span class=\"u ws\">⟨400 spaces⟩</span>{g}repo{g}{p} {g}acme/sandbox{g}&quot;",
            g = mark("5f4"),
            p = mark("5c3"),
        );
        assert!(view.html.contains(&painted), "{}", view.html);
        assert!(!view.html.contains("    "), "{}", view.html);
        let all = view.findings.join("\n");
        for text in [
            "Value of <code>body</code> contains a run of 400 spaces, shown as <span class=\"u ws\">⟨400 spaces⟩</span>",
            "Value of <code>body</code> contains 5 characters shown as",
        ] {
            assert!(all.contains(text), "{text}\n{all}");
        }
    }

    #[test]
    fn runs_of_spaces_are_counted_and_short_ones_kept() {
        // Three spaces are text; four are a run, wherever they are.
        let view =
            arguments(r#"{"a":"x   y","b":"    x      ","c":["   ","\u0020\u0020\u0020\u0020"]}"#);
        assert!(view.html.contains("&quot;x   y&quot;"), "{}", view.html);
        assert!(
            view.html.contains(
                "&quot;<span class=\"u ws\">⟨4 spaces⟩</span>x<span class=\"u ws\">⟨6 spaces⟩</span>&quot;"
            ),
            "{}",
            view.html
        );
        // Escaped spaces are written as escapes: nothing blank to hide behind.
        assert!(view.html.contains("&quot;   &quot;"), "{}", view.html);
        assert!(view
            .html
            .contains(r#"&quot;\u0020\u0020\u0020\u0020&quot;"#));
        assert_eq!(
            view.findings,
            ["Value of <code>b</code> contains 2 runs of 4 or more spaces (the longest 6), each shown as <span class=\"u ws\">⟨… spaces⟩</span>: text after them can look like a line of its own."]
        );
        // In a key too.
        let view = arguments(r#"{"a     b":1}"#);
        assert!(view
            .html
            .contains("&quot;a<span class=\"u ws\">⟨5 spaces⟩</span>b&quot;: 1"));
        assert!(view.findings[0].starts_with("Key 1 of the arguments contains a run of 5 spaces"));
        // No run, no finding.
        assert!(arguments(r#"{"a":"one two  three   four"}"#)
            .findings
            .is_empty());
    }

    #[test]
    fn folding_finds_the_usual_lookalikes() {
        assert_eq!(fold("r\u{435}po"), "repo");
        assert_eq!(fold("REPO"), "repo");
        assert_eq!(fold("re\u{200b}po"), "repo");
        assert_eq!(fold("\u{ff52}epo"), "repo");
        assert_eq!(fold("\u{3c1}\u{3bf}"), "po");
    }
}
