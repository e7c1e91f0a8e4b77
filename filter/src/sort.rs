//! A heapsort, for the filter's few sorts (character class ranges, DFA
//! state sets, batch ids, duplicate keys, canonical JSON members).
//!
//! Owns nothing but bytes: core's sorts are fast but each element type
//! instantiates several kilobytes of code (driftsort, ipnsort), and the
//! `.wasm` had five of them for lists that are short and sorted rarely.
//! Heapsort is O(n log n) in every case, in place, and a few hundred bytes
//! per type. Not stable: every caller sorts keys that are distinct or whose
//! equal elements are interchangeable.

/// Sorts `items` so that `less` holds between no later and earlier pair.
pub fn sort_by<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let len = items.len();
    // Build a max-heap, then move its top to the end, one at a time.
    for start in (0..len / 2).rev() {
        sift_down(items, start, len, &less);
    }
    for end in (1..len).rev() {
        items.swap(0, end);
        sift_down(items, 0, end, &less);
    }
}

/// Sorts `items` in ascending order.
pub fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, |a, b| a < b);
}

fn sift_down<T>(items: &mut [T], mut root: usize, end: usize, less: &impl Fn(&T, &T) -> bool) {
    loop {
        let left = root.saturating_mul(2).saturating_add(1);
        if left >= end {
            return;
        }
        let right = left.saturating_add(1);
        let mut child = left;
        if right < end {
            if let (Some(l), Some(r)) = (items.get(left), items.get(right)) {
                if less(l, r) {
                    child = right;
                }
            }
        }
        match (items.get(root), items.get(child)) {
            (Some(r), Some(c)) if less(r, c) => items.swap(root, child),
            _ => return,
        }
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_core_does() {
        let mut seed = 1u64;
        for len in 0..200 {
            let mut v: Vec<u32> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 40) as u32 % 50
                })
                .collect();
            let mut expected = v.clone();
            expected.sort_unstable();
            sort(&mut v);
            assert_eq!(v, expected);
        }
    }
}
