//! A structure-aware generator of JSON-RPC request bodies, mostly
//! `tools/call`, from the fuzzer's bytes (`arbitrary::Unstructured`).
//!
//! It writes the text itself, so it can write what serializers never do:
//! names and keys with `\u` escapes (`"n\u0061me"`), escaped slashes,
//! surrogate pairs and lone surrogates, raw control characters, invalid
//! UTF-8, duplicate keys (plain or escaped differently), numbers of every
//! form (huge, negative, `-0`, exponents, out of range, 2^53 + 1), deep
//! nesting, batches of requests, notifications and responses, then a few
//! byte mutations. Tool names, argument keys and values are drawn mostly
//! from those the fuzz policies test, so conditions are reached.

use arbitrary::{Result, Unstructured};

pub const TOOLS: &[&str] = &[
    "pay",
    "search",
    "deploy",
    "read",
    "delete",
    "secret_tool",
    "create_charge",
    "delete_customer",
    "query",
    "send_email",
    "drop_db",
    "echo",
    "shell",
    "approve_me",
    "unknown_tool",
    "*",
    "tools/call",
];

pub const KEYS: &[&str] = &[
    "amount",
    "currency",
    "memo",
    "to",
    "query",
    "limit",
    "tags",
    "filter",
    "kind",
    "level",
    "path",
    "items",
    "id",
    "missing",
    "sql",
    "table",
    "page_size",
    "cc",
    "user",
    "0",
    "a",
    "Amount",
    "QUERY",
    "ma\u{212a}",
];

pub const STRINGS: &[&str] = &[
    "usd",
    "eur",
    "gbp",
    "USD",
    "acct_1",
    "acct_2",
    "acct_9",
    "drop table users",
    "DROP \t TABLE users",
    "dropTable",
    "admin",
    "administrator",
    "password",
    "my password is hunter2",
    "/etc/shadow",
    "/etc/passwd",
    "/proc/self/environ",
    "select * from t",
    "  SELECT 1",
    "selection",
    "delete from t",
    "users",
    "secrets",
    "bob@example.com",
    "eve@evil.com",
    "root",
    "x",
    "",
    "2.0",
    "tools/call",
    "sk_live_0123456789abcdef",
];

pub const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0.0",
    "1",
    "-1",
    "1e2",
    "1E+2",
    "2",
    "3",
    "3.0",
    "2.5",
    "1000",
    "1000.0001",
    "50000",
    "50000.0",
    "5e4",
    "50000.000000000001",
    "50000.00000001",
    "50001",
    "49999.99",
    "100000",
    "100000.5",
    "99",
    "99.999999",
    "100",
    "1000000",
    "-9007199254740993",
    "-9007199254740992.0",
    "-9007199254740994",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "1e308",
    "1.7976931348623157e308",
    "1e400",
    "-1e400",
    "1e-400",
    "4.9e-324",
    "1e-7",
    "123456789012345678901234567890",
    "0.1",
    "-1.5",
    "01",
    "1.",
    ".5",
    "+1",
    "NaN",
    "Infinity",
];

/// What the generated body is, for the targets' oracles.
#[derive(Debug, Default)]
pub struct Made {
    pub text: Vec<u8>,
    /// The generator wrote something no strict reader accepts (it may also
    /// happen by chance; the reference reader is the judge of that).
    pub broken: bool,
    /// Bytes were mutated after writing.
    pub mutated: bool,
}

pub struct Gen<'u, 'd> {
    u: &'u mut Unstructured<'d>,
    out: Vec<u8>,
    broken: bool,
    budget: usize,
}

impl<'u, 'd> Gen<'u, 'd> {
    pub fn new(u: &'u mut Unstructured<'d>) -> Self {
        Gen {
            u,
            out: Vec::new(),
            broken: false,
            budget: 400,
        }
    }

