//! An NFA without assertions, determinised when the policy is read: then a
//! match costs one table lookup per character of the haystack. The
//! pattern's leading `^`/`\A` and trailing `$`/`\z` are kept as two flags
//! (anchored at the start, at the end); a pattern with assertions anywhere
//! else, or whose DFA would be too large, is run as an NFA instead.
//!
//! Does not own: building the NFA (`nfa`).

use super::nfa::{contains, Context, Nfa, Set, State};

/// A determinised pattern.
#[derive(Debug, Clone)]
pub struct Dfa {
    /// Class boundaries: class `k` holds the characters from `breaks[k-1]`
    /// (or 0) up to `breaks[k]` (excluded).
    breaks: Vec<u32>,
    /// The class of each ASCII character.
    ascii: [u16; 128],
    /// `table[state + class]` is the next state. States are numbered by
    /// the offset of their row (premultiplied by the number of classes), so
    /// a step is one add and one load; 0 is the dead state, and the
    /// matching states come last: a state matches when it is at least
    /// `first_match`.
    table: Vec<u32>,
    first_match: u32,
    start: u32,
    anchored_end: bool,
}

/// The most DFA states built before giving up for the NFA.
const MAX_DFA_STATES: usize = 600;
/// The most table entries.
const MAX_TABLE: usize = 200_000;
/// The most NFA state visits spent building, so that no pattern makes
/// reading the policy slow; past it the pattern runs as an NFA.
const MAX_WORK: usize = 1_000_000;

