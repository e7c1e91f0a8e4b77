//! Pattern text to a syntax tree (`Hir`), with the syntax and meaning of the
//! `regex-lite` crate (the `regex` crate's syntax, ASCII-only Unicode
//! features): literals and escapes, `.`, classes with ranges, negation,
//! Perl (`\d \s \w`) and POSIX (`[:alpha:]`) classes, groups (capturing,
//! named, non-capturing, with flags `i m s U x R`), alternation, the
//! repetitions `* + ? {n} {n,} {n,m}` (greedy or lazy), and the assertions
//! `^ $ \A \z \b \B`. Case-insensitive matching folds ASCII letters only;
//! `\d`, `\s`, `\w` and word boundaries are ASCII, as in `regex-lite`.
//!
//! Does not own: matching (`nfa`, `dfa`).
//!
//! Runs when a policy is read, never per request: its functions are
//! `#[inline(never)]` (8 KB less `.wasm`), except `is_word`, which matching
//! uses.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Hir {
    /// Matches the empty string.
    Empty,
    /// One character from these sorted, disjoint, inclusive ranges.
    Class(Vec<(char, char)>),
    Concat(Vec<Hir>),
    Alt(Vec<Hir>),
    Repeat {
        hir: Box<Hir>,
        min: u32,
        max: Option<u32>,
    },
    Look(Look),
}

/// Zero-width assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// `\A`, or `^` without `m`.
    Start,
    /// `\z`, or `$` without `m`.
    End,
    /// `^` with `m` (after `\n`, and after `\r` with `R`).
    StartLine { crlf: bool },
    /// `$` with `m`.
    EndLine { crlf: bool },
    /// `\b`, ASCII word characters.
    WordBoundary,
    /// `\B`.
    NotWordBoundary,
    /// `\<`, `\b{start}`: a word begins.
    WordStart,
    /// `\>`, `\b{end}`: a word ends.
    WordEnd,
    /// `\b{start-half}`: no word character before.
    WordStartHalf,
    /// `\b{end-half}`: no word character after.
    WordEndHalf,
}

/// The largest counted repetition accepted (`regex` refuses patterns that
/// grow too large; this is simpler and as safe).
const MAX_REPEAT: u32 = 10_000;
/// How deep groups may nest, and how tall the syntax tree may be, counted
/// as `regex-lite` counts them (its default nest limit), so that the same
/// patterns are refused.
const MAX_NEST: u32 = 50;

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    multi_line: bool,
    dot_nl: bool,
    crlf: bool,
    verbose: bool,
}

/// Parses `pattern`; the error says what is wrong and where.
#[inline(never)]
pub fn parse(pattern: &str) -> Result<Hir, String> {
    let mut p = Parser {
        chars: pattern.chars().collect(),
        at: 0,
        depth: 0,
        names: Vec::new(),
    };
    let (hir, height) = p.alternation(&mut Flags::default())?;
    if p.at < p.chars.len() {
        return Err(p.error("unopened group"));
    }
    if height > MAX_NEST {
        return Err("pattern nests too deeply".into());
    }
    Ok(hir)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: u32,
    /// Capture group names so far, each allowed once.
    names: Vec<String>,
}

impl Parser {
    #[inline(never)]
    fn error(&self, what: &str) -> String {
        format!("{what} at character {}", self.at.saturating_add(1))
    }