    /// A whole body: one message or a batch, then maybe some mutations.
    pub fn body(mut self) -> Result<Made> {
        let batch = self.chance(1, 5)?;
        if batch {
            self.out.push(b'[');
            let n = self.u.int_in_range(0..=6)?;
            for i in 0..n {
                if i > 0 {
                    self.comma()?;
                }
                self.message()?;
            }
            self.out.push(b']');
        } else {
            self.message()?;
        }
        self.ws()?;
        let mutated = self.mutate()?;
        Ok(Made {
            text: self.out,
            broken: self.broken,
            mutated,
        })
    }

    fn chance(&mut self, n: u8, of: u8) -> Result<bool> {
        Ok(self.u.int_in_range(0..=of - 1)? < n)
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> Result<&'a str> {
        Ok(*self.u.choose(from)?)
    }

    fn ws(&mut self) -> Result<()> {
        if self.chance(1, 8)? {
            let w = self.pick(&[" ", "\n", "\t", "\r\n", "  "])?;
            self.out.extend_from_slice(w.as_bytes());
        }
        Ok(())
    }

    fn comma(&mut self) -> Result<()> {
        self.ws()?;
        self.out.push(b',');
        self.ws()
    }

    fn colon(&mut self) -> Result<()> {
        self.ws()?;
        self.out.push(b':');
        self.ws()
    }

    /// One message: a `tools/call` most of the time.
    fn message(&mut self) -> Result<()> {
        let kind = self.u.int_in_range(0..=11)?;
        let mut members: Vec<Member> = Vec::new();
        if !self.chance(1, 40)? {
            members.push(Member::Fixed("jsonrpc", Val::Text("2.0")));
        }
        match kind {
            0..=6 => {
                members.push(Member::Fixed("id", Val::Id));
                members.push(Member::Fixed("method", Val::Text("tools/call")));
                members.push(Member::Fixed("params", Val::Params));
            }
            7 => {
                let method = self.pick(&[
                    "tools/list",
                    "initialize",
                    "resources/read",
                    "prompts/get",
                    "ping",
                ])?;
                members.push(Member::Fixed("id", Val::Id));
                members.push(Member::Fixed("method", Val::Text(method)));
                if self.chance(1, 2)? {
                    members.push(Member::Fixed("params", Val::Any));
                }
            }
            8 => {
                let method = self.pick(&[
                    "notifications/initialized",
                    "notifications/cancelled",
                    "tools/call",
                ])?;
                members.push(Member::Fixed("method", Val::Text(method)));
                if self.chance(1, 2)? {
                    members.push(Member::Fixed("params", Val::Params));
                }
            }
            9 => {
                members.push(Member::Fixed("id", Val::Id));
                let which = if self.chance(1, 2)? {
                    "result"
                } else {
                    "error"
                };
                members.push(Member::Fixed(which, Val::Any));
            }
            _ => {
                // Odd envelopes: any mix of members, with any values.
                for name in ["id", "method", "params", "result", "error", "extra"] {
                    if self.chance(1, 2)? {
                        let val = match name {
                            "method" => Val::Text(self.pick(&["tools/call", "tools/list", "x"])?),
                            "params" => Val::Params,
                            _ => Val::Any,
                        };
                        members.push(Member::Fixed(name, val));
                    }
                }
            }
        }
        self.object(members)
    }