impl Dfa {
    /// The DFA of `nfa` (which has no assertions), or `None` when it would
    /// be too large.
    pub fn build(nfa: &Nfa, anchored_start: bool, anchored_end: bool) -> Option<Dfa> {
        let mut breaks: Vec<u32> = Vec::new();
        for state in &nfa.states {
            if let State::Class { ranges, .. } = state {
                for &(lo, hi) in ranges {
                    breaks.push(u32::from(lo));
                    breaks.push(u32::from(hi).saturating_add(1));
                }
            }
        }
        crate::sort::sort(&mut breaks);
        breaks.dedup();
        breaks.retain(|&b| b > 0);
        let classes = breaks.len().saturating_add(1);
        // A character of each class, to decide its transitions.
        let reps: Vec<char> = std::iter::once(0u32)
            .chain(breaks.iter().copied())
            .map(|b| {
                char::from_u32(b)
                    .or_else(|| char::from_u32(0xE000))
                    .unwrap_or('\0')
            })
            .collect();
        let no_context = Context {
            prev: None,
            next: None,
        };
        let closure_of = |set: &mut Set, s: usize| nfa.closure(set, s, &no_context);

        let mut sets: Vec<Vec<usize>> = vec![Vec::new()];
        // State sets -> ids, sorted by set (a binary search per lookup; no
        // BTreeMap code in the .wasm for a few hundred states).
        let mut ids: Vec<(Vec<usize>, usize)> = Vec::new();
        let mut work = 0usize;
        let mut table: Vec<u16> = vec![0; classes];
        let mut matching = vec![false];
        let mut scratch = Set::new(nfa.states.len());
        closure_of(&mut scratch, nfa.start);
        let start_set = sorted(&scratch);
        scratch.clear();
        let find = |ids: &[(Vec<usize>, usize)], set: &[usize]| {
            ids.binary_search_by(|(k, _)| k.as_slice().cmp(set))
        };
        ids.push((Vec::new(), 0));
        if let Err(at) = find(&ids, &start_set) {
            ids.insert(at, (start_set.clone(), 1));
        }
        sets.push(start_set);
        matching.push(false);
        table.extend(std::iter::repeat_n(0, classes));
        let mut done = 1usize;
        while let Some(set) = sets.get(done).cloned() {
            if let Some(m) = matching.get_mut(done) {
                *m = set.contains(&0);
            }
            for (k, &rep) in reps.iter().enumerate() {
                for &s in &set {
                    if let Some(State::Class { ranges, next }) = nfa.states.get(s) {
                        if contains(ranges, rep) {
                            closure_of(&mut scratch, *next);
                        }
                    }
                }
                if !anchored_start {
                    closure_of(&mut scratch, nfa.start);
                }
                work = work
                    .saturating_add(set.len())
                    .saturating_add(scratch.items().len());
                if work > MAX_WORK {
                    return None;
                }
                let target = sorted(&scratch);
                scratch.clear();
                let id = match find(&ids, &target) {
                    Ok(at) => ids.get(at).map_or(0, |(_, id)| *id),
                    Err(at) => {
                        if sets.len() >= MAX_DFA_STATES || table.len() >= MAX_TABLE {
                            return None;
                        }
                        let id = sets.len();
                        ids.insert(at, (target.clone(), id));
                        sets.push(target);
                        matching.push(false);
                        table.extend(std::iter::repeat_n(0, classes));
                        id
                    }
                };
                let slot = done.checked_mul(classes)?.checked_add(k)?;
                *table.get_mut(slot)? = u16::try_from(id).ok()?;
            }
            done = done.saturating_add(1);
        }
        let mut ascii = [0u16; 128];
        for (c, slot) in ascii.iter_mut().enumerate() {
            let c = u32::try_from(c).unwrap_or(0);
            *slot = u16::try_from(breaks.partition_point(|&b| b <= c)).unwrap_or(0);
        }
        // Renumber: the dead state, the other non-matching ones, then the
        // matching ones; each by the offset of its row.
        let mut order: Vec<usize> = (0..matching.len()).collect();
        crate::sort::sort_by(&mut order, |&a, &b| {
            let key = |s: usize| (matching.get(s).copied().unwrap_or(false), s);
            key(a) < key(b)
        });
        let mut offset = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            *offset.get_mut(old)? = u32::try_from(new.checked_mul(classes)?).ok()?;
        }
        let mut rows = vec![0u32; table.len()];
        for (new, &old) in order.iter().enumerate() {
            for k in 0..classes {
                let next = usize::from(*table.get(old.checked_mul(classes)?.checked_add(k)?)?);
                *rows.get_mut(new.checked_mul(classes)?.checked_add(k)?)? = *offset.get(next)?;
            }
        }
        let matches = matching.iter().filter(|&&m| m).count();
        let first_match = order.len().checked_sub(matches)?.checked_mul(classes)?;
        Some(Dfa {
            breaks,
            ascii,
            table: rows,
            first_match: u32::try_from(first_match).ok()?,
            start: *offset.get(1)?,
            anchored_end,
        })
    }

    /// The class of the character at byte `at` of `text` (a character
    /// boundary), and its length in bytes. ASCII is one table load.
    #[inline]
    fn class(&self, text: &str, at: usize) -> (u32, usize) {
        match text.as_bytes().get(at) {
            Some(&b) if b < 0x80 => (
                self.ascii.get(usize::from(b)).map_or(0, |&k| u32::from(k)),
                1,
            ),
            _ => {
                let c = text
                    .get(at..)
                    .and_then(|t| t.chars().next())
                    .unwrap_or('\0');
                let code = u32::from(c);
                let k = self.breaks.partition_point(|&b| b <= code);
                (u32::try_from(k).unwrap_or(0), c.len_utf8())
            }
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        let mut state = self.start;
        let mut at = 0;
        if self.anchored_end {
            // Only the state at the end counts.
            while at < text.len() {
                let (class, len) = self.class(text, at);
                state = self.step(state, class);
                if state == 0 {
                    return false;
                }
                at = at.saturating_add(len);
            }
            return state >= self.first_match;
        }
        if state >= self.first_match {
            return true;
        }
        while at < text.len() {
            let (class, len) = self.class(text, at);
            state = self.step(state, class);
            if state == 0 {
                return false;
            }
            if state >= self.first_match {
                return true;
            }
            at = at.saturating_add(len);
        }
        false
    }

    #[inline]
    fn step(&self, state: u32, class: u32) -> u32 {
        let slot = state.saturating_add(class);
        usize::try_from(slot)
            .ok()
            .and_then(|i| self.table.get(i))
            .copied()
            .unwrap_or(0)
    }
}

fn sorted(set: &Set) -> Vec<usize> {
    let mut v = set.items().to_vec();
    crate::sort::sort(&mut v);
    v
}