    #[inline(never)]
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    #[inline(never)]
    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at.saturating_add(ahead)).copied()
    }

    #[inline(never)]
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at = self.at.saturating_add(1);
        Some(c)
    }

    #[inline(never)]
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at = self.at.saturating_add(1);
            true
        } else {
            false
        }
    }

    /// In verbose mode: whitespace and `#` comments between items.
    #[inline(never)]
    fn skip_verbose(&mut self, flags: &Flags) {
        if !flags.verbose {
            return;
        }
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// `a|b|...` up to the end or a closing `)` (not consumed). Flags set
    /// by `(?i)` inside last until the group ends. Each part returns its
    /// tree with the height `regex-lite`'s tree would have (a capture, a
    /// repetition other than `{1}` and a list of two or more add a level).
    #[inline(never)]
    fn alternation(&mut self, flags: &mut Flags) -> Result<(Hir, u32), String> {
        let mut branches = vec![self.concat(flags)?];
        while self.eat('|') {
            branches.push(self.concat(flags)?);
        }
        Ok(list(branches, Hir::Alt))
    }

    #[inline(never)]
    fn concat(&mut self, flags: &mut Flags) -> Result<(Hir, u32), String> {
        let mut items: Vec<(Hir, u32)> = Vec::new();
        // A flag group `(?i)` is no item: a repetition after it applies to
        // the item before it (regex-lite's reading).
        let mut after_flags = false;
        loop {
            self.skip_verbose(flags);
            let Some(c) = self.peek() else { break };
            let repeats = matches!(c, '*' | '+' | '?') || (c == '{' && self.counted_ahead());
            let atom = match c {
                '|' | ')' => break,
                _ if repeats && after_flags && !items.is_empty() => {
                    items.pop().unwrap_or((Hir::Empty, 0))
                }
                '*' | '+' | '?' => return Err(self.error("repetition operator missing expression")),
                '{' => {
                    if self.counted_ahead() {
                        return Err(self.error("repetition operator missing expression"));
                    }
                    return Err(self.error("unescaped {"));
                }
                '(' => match self.group(flags)? {
                    Some(group) => group,
                    None => {
                        after_flags = true;
                        continue;
                    }
                },
                _ => (self.atom(flags)?, 0),
            };
            after_flags = false;
            let atom = self.repetitions(atom, flags)?;
            items.push(atom);
        }
        Ok(list(items, Hir::Concat))
    }

    /// Whether `{` here starts a counted repetition.
    #[inline(never)]
    fn counted_ahead(&self) -> bool {
        let mut i = self.at.saturating_add(1);
        let digit = |c: Option<&char>| c.is_some_and(char::is_ascii_digit);
        while self.chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i = i.saturating_add(1);
        }
        digit(self.chars.get(i))
    }

    #[inline(never)]
    fn repetitions(&mut self, atom: (Hir, u32), flags: &Flags) -> Result<(Hir, u32), String> {
        let (mut atom, mut height) = atom;
        loop {
            self.skip_verbose(flags);
            let (min, max) = match self.peek() {
                Some('*') => {
                    self.bump();
                    (0, None)
                }
                Some('+') => {
                    self.bump();
                    (1, None)
                }
                Some('?') => {
                    self.bump();
                    (0, Some(1))
                }
                Some('{') => self.counted(flags)?,
                _ => return Ok((atom, height)),
            };
            // Lazy or greedy: the same for whether it matches.
            self.skip_verbose(flags);
            self.eat('?');
            match (min, max) {
                (0, Some(0)) => {
                    (atom, height) = (Hir::Empty, 0);
                    continue;
                }
                (1, Some(1)) => continue,
                _ => height = height.saturating_add(1),
            }
            if matches!(atom, Hir::Look(_) | Hir::Empty) && min > 1 {
                // Repeating an assertion is the assertion.
                continue;
            }
            atom = Hir::Repeat {
                hir: Box::new(atom),
                min,
                max,
            };
        }
    }

    /// `{n}`, `{n,}`, `{n,m}` at `{`. Where whitespace may go is
    /// `regex-lite`'s: around each number always, elsewhere only in verbose
    /// mode (so `a{2, }` is refused unless `x` is on).
    #[inline(never)]
    fn counted(&mut self, flags: &Flags) -> Result<(u32, Option<u32>), String> {
        self.bump();
        self.skip_verbose(flags);
        let min = self.decimal(flags)?;
        let max = if self.eat(',') {
            self.skip_verbose(flags);
            if self.peek() == Some('}') {
                None
            } else {
                Some(self.decimal(flags)?)
            }
        } else {
            Some(min)
        };
        if !self.eat('}') {
            return Err(self.error("unclosed counted repetition"));
        }
        if max.is_some_and(|m| m < min) {
            return Err(self.error("invalid counted repetition (min > max)"));
        }
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
            return Err(self.error("counted repetition too large"));
        }
        Ok((min, max))
    }

    /// A number in a counted repetition, with whitespace around it.
    #[inline(never)]
    fn decimal(&mut self, flags: &Flags) -> Result<u32, String> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let mut n: u32 = 0;
        let mut any = false;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(d);
            any = true;
            self.bump();
            self.skip_verbose(flags);
        }
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
            self.skip_verbose(flags);
        }
        if !any {
            return Err(self.error("invalid counted repetition"));
        }
        Ok(n)
    }

    /// A group at `(`: `Some` with its contents, or `None` for a bare flag
    /// group `(?i)`, which changes `flags` for the rest of the enclosing
    /// group.
    #[inline(never)]
    fn group(&mut self, flags: &mut Flags) -> Result<Option<(Hir, u32)>, String> {
        self.bump();
        self.skip_verbose(flags);
        let mut inner = *flags;
        let mut capture = true;
        if self.eat('?') {
            if self.eat('P') {
                if !self.eat('<') {
                    return Err(self.error("invalid group"));
                }
                self.group_name()?;
            } else if self.peek() == Some('<') {
                self.bump();
                self.group_name()?;
            } else {
                capture = false;
                // Flags, then `)` (for the rest of the group) or `:`. As regex-lite:
                // each flag at most once, one `-`, and never a `-` last.
                let mut negate = false;
                let mut last_was_negation = false;
                let mut seen = 0u8;
                let mut any = false;
                loop {
                    let Some(c) = self.bump() else {
                        return Err(self.error("unclosed group"));
                    };
                    let set = !negate;
                    let slot = match c {
                        'i' => {
                            inner.case_insensitive = set;
                            0
                        }
                        'm' => {
                            inner.multi_line = set;
                            1
                        }
                        's' => {
                            inner.dot_nl = set;
                            2
                        }
                        // Greed does not change whether a pattern matches.
                        'U' => 3,
                        'x' => {
                            inner.verbose = set;
                            4
                        }
                        'R' => {
                            inner.crlf = set;
                            5
                        }
                        'u' => 6,
                        '-' => {
                            if negate {
                                return Err(self.error("repeated negation in flags"));
                            }
                            negate = true;
                            last_was_negation = true;
                            any = true;
                            continue;
                        }
                        ')' | ':' => {
                            if last_was_negation {
                                return Err(self.error("dangling negation in flags"));
                            }
                            if c == ':' {
                                break;
                            }
                            if !any {
                                return Err(self.error("empty flag group"));
                            }
                            *flags = inner;
                            return Ok(None);
                        }
                        _ => return Err(self.error("unrecognized flag")),
                    };
                    if seen & (1 << slot) != 0 {
                        return Err(self.error("duplicate flag"));
                    }
                    seen |= 1 << slot;
                    last_was_negation = false;
                    any = true;
                }
            }
        }
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_NEST {
            return Err(self.error("groups nest too deeply"));
        }
        let (hir, height) = self.alternation(&mut inner)?;
        if !self.eat(')') {
            return Err(self.error("unclosed group"));
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(Some((hir, height.saturating_add(u32::from(capture)))))
    }

    /// A capture group's name, after `<`, through `>`: a letter or `_`,
    /// then letters, digits, `_ . [ ]`, and not a name used before. Names
    /// are ASCII here (`regex-lite` also takes other letters): they do not
    /// change what matches, and it keeps Unicode's tables out of the filter.
    #[inline(never)]
    fn group_name(&mut self) -> Result<(), String> {
        let start = self.at;
        while let Some(c) = self.bump() {
            let first = self.at.saturating_sub(start) == 1;
            match c {
                '>' if !first => {
                    let name: String = self
                        .chars
                        .get(start..self.at.saturating_sub(1))
                        .unwrap_or_default()
                        .iter()
                        .collect();
                    if self.names.contains(&name) {
                        return Err(self.error("duplicate capture group name"));
                    }
                    self.names.push(name);
                    return Ok(());
                }
                '>' => return Err(self.error("empty capture group name")),
                c if !c.is_ascii() => return Err(self.error("capture group names must be ASCII")),
                c if c.is_ascii_alphabetic() || c == '_' => {}
                c if !first && (c.is_ascii_digit() || matches!(c, '.' | '[' | ']')) => {}
                _ => return Err(self.error("invalid capture group name")),
            }
        }
        Err(self.error("unclosed capture group name"))
    }

    #[inline(never)]
    fn atom(&mut self, flags: &Flags) -> Result<Hir, String> {
        let c = self.bump().ok_or_else(|| self.error("unexpected end"))?;
        Ok(match c {
            '.' => {
                if flags.dot_nl {
                    Hir::Class(vec![('\0', char::MAX)])
                } else if flags.crlf {
                    Hir::Class(negate(&[('\n', '\n'), ('\r', '\r')]))
                } else {
                    Hir::Class(negate(&[('\n', '\n')]))
                }
            }
            '^' => Hir::Look(if flags.multi_line {
                Look::StartLine { crlf: flags.crlf }
            } else {
                Look::Start
            }),
            '$' => Hir::Look(if flags.multi_line {
                Look::EndLine { crlf: flags.crlf }
            } else {
                Look::End
            }),
            '[' => Hir::Class(self.class(flags)?),
            '\\' => self.escape(flags)?,
            c => literal(c, flags),
        })
    }

    /// An escape after `\` outside a class.
    #[inline(never)]
    fn escape(&mut self, flags: &Flags) -> Result<Hir, String> {
        let c = self.peek().ok_or_else(|| self.error("incomplete escape"))?;
        Ok(match c {
            'A' => {
                self.bump();
                Hir::Look(Look::Start)
            }
            'z' => {
                self.bump();
                Hir::Look(Look::End)
            }
            'b' => {
                self.bump();
                if self.peek() == Some('{') && !self.counted_ahead() {
                    let rest: String = self
                        .chars
                        .get(self.at..)
                        .unwrap_or_default()
                        .iter()
                        .take(13)
                        .collect();
                    for (name, look) in [
                        ("{start}", Look::WordStart),
                        ("{end}", Look::WordEnd),
                        ("{start-half}", Look::WordStartHalf),
                        ("{end-half}", Look::WordEndHalf),
                    ] {
                        if rest.starts_with(name) {
                            self.at = self.at.saturating_add(name.len());
                            return Ok(Hir::Look(look));
                        }
                    }
                    return Err(self.error("unrecognized word boundary"));
                }
                Hir::Look(Look::WordBoundary)
            }
            '<' => {
                self.bump();
                Hir::Look(Look::WordStart)
            }
            '>' => {
                self.bump();
                Hir::Look(Look::WordEnd)
            }
            'B' => {
                self.bump();
                Hir::Look(Look::NotWordBoundary)
            }
            _ => match self.class_escape()? {
                Escaped::Char(c) => literal(c, flags),
                Escaped::Set(set) => Hir::Class(fold_case(set, flags)),
            },
        })
    }

    /// An escape that stands for characters (inside or outside a class).
    #[inline(never)]
    fn class_escape(&mut self) -> Result<Escaped, String> {
        let c = self.bump().ok_or_else(|| self.error("incomplete escape"))?;
        Ok(match c {
            'd' => Escaped::Set(DIGIT.to_vec()),
            'D' => Escaped::Set(negate(DIGIT)),
            's' => Escaped::Set(SPACE.to_vec()),
            'S' => Escaped::Set(negate(SPACE)),
            'w' => Escaped::Set(WORD.to_vec()),
            'W' => Escaped::Set(negate(WORD)),
            'a' => Escaped::Char('\x07'),
            'f' => Escaped::Char('\x0c'),
            't' => Escaped::Char('\t'),
            'n' => Escaped::Char('\n'),
            'r' => Escaped::Char('\r'),
            'v' => Escaped::Char('\x0b'),
            'x' => Escaped::Char(self.hex(2)?),
            'u' => Escaped::Char(self.hex(4)?),
            'U' => Escaped::Char(self.hex(8)?),
            // Any other ASCII character but a letter, a digit, `<` or `>`
            // stands for itself.
            c if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '<' && c != '>' => {
                Escaped::Char(c)
            }
            _ => return Err(self.error("unrecognized escape sequence")),
        })
    }

    /// `\x7F`, `\x{...}` and their `\u`, `\U` forms, after the letter.
    #[inline(never)]
    fn hex(&mut self, digits: usize) -> Result<char, String> {
        let mut value: u32 = 0;
        if self.eat('{') {
            let start = self.at;
            while let Some(d) = self.peek().and_then(|c| c.to_digit(16)) {
                value = value.saturating_mul(16).saturating_add(d);
                self.bump();
            }
            if self.at == start || self.at.saturating_sub(start) > 8 || !self.eat('}') {
                return Err(self.error("invalid hexadecimal escape"));
            }
        } else {
            for _ in 0..digits {
                let d = self
                    .bump()
                    .and_then(|c| c.to_digit(16))
                    .ok_or_else(|| self.error("invalid hexadecimal escape"))?;
                value = value.saturating_mul(16).saturating_add(d);
            }
        }
        char::from_u32(value).ok_or_else(|| self.error("invalid Unicode scalar value"))
    }

    /// A bracketed class, after `[`: its ranges, negated and folded. The
    /// order of the checks is `regex-lite`'s, so that the same classes are
    /// refused: leading `-`s and a first `]` are literal, `&&` `--` `~~`
    /// are refused, a range's ends must be single characters, and in
    /// verbose mode whitespace and comments between items are skipped.
    #[inline(never)]
    fn class(&mut self, flags: &Flags) -> Result<Vec<(char, char)>, String> {
        self.skip_verbose(flags);
        let negated = self.eat('^');
        if negated {
            self.skip_verbose(flags);
        }
        let mut set: Vec<(char, char)> = Vec::new();
        while self.eat('-') {
            set.push(('-', '-'));
            self.skip_verbose(flags);
        }
        if set.is_empty() && self.eat(']') {
            set.push((']', ']'));
            self.skip_verbose(flags);
        }
        loop {
            self.skip_verbose(flags);
            let Some(c) = self.peek() else {
                return Err(self.error("unclosed character class"));
            };
            match c {
                '[' => match self.posix() {
                    Some(posix) => {
                        set.extend(posix);
                        continue;
                    }
                    None => return Err(self.error("nested character classes are not supported")),
                },
                ']' => {
                    self.bump();
                    break;
                }
                _ => {}
            }
            for (op, what) in [
                ('&', "intersection"),
                ('-', "difference"),
                ('~', "symmetric difference"),
            ] {
                if c == op && self.peek_at(1) == Some(op) {
                    return Err(self.error(&format!("character class {what} is not supported")));
                }
            }
            let first = self.class_item()?;
            self.skip_verbose(flags);
            if self.peek().is_none() {
                return Err(self.error("unclosed character class"));
            }
            let after_dash = self.peek_past_space(flags);
            if self.peek() != Some('-') || after_dash == Some(']') || after_dash == Some('-') {
                match first {
                    Escaped::Char(c) => set.push((c, c)),
                    Escaped::Set(s) => set.extend(s),
                }
                continue;
            }
            self.bump();
            self.skip_verbose(flags);
            if self.peek().is_none() {
                return Err(self.error("unclosed character class"));
            }
            let last = self.class_item()?;
            let (Escaped::Char(start), Escaped::Char(end)) = (first, last) else {
                return Err(self.error("a class range must start and end with one character"));
            };
            if end < start {
                return Err(self.error("invalid range in a class (start > end)"));
            }
            set.push((start, end));
        }
        let set = fold_case(set, flags);
        Ok(if negated {
            negate(&set)
        } else {
            canonical(set)
        })
    }

    /// The character after the current one, skipping whitespace and
    /// comments in verbose mode. Written as `regex-lite` does it (a comment
    /// ends at its first character that is not whitespace), so that
    /// `[a- #..` is read the same way.
    #[inline(never)]
    fn peek_past_space(&self, flags: &Flags) -> Option<char> {
        if !flags.verbose {
            return self.peek_at(1);
        }
        let mut in_comment = false;
        for &c in self
            .chars
            .get(self.at.saturating_add(1)..)
            .unwrap_or_default()
        {
            if c.is_whitespace() {
                continue;
            } else if !in_comment && c == '#' {
                in_comment = true;
            } else if in_comment && c == '\n' {
                in_comment = false;
            } else {
                return Some(c);
            }
        }
        None
    }

    #[inline(never)]
    fn class_item(&mut self) -> Result<Escaped, String> {
        match self.bump() {
            Some('\\') => self.class_escape(),
            Some(c) => Ok(Escaped::Char(c)),
            None => Err(self.error("unclosed character class")),
        }
    }

    /// `[:name:]` or `[:^name:]` at `[`, consumed; `None` (nothing
    /// consumed) when it is not one: the name runs to the first `:`, which
    /// must be followed by `]`.
    #[inline(never)]
    fn posix(&mut self) -> Option<Vec<(char, char)>> {
        let rest = self.chars.get(self.at..).unwrap_or_default();
        let Some([_, ':', tail @ ..]) = rest.get(..) else {
            return None;
        };
        let (negated, tail) = match tail {
            ['^', tail @ ..] => (true, tail),
            _ => (false, tail),
        };
        let colon = tail.iter().position(|&c| c == ':')?;
        if tail.get(colon.saturating_add(1)) != Some(&']') {
            return None;
        }
        let name: String = tail.get(..colon).unwrap_or_default().iter().collect();
        let ranges: &[(char, char)] = match name.as_str() {
            "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
            "alpha" => &[('A', 'Z'), ('a', 'z')],
            "ascii" => &[('\0', '\x7f')],
            "blank" => &[('\t', '\t'), (' ', ' ')],
            "cntrl" => &[('\0', '\x1f'), ('\x7f', '\x7f')],
            "digit" => &[('0', '9')],
            "graph" => &[('!', '~')],
            "lower" => &[('a', 'z')],
            "print" => &[(' ', '~')],
            "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
            "space" => SPACE,
            "upper" => &[('A', 'Z')],
            "word" => WORD,
            "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
            _ => return None,
        };
        // `[:`, `^`, the name, `:]`.
        let length = colon.saturating_add(4).saturating_add(usize::from(negated));
        self.at = self.at.saturating_add(length);
        Some(if negated {
            negate(ranges)
        } else {
            ranges.to_vec()
        })
    }
}