    fn object(&mut self, mut members: Vec<Member>) -> Result<()> {
        // Shuffle a little: member order must not matter.
        let n = members.len();
        if n > 1 {
            for i in 0..n {
                let j = self.u.int_in_range(0..=n - 1)?;
                members.swap(i, j);
            }
        }
        // Sometimes a member twice, spelt the same or escaped differently.
        if n > 0 && self.chance(1, 16)? {
            let i = self.u.int_in_range(0..=n - 1)?;
            let again = match members[i].clone() {
                // Or spelt in another case, which Go servers read as the same.
                Member::Fixed(name, val) if self.chance(1, 2)? => {
                    Member::Case(name.to_uppercase(), val)
                }
                Member::Arg(key) if self.chance(1, 2)? => Member::Arg(key.to_uppercase()),
                m => m,
            };
            members.push(again);
        }
        self.out.push(b'{');
        self.ws()?;
        for (i, m) in members.into_iter().enumerate() {
            if i > 0 {
                self.comma()?;
            }
            match m {
                Member::Fixed(name, val) => {
                    self.string(name, true)?;
                    self.colon()?;
                    self.val(val)?;
                }
                Member::Case(name, val) => {
                    self.string(&name, true)?;
                    self.colon()?;
                    self.val(val)?;
                }
                Member::Arg(key) => {
                    self.string(&key, true)?;
                    self.colon()?;
                    self.value(3)?;
                }
            }
        }
        self.ws()?;
        if self.chance(1, 200)? {
            self.out.push(b',');
            self.broken = true;
        }
        self.out.push(b'}');
        Ok(())
    }

    /// Keys drawn twice are kept twice only sometimes.
    fn distinct_keys(&mut self, members: &mut Vec<Member>) -> Result<()> {
        if self.chance(1, 8)? {
            return Ok(());
        }
        let mut seen: Vec<String> = Vec::new();
        members.retain(|m| match m {
            Member::Arg(k) if seen.contains(k) => false,
            Member::Arg(k) => {
                seen.push(k.clone());
                true
            }
            Member::Fixed(..) | Member::Case(..) => true,
        });
        Ok(())
    }

    fn val(&mut self, v: Val) -> Result<()> {
        match v {
            Val::Text(s) => {
                if self.chance(1, 30)? {
                    // Another method or version than the one meant.
                    let s = self.pick(&["tools/call ", "Tools/call", "tools/cal", "2.00", "2"])?;
                    self.string(s, true)
                } else {
                    self.string(s, true)
                }
            }
            Val::Id => match self.u.int_in_range(0..=9)? {
                0..=3 => self.number(),
                4..=7 => {
                    let s = self.any_string()?;
                    self.string(&s, true)
                }
                8 => self.raw("null"),
                _ => self.value(1),
            },
            Val::Params => {
                if self.chance(1, 25)? {
                    return self.value(2);
                }
                let mut members = Vec::new();
                if !self.chance(1, 25)? {
                    members.push(Member::Fixed("name", Val::Tool));
                }
                if !self.chance(1, 8)? {
                    members.push(Member::Fixed("arguments", Val::Arguments));
                }
                if self.chance(1, 6)? {
                    members.push(Member::Fixed("_meta", Val::Any));
                }
                self.object(members)
            }
            Val::Tool => {
                if self.chance(1, 12)? {
                    return self.value(1);
                }
                let name = if self.chance(1, 6)? {
                    self.any_string()?
                } else {
                    self.pick(TOOLS)?.to_owned()
                };
                self.string(&name, true)
            }
            Val::Arguments => {
                match self.u.int_in_range(0..=30)? {
                    0 => return self.raw("null"),
                    1 => return self.value(2),
                    2 => return self.deep(),
                    _ => {}
                }
                let n = self.u.int_in_range(0..=6)?;
                let mut members = Vec::new();
                for _ in 0..n {
                    let key = if self.chance(1, 6)? {
                        self.any_string()?
                    } else {
                        self.pick(KEYS)?.to_owned()
                    };
                    members.push(Member::Arg(key));
                }
                self.distinct_keys(&mut members)?;
                self.object(members)
            }
            Val::Any => self.value(3),
        }
    }

