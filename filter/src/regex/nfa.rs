//! A `Hir` compiled to a Thompson NFA, and the NFA run directly: a set of
//! states stepped over the haystack's characters, every position a start.
//! Linear in the haystack. Used for patterns with assertions inside them
//! (`\b`, `(?m)^`); the others become a DFA (`dfa`).
//!
//! Does not own: the syntax (`parse`).

use super::parse::{is_word, Hir, Look};

/// The largest NFA a pattern may compile to.
const MAX_STATES: usize = 20_000;

#[derive(Debug, Clone)]
pub enum State {
    /// One character from `ranges` (sorted), then `next`.
    Class {
        ranges: Vec<(char, char)>,
        next: usize,
    },
    Split(usize, usize),
    Look(Look, usize),
    Match,
}

#[derive(Debug, Clone)]
pub struct Nfa {
    pub states: Vec<State>,
    pub start: usize,
}

impl Nfa {
    pub fn compile(hir: &Hir) -> Result<Nfa, String> {
        let mut nfa = Nfa {
            states: vec![State::Match],
            start: 0,
        };
        nfa.start = nfa.emit_hir(hir, 0)?;
        Ok(nfa)
    }

    fn push(&mut self, state: State) -> Result<usize, String> {
        if self.states.len() >= MAX_STATES {
            return Err("pattern too large".into());
        }
        self.states.push(state);
        Ok(self.states.len().saturating_sub(1))
    }

    /// Compiles `hir` so that it continues to `next`; returns its start.
    fn emit_hir(&mut self, hir: &Hir, next: usize) -> Result<usize, String> {
        match hir {
            Hir::Empty => Ok(next),
            Hir::Class(ranges) => self.push(State::Class {
                ranges: ranges.clone(),
                next,
            }),
            Hir::Look(look) => self.push(State::Look(*look, next)),
            Hir::Concat(items) => {
                let mut at = next;
                for item in items.iter().rev() {
                    at = self.emit_hir(item, at)?;
                }
                Ok(at)
            }
            Hir::Alt(branches) => {
                let mut starts = Vec::with_capacity(branches.len());
                for b in branches {
                    starts.push(self.emit_hir(b, next)?);
                }
                let mut at = starts.pop().unwrap_or(next);
                while let Some(s) = starts.pop() {
                    at = self.push(State::Split(s, at))?;
                }
                Ok(at)
            }
            Hir::Repeat { hir, min, max } => {
                let mut at = next;
                let mut copies = *min;
                match max {
                    None => {
                        // A loop: `hir` then back to the split. With a minimum the
                        // loop's body is the last required copy (`x+` is one copy
                        // of `x`, not two), so nested `+` does not double.
                        let split = self.push(State::Split(0, next))?;
                        let body = self.emit_hir(hir, split)?;
                        if let Some(State::Split(first, _)) = self.states.get_mut(split) {
                            *first = body;
                        }
                        if copies > 0 {
                            copies = copies.saturating_sub(1);
                            at = body;
                        } else {
                            at = split;
                        }
                    }
                    Some(max) => {
                        for _ in *min..*max {
                            let body = self.emit_hir(hir, at)?;
                            at = self.push(State::Split(body, next))?;
                        }
                    }
                }
                for _ in 0..copies {
                    at = self.emit_hir(hir, at)?;
                }
                Ok(at)
            }
        }
    }

    /// Adds `state` and what it reaches without reading a character, in
    /// context `ctx`, to `set`.
    pub fn closure(&self, set: &mut Set, state: usize, ctx: &Context) {
        let mut stack = vec![state];
        while let Some(s) = stack.pop() {
            if !set.insert(s) {
                continue;
            }
            match self.states.get(s) {
                Some(State::Split(a, b)) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Some(State::Look(look, n)) if ctx.holds(*look) => stack.push(*n),
                _ => {}
            }
        }
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let mut current = Set::new(self.states.len());
        let mut next = Set::new(self.states.len());
        let mut chars = text.chars().peekable();
        let mut prev: Option<char> = None;
        loop {
            let ahead = chars.peek().copied();
            let ctx = Context { prev, next: ahead };
            self.closure(&mut current, self.start, &ctx);
            if current.contains(0) {
                return true;
            }
            let Some(c) = chars.next() else {
                return false;
            };
            let after = Context {
                prev: Some(c),
                next: chars.peek().copied(),
            };
            for &s in current.items() {
                if let Some(State::Class { ranges, next: n }) = self.states.get(s) {
                    if contains(ranges, c) {
                        self.closure(&mut next, *n, &after);
                    }
                }
            }
            std::mem::swap(&mut current, &mut next);
            next.clear();
            prev = Some(c);
        }
    }
}

/// Whether sorted `ranges` hold `c`.
pub fn contains(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The characters around a position, for assertions.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub prev: Option<char>,
    pub next: Option<char>,
}

impl Context {
    fn holds(&self, look: Look) -> bool {
        match look {
            Look::Start => self.prev.is_none(),
            Look::End => self.next.is_none(),
            Look::StartLine { crlf } => match self.prev {
                None | Some('\n') => true,
                // With R, after a \r too, but not between \r and \n.
                Some('\r') => crlf && self.next != Some('\n'),
                _ => false,
            },
            Look::EndLine { crlf } => match self.next {
                None | Some('\n') => !(crlf && self.prev == Some('\r') && self.next == Some('\n')),
                Some('\r') => crlf,
                _ => false,
            },
            Look::WordBoundary => self.prev.is_some_and(is_word) != self.next.is_some_and(is_word),
            Look::NotWordBoundary => {
                self.prev.is_some_and(is_word) == self.next.is_some_and(is_word)
            }
            Look::WordStart => !self.prev.is_some_and(is_word) && self.next.is_some_and(is_word),
            Look::WordEnd => self.prev.is_some_and(is_word) && !self.next.is_some_and(is_word),
            Look::WordStartHalf => !self.prev.is_some_and(is_word),
            Look::WordEndHalf => !self.next.is_some_and(is_word),
        }
    }
}

/// A set of state ids with insertion order (a sparse set).
#[derive(Debug, Clone)]
pub struct Set {
    dense: Vec<usize>,
    member: Vec<bool>,
}

impl Set {
    pub fn new(capacity: usize) -> Set {
        Set {
            dense: Vec::with_capacity(capacity.min(64)),
            member: vec![false; capacity],
        }
    }

    /// `false` when already there.
    pub fn insert(&mut self, s: usize) -> bool {
        match self.member.get_mut(s) {
            Some(m) if !*m => {
                *m = true;
                self.dense.push(s);
                true
            }
            _ => false,
        }
    }

    pub fn contains(&self, s: usize) -> bool {
        self.member.get(s).copied().unwrap_or(false)
    }

    pub fn items(&self) -> &[usize] {
        &self.dense
    }

    pub fn clear(&mut self) {
        for &s in &self.dense {
            if let Some(m) = self.member.get_mut(s) {
                *m = false;
            }
        }
        self.dense.clear();
    }
}
