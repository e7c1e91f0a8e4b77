//! The filter's memory allocator: small blocks come from free lists, one
//! per size class; everything else from the system allocator (wasi-libc's
//! dlmalloc).
//!
//! Why: a request makes some fifty small allocations (header values, JSON
//! members, decision fields), and dlmalloc spent about 300 instructions on
//! each malloc/free pair: a quarter of the filter's work per request. A
//! free list pops and pushes in a dozen. Blocks of a class are never given
//! back to dlmalloc; what the lists hold is bounded by the most blocks of
//! each class ever live at once (a few per concurrent request).
//!
//! proxy-wasm VMs run one thread, so the lists need no lock; the type says
//! so (`Sync` by assertion) and the `.wasm` is the only place it is the
//! global allocator. Natively it is only exercised by its tests.
//!
//! Owns: `Allocator`. Does not own: anything else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes are multiples of `STEP` bytes, up to `CLASSES * STEP`.
const STEP: usize = 16;
const CLASSES: usize = 32;
/// Alignment of every class block: enough for anything but 16-aligned
/// types (`u128`), which go to the system allocator.
const ALIGN: usize = 8;

/// Free lists of small blocks. Each free block's first word points to the
/// next free block of its class.
pub struct Allocator {
    heads: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: the filter's VM is single-threaded (proxy-wasm runs each VM on
// one thread); the lists are never touched from two threads.
unsafe impl Sync for Allocator {}

impl Allocator {
    pub const fn new() -> Allocator {
        Allocator {
            heads: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Allocator::new()
    }
}

/// The class of a layout, if it has one.
fn class(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN || layout.size() > CLASSES * STEP || layout.size() == 0 {
        return None;
    }
    Some(layout.size().saturating_sub(1) / STEP)
}

/// The layout of every block of class `c`.
fn class_layout(c: usize) -> Layout {
    // SAFETY: the size is a non-zero multiple of 16 below 2^31 and ALIGN is
    // a power of two.
    unsafe { Layout::from_size_align_unchecked(c.saturating_add(1).saturating_mul(STEP), ALIGN) }
}

unsafe impl GlobalAlloc for Allocator {
    // One copy: inlined at every allocation site it was 57 KB of `.wasm`.
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            // SAFETY: `layout` is the caller's, passed on as it is.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single-threaded (see `Sync`), and no reference to the lists
        // outlives this call.
        let heads = unsafe { &mut *self.heads.get() };
        let Some(slot) = heads.get_mut(c) else {
            return ptr::null_mut();
        };
        let head = *slot;
        if head.is_null() {
            // SAFETY: a valid, non-zero layout.
            return unsafe { System.alloc(class_layout(c)) };
        }
        // SAFETY: `head` is a free block of class `c`, at least 16 bytes,
        // aligned to 8, whose first word `dealloc` wrote.
        *slot = unsafe { head.cast::<*mut u8>().read() };
        head
    }

    // One copy: inlined at every allocation site it was 57 KB of `.wasm`.
    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else {
            // SAFETY: the block came from `System.alloc(layout)` above.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: as in `alloc`.
        let heads = unsafe { &mut *self.heads.get() };
        let Some(slot) = heads.get_mut(c) else {
            return;
        };
        // SAFETY: `block` is a class-`c` block (its layout has class `c`),
        // no longer used by its owner, big and aligned enough for a pointer.
        unsafe { block.cast::<*mut u8>().write(*slot) };
        *slot = block;
    }

    // One copy: inlined at every allocation site it was 57 KB of `.wasm`.
    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` makes a valid layout with
        // this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            // Still fits its block.
            (Some(a), Some(b)) if a == b => block,
            // Both outside the classes: dlmalloc may grow in place.
            // SAFETY: the block came from `System.alloc(layout)`.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a valid layout, as above.
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    // SAFETY: both blocks hold at least the smaller size and
                    // are distinct allocations.
                    unsafe {
                        ptr::copy_nonoverlapping(block, new, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_and_hold_their_bytes() {
        let a = Allocator::new();
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut seed = 5u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for round in 0..20_000u32 {
            if live.len() < 64 && next() % 3 != 0 {
                let size = 1 + next() % 700;
                let align = [1, 2, 4, 8, 16][next() % 5];
                let layout = Layout::from_size_align(size, align).unwrap();
                let p = unsafe { a.alloc(layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                let fill = round as u8;
                unsafe { p.write_bytes(fill, size) };
                live.push((p, layout, fill));
            } else if !live.is_empty() {
                let (p, layout, fill) = live.swap_remove(next() % live.len());
                let bytes = unsafe { std::slice::from_raw_parts(p, layout.size()) };
                assert!(bytes.iter().all(|&b| b == fill), "a block was overwritten");
                if next() % 2 == 0 {
                    let new_size = 1 + next() % 700;
                    let q = unsafe { a.realloc(p, layout, new_size) };
                    let kept = layout.size().min(new_size);
                    let bytes = unsafe { std::slice::from_raw_parts(q, kept) };
                    assert!(bytes.iter().all(|&b| b == fill));
                    let layout = Layout::from_size_align(new_size, layout.align()).unwrap();
                    unsafe { q.write_bytes(fill, new_size) };
                    live.push((q, layout, fill));
                } else {
                    unsafe { a.dealloc(p, layout) };
                }
            }
        }
        for (p, layout, _) in live {
            unsafe { a.dealloc(p, layout) };
        }
    }
}