/// A list of parts as one tree: none is empty, one is itself, more are
/// `node` one level above the tallest.
#[inline(never)]
fn list(mut parts: Vec<(Hir, u32)>, node: fn(Vec<Hir>) -> Hir) -> (Hir, u32) {
    if parts.len() <= 1 {
        return parts.pop().unwrap_or((Hir::Empty, 0));
    }
    let height = parts
        .iter()
        .map(|p| p.1)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    (node(parts.into_iter().map(|p| p.0).collect()), height)
}

enum Escaped {
    Char(char),
    Set(Vec<(char, char)>),
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const SPACE: &[(char, char)] = &[('\t', '\r'), (' ', ' ')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];

/// Whether `c` is a word character for `\b` (ASCII, as in `regex-lite`).
pub fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[inline(never)]
fn literal(c: char, flags: &Flags) -> Hir {
    Hir::Class(fold_case(vec![(c, c)], flags))
}

/// With `i`: each ASCII letter also matches its other case.
#[inline(never)]
fn fold_case(mut set: Vec<(char, char)>, flags: &Flags) -> Vec<(char, char)> {
    if flags.case_insensitive {
        let mut extra = Vec::new();
        for &(lo, hi) in &set {
            for (a, b, upper) in [('a', 'z', true), ('A', 'Z', false)] {
                let (from, to) = (lo.max(a), hi.min(b));
                if from <= to {
                    // ASCII letters: the other case is 32 away.
                    let moved = |c: char| {
                        let code = u32::from(c);
                        let other = if upper {
                            code.saturating_sub(32)
                        } else {
                            code.saturating_add(32)
                        };
                        char::from_u32(other).unwrap_or(c)
                    };
                    extra.push((moved(from), moved(to)));
                }
            }
        }
        set.extend(extra);
    }
    canonical(set)
}

/// Sorted, merged ranges.
#[inline(never)]
pub fn canonical(mut set: Vec<(char, char)>) -> Vec<(char, char)> {
    crate::sort::sort(&mut set);
    let mut out: Vec<(char, char)> = Vec::with_capacity(set.len());
    for (lo, hi) in set {
        match out.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1).saturating_add(1) => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Every character not in `set` (Unicode scalar values only).
#[inline(never)]
fn negate(set: &[(char, char)]) -> Vec<(char, char)> {
    let set = canonical(set.to_vec());
    let mut out = Vec::new();
    let mut next: u32 = 0;
    for (lo, hi) in set {
        let lo = u32::from(lo);
        if lo > next {
            push_scalar_range(&mut out, next, lo.saturating_sub(1));
        }
        next = u32::from(hi).saturating_add(1);
    }
    if next <= 0x10FFFF {
        push_scalar_range(&mut out, next, 0x10FFFF);
    }
    out
}

/// `lo..=hi` without the surrogate gap.
#[inline(never)]
fn push_scalar_range(out: &mut Vec<(char, char)>, lo: u32, hi: u32) {
    for (a, b) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)] {
        if let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b)) {
            if a <= b {
                out.push((a, b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_regex_lite_parses() {
        for ok in [
            "",
            "a",
            "a|b",
            "(a)(?:b)(?P<n>c)(?<m>d)",
            "a*b+c?d{2}e{2,}f{2,3}g*?h+?",
            "[a-z0-9._-]",
            "[^a]",
            "[]a]",
            "[a-]",
            "[-a]",
            "\\d\\D\\s\\S\\w\\W",
            "(?i)a",
            "(?i:a)b",
            "(?-i)a",
            "(?ms)^a$",
            "\\x41\\x{1F600}\\u0041",
            "[[:alpha:]]",
            "[[:^digit:]]",
            "\\.\\*\\\\",
            "\\b\\B\\A\\z",
            "a{ 2 , 3 }",
            "(?x) a # comment\n b",
            "[\\[\\]]",
            "a(|b)",
            "()",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        for bad in [
            "(",
            ")",
            "a)",
            "*",
            "a{3,2}",
            "[a",
            "[z-a]",
            "\\q",
            "(?z)",
            "a{",
            "[[a]]",
            "\\x{110000}",
            "(?P<>a)",
            "a{10001}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn classes_negate_and_fold() {
        assert_eq!(negate(&[('\0', char::MAX)]), vec![]);
        assert_eq!(
            fold_case(
                vec![('a', 'c')],
                &Flags {
                    case_insensitive: true,
                    ..Flags::default()
                }
            ),
            vec![('A', 'C'), ('a', 'c')]
        );
    }
}
