//! Regular expressions for `regex` conditions: `regex-lite`'s syntax and
//! meaning (unanchored `is_match`), compiled when the policy is read to a
//! DFA whenever the pattern allows, so a match costs a table lookup per
//! character instead of an NFA step (the `regex-lite` engine spent about a
//! thousand wasm instructions per byte). `regex-lite` itself is kept out of
//! the `.wasm`; the tests and a fuzz target hold the two to the same
//! answers.
//!
//! Owns: the `Regex` type. Does not own: which strings it is applied to
//! (`engine::conditions`).

mod dfa;
mod nfa;
mod parse;

use dfa::Dfa;
use nfa::Nfa;
use parse::{Hir, Look};

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    pattern: String,
    engine: Engine,
}

// The DFA's ASCII table is inline for speed; a policy holds its patterns
// boxed, so the size of the enum costs nothing per condition.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Engine {
    Dfa(Dfa),
    Nfa(Nfa),
}

impl Regex {
    /// Compiles `pattern`; the error says what is wrong and where.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let hir = parse::parse(pattern)?;
        let (core, anchored_start, anchored_end) = strip_anchors(&hir);
        let engine = if has_look(&core) {
            Engine::Nfa(Nfa::compile(&hir)?)
        } else {
            let nfa = Nfa::compile(&core)?;
            match Dfa::build(&nfa, anchored_start, anchored_end) {
                Some(dfa) => Engine::Dfa(dfa),
                None => Engine::Nfa(Nfa::compile(&hir)?),
            }
        };
        Ok(Regex {
            pattern: pattern.to_owned(),
            engine,
        })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        match &self.engine {
            Engine::Dfa(d) => d.is_match(text),
            Engine::Nfa(n) => n.is_match(text),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// The pattern without a leading `\A` and a trailing `\z` of its top-level
/// sequence, and whether each was there.
fn strip_anchors(hir: &Hir) -> (Hir, bool, bool) {
    let mut items: Vec<Hir> = match hir {
        Hir::Concat(items) => items.clone(),
        other => vec![other.clone()],
    };
    let start = items.first() == Some(&Hir::Look(Look::Start));
    if start {
        items.remove(0);
    }
    let end = items.last() == Some(&Hir::Look(Look::End));
    if end {
        items.pop();
    }
    let core = match items.len() {
        0 => Hir::Empty,
        1 => items.pop().unwrap_or(Hir::Empty),
        _ => Hir::Concat(items),
    };
    (core, start, end)
}

fn has_look(hir: &Hir) -> bool {
    match hir {
        Hir::Look(_) => true,
        Hir::Empty | Hir::Class(_) => false,
        Hir::Concat(items) | Hir::Alt(items) => items.iter().any(has_look),
        Hir::Repeat { hir, .. } => has_look(hir),
    }
}

#[cfg(test)]
mod tests;