    /// Any JSON value, nesting at most `depth` more levels.
    fn value(&mut self, depth: usize) -> Result<()> {
        self.budget = self.budget.saturating_sub(1);
        let top = if depth == 0 || self.budget == 0 { 3 } else { 5 };
        match self.u.int_in_range(0..=top)? {
            0 => {
                let s = self.pick(&["null", "true", "false"])?;
                self.raw(s)
            }
            1 => self.number(),
            2 | 3 => {
                let s = if self.chance(1, 3)? {
                    self.any_string()?
                } else {
                    self.pick(STRINGS)?.to_owned()
                };
                self.string(&s, true)
            }
            4 => {
                self.out.push(b'[');
                let n = self.u.int_in_range(0..=4)?;
                for i in 0..n {
                    if i > 0 {
                        self.comma()?;
                    }
                    self.value(depth - 1)?;
                }
                self.out.push(b']');
                Ok(())
            }
            _ => {
                if self.chance(1, 40)? {
                    return self.deep();
                }
                let n = self.u.int_in_range(0..=4)?;
                let mut members = Vec::new();
                for _ in 0..n {
                    let key = if self.chance(1, 4)? {
                        self.any_string()?
                    } else {
                        self.pick(KEYS)?.to_owned()
                    };
                    members.push(Member::Arg(key));
                }
                self.distinct_keys(&mut members)?;
                // Nested values nest less.
                self.out.push(b'{');
                for (i, m) in members.into_iter().enumerate() {
                    if i > 0 {
                        self.comma()?;
                    }
                    if let Member::Arg(key) = m {
                        self.string(&key, true)?;
                        self.colon()?;
                        self.value(depth - 1)?;
                    }
                }
                self.out.push(b'}');
                Ok(())
            }
        }
    }

    /// Nesting around the reader's limit (128).
    fn deep(&mut self) -> Result<()> {
        let n = self.u.int_in_range(100..=140)?;
        let objects = self.chance(1, 2)?;
        for _ in 0..n {
            self.out
                .extend_from_slice(if objects { b"{\"a\":" } else { b"[" });
        }
        self.number()?;
        for _ in 0..n {
            self.out.push(if objects { b'}' } else { b']' });
        }
        Ok(())
    }

    fn raw(&mut self, s: &str) -> Result<()> {
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn number(&mut self) -> Result<()> {
        match self.u.int_in_range(0..=5)? {
            0 | 1 => {
                let s = self.pick(NUMBERS)?;
                if matches!(
                    s,
                    "01" | "1." | ".5" | "+1" | "NaN" | "Infinity" | "1e400" | "-1e400"
                ) {
                    self.broken = true;
                }
                self.raw(s)
            }
            2 => {
                let v: u64 = self.u.arbitrary()?;
                self.raw(&v.to_string())
            }
            3 => {
                let v: i64 = self.u.arbitrary()?;
                self.raw(&v.to_string())
            }
            4 => {
                let v: f64 = self.u.arbitrary()?;
                if v.is_finite() {
                    self.raw(&format!("{v:e}"))
                } else {
                    self.raw("0.5")
                }
            }
            _ => {
                // A long literal: many digits, maybe a fraction and exponent.
                let digits = self.u.int_in_range(1..=40)?;
                if self.chance(1, 2)? {
                    self.out.push(b'-');
                }
                let first = self.u.int_in_range(b'1'..=b'9')?;
                self.out.push(first);
                for _ in 1..digits {
                    let d = self.u.int_in_range(b'0'..=b'9')?;
                    self.out.push(d);
                }
                if self.chance(1, 3)? {
                    self.out.push(b'.');
                    let d = self.u.int_in_range(b'0'..=b'9')?;
                    self.out.push(d);
                }
                if self.chance(1, 3)? {
                    let e: i16 = self.u.int_in_range(-400..=400)?;
                    self.out.extend_from_slice(format!("e{e}").as_bytes());
                }
                Ok(())
            }
        }
    }

    /// Any string: arbitrary text, with a chance of the characters escapes
    /// and readers treat differently.
    fn any_string(&mut self) -> Result<String> {
        let mut s: String = self.u.arbitrary()?;
        if s.len() > 64 {
            let mut cut = 64;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        if self.chance(1, 4)? {
            let extra = self.pick(&[
                "\u{0}",
                "\u{1F512}",
                "\u{FEFF}",
                "é",
                "\u{2028}",
                "\"",
                "\\",
                "/",
                "\u{7F}",
                "\u{D7FF}",
                "\u{E000}",
                "\u{10FFFF}",
            ])?;
            s.push_str(extra);
        }
        Ok(s)
    }

    /// Writes `s` as a JSON string, in one of several spellings: plain,
    /// every character escaped, some escaped, or broken on purpose.
    fn string(&mut self, s: &str, allow_broken: bool) -> Result<()> {
        let mode = self.u.int_in_range(0..=15)?;
        self.out.push(b'"');
        for c in s.chars() {
            let escape_this = match mode {
                0..=9 => false,
                10 | 11 => true,
                _ => self.chance(1, 3)?,
            };
            if escape_this {
                self.escaped_char(c)?;
            } else {
                self.plain_char(c);
            }
        }
        if allow_broken && mode == 15 && self.chance(1, 4)? {
            // Broken on purpose: a lone surrogate, a raw control character,
            // a bad escape, or bytes that are not UTF-8.
            let bad = self.pick(&["\\ud800", "\\udc00x", "\u{1}", "\\x41", "\\u12", "\u{FF}"])?;
            if bad == "\u{FF}" {
                self.out.push(0xFF);
            } else {
                self.out.extend_from_slice(bad.as_bytes());
            }
            self.broken = true;
        }
        self.out.push(b'"');
        Ok(())
    }

    fn plain_char(&mut self, c: char) {
        match c {
            '"' => self.out.extend_from_slice(b"\\\""),
            '\\' => self.out.extend_from_slice(b"\\\\"),
            '\n' => self.out.extend_from_slice(b"\\n"),
            '\t' => self.out.extend_from_slice(b"\\t"),
            '\r' => self.out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => self
                .out
                .extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }

    fn escaped_char(&mut self, c: char) -> Result<()> {
        if c == '/' && self.chance(1, 2)? {
            self.out.extend_from_slice(b"\\/");
            return Ok(());
        }
        let mut units = [0u16; 2];
        let upper = self.chance(1, 2)?;
        for unit in c.encode_utf16(&mut units) {
            let text = if upper {
                format!("\\u{:04X}", unit)
            } else {
                format!("\\u{:04x}", unit)
            };
            self.out.extend_from_slice(text.as_bytes());
        }
        Ok(())
    }

    /// A few byte mutations, rarely: the generated body almost valid.
    fn mutate(&mut self) -> Result<bool> {
        if !self.chance(1, 10)? || self.out.is_empty() {
            return Ok(false);
        }
        let n = self.u.int_in_range(1..=3)?;
        for _ in 0..n {
            if self.out.is_empty() {
                break;
            }
            let at = self.u.int_in_range(0..=self.out.len() - 1)?;
            match self.u.int_in_range(0..=3)? {
                0 => {
                    let b: u8 = self.u.arbitrary()?;
                    self.out[at] = b;
                }
                1 => {
                    let b = *self.u.choose(&[
                        b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', b'0', 0, 0xFF, b'-', b'e',
                    ])?;
                    self.out.insert(at, b);
                }
                2 => {
                    let end = self.u.int_in_range(at..=self.out.len())?;
                    self.out.drain(at..end);
                }
                _ => {
                    let end = self.u.int_in_range(at..=self.out.len())?;
                    let piece = self.out[at..end].to_vec();
                    let to = self.u.int_in_range(0..=self.out.len())?;
                    self.out.splice(to..to, piece);
                }
            }
        }
        Ok(true)
    }
}

#[derive(Debug, Clone)]
enum Member {
    Fixed(&'static str, Val),
    Case(String, Val),
    Arg(String),
}

#[derive(Debug, Clone, Copy)]
enum Val {
    Text(&'static str),
    Id,
    Params,
    Tool,
    Arguments,
    Any,
}
