//! The filter's memory allocator: free lists by size class over memory the
//! module grows itself, no `malloc`.
//!
//! Why: a request makes some fifty small allocations (header values, JSON
//! members, decision fields), and wasi-libc's dlmalloc spent about 300
//! instructions on each malloc/free pair, a quarter of the filter's work per
//! request. Here a block of a class is a pop or a push on that class's
//! list. Small classes are multiples of 16
//! bytes up to 512; large ones powers of two from 1 KiB (a body of 600 KiB
//! takes a 1 MiB block). New blocks are cut from pages the allocator adds
//! with `memory.grow`. Blocks are never given back: what the lists hold is
//! bounded by the most blocks of each class ever live at once (a few per
//! concurrent request, and the largest body seen).
//!
//! proxy-wasm VMs run one thread, so the lists need no lock; the type says
//! so (`Sync` by assertion) and the `.wasm` is the only place it is the
//! global allocator. Natively it is exercised by its tests, over pages the
//! system allocator lends.
//!
//! Owns: `Allocator`. Does not own: anything else.

// Sizes here stay below 2^32 (a 32-bit address space: memory.grow fails
// first) and classes are bounded by `Class::of`; none of this arithmetic
// can overflow.
#![allow(clippy::arithmetic_side_effects)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Small classes: multiples of `STEP` bytes, up to `SMALL * STEP`.
const STEP: usize = 16;
const SMALL: usize = 32;
/// Large classes: `1 << (LARGE_SHIFT + i)` bytes, for i below `LARGE`.
const LARGE_SHIFT: u32 = 10;
const LARGE: usize = 22;
/// Blocks are cut at multiples of 16 bytes: every class block is aligned
/// so, which is all Rust's types need (larger alignments are refused).
const ALIGN: usize = 16;
const PAGE: usize = 65_536;

/// Free lists and the region new blocks are cut from. Each free block's
/// first word points to the next free block of its class.
struct Heap {
    small: [*mut u8; SMALL],
    large: [*mut u8; LARGE],
    /// The next free byte of the current region, and its end.
    next: usize,
    end: usize,
}

pub struct Allocator {
    heap: UnsafeCell<Heap>,
}

// SAFETY: the filter's VM is single-threaded (proxy-wasm runs each VM on
// one thread); the heap is never touched from two threads.
unsafe impl Sync for Allocator {}

impl Allocator {
    pub const fn new() -> Allocator {
        Allocator {
            heap: UnsafeCell::new(Heap {
                small: [ptr::null_mut(); SMALL],
                large: [ptr::null_mut(); LARGE],
                next: 0,
                end: 0,
            }),
        }
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Allocator::new()
    }
}

/// A size class: small `i` holds `(i + 1) * STEP` bytes, large `i` holds
/// `1 << (LARGE_SHIFT + i)`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Small(usize),
    Large(usize),
}

impl Class {
    fn of(layout: Layout) -> Option<Class> {
        if layout.align() > ALIGN {
            return None;
        }
        let size = layout.size().max(1);
        if size <= SMALL * STEP {
            return Some(Class::Small((size - 1) / STEP));
        }
        let bits = usize::BITS - (size - 1).leading_zeros();
        let i = usize::try_from(bits.saturating_sub(LARGE_SHIFT)).ok()?;
        (i < LARGE).then_some(Class::Large(i))
    }

    fn size(self) -> usize {
        match self {
            Class::Small(i) => (i + 1) * STEP,
            Class::Large(i) => 1 << (LARGE_SHIFT as usize + i),
        }
    }
}

impl Heap {
    fn list(&mut self, class: Class) -> Option<&mut *mut u8> {
        match class {
            Class::Small(i) => self.small.get_mut(i),
            Class::Large(i) => self.large.get_mut(i),
        }
    }

    /// A new block of `size` bytes (a multiple of 16) from the region,
    /// growing memory when it runs out. Null when memory cannot grow.
    fn cut(&mut self, size: usize) -> *mut u8 {
        if self.end.saturating_sub(self.next) < size {
            let pages = size.div_ceil(PAGE).max(1);
            let Some(start) = grow(pages) else {
                return ptr::null_mut();
            };
            // Memory grows at its end: a new region right after the old one
            // continues it, and the old region's rest is not lost.
            if start != self.end {
                self.next = start;
            }
            self.end = start + pages * PAGE;
        }
        let block = self.next;
        self.next += size;
        block as *mut u8
    }
}

/// Adds `pages` pages of memory; the address of the first.
#[cfg(target_arch = "wasm32")]
fn grow(pages: usize) -> Option<usize> {
    let before = core::arch::wasm32::memory_grow(0, pages);
    (before != usize::MAX).then(|| before * PAGE)
}

/// Natively (tests only): pages lent by the system allocator, never freed.
#[cfg(not(target_arch = "wasm32"))]
fn grow(pages: usize) -> Option<usize> {
    let layout = Layout::from_size_align(pages * PAGE, PAGE).ok()?;
    // SAFETY: a valid, non-zero layout.
    let p = unsafe { std::alloc::System.alloc(layout) };
    (!p.is_null()).then_some(p as usize)
}

unsafe impl GlobalAlloc for Allocator {
    // One copy: inlined at every allocation site it was 57 KB of `.wasm`.
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Class::of(layout) else {
            return ptr::null_mut();
        };
        // SAFETY: single-threaded (see `Sync`), and no reference to the heap
        // outlives this call.
        let heap = unsafe { &mut *self.heap.get() };
        let Some(slot) = heap.list(class) else {
            return ptr::null_mut();
        };
        let head = *slot;
        if head.is_null() {
            return heap.cut(class.size());
        }
        // SAFETY: `head` is a free block of this class, at least 16 bytes,
        // aligned to 16, whose first word `dealloc` wrote.
        *slot = unsafe { head.cast::<*mut u8>().read() };
        head
    }

    // One copy: inlined at every allocation site it was 57 KB of `.wasm`.
    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = Class::of(layout) else {
            return;
        };
        // SAFETY: as in `alloc`.
        let heap = unsafe { &mut *self.heap.get() };
        let Some(slot) = heap.list(class) else {
            return;
        };
        // SAFETY: `block` came from `alloc` with this layout, so it is a
        // block of this class, no longer used by its owner, and big and
        // aligned enough for a pointer.
        unsafe { block.cast::<*mut u8>().write(*slot) };
        *slot = block;
    }

    // One copy: inlined at every allocation site it was 57 KB of `.wasm`.
    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` makes a valid layout with
        // this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if Class::of(layout).is_some() && Class::of(layout) == Class::of(new_layout) {
            // Still fits its block.
            return block;
        }
        // SAFETY: a valid layout, as above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size and are
            // distinct allocations; `block` is freed with its own layout.
            unsafe {
                ptr::copy_nonoverlapping(block, new, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
        }
        new
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
                // Mostly small, some large (up to 200 KB, past one page).
                let size = if next() % 8 == 0 {
                    1 + next() % 200_000
                } else {
                    1 + next() % 700
                };
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
                    let new_size = 1 + next() % 5_000;
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

    #[test]
    fn classes_fit_their_sizes() {
        for size in [
            0,
            1,
            16,
            17,
            512,
            513,
            1024,
            1025,
            65_536,
            1 << 20,
            (1 << 20) + 1,
        ] {
            let class = Class::of(Layout::from_size_align(size, 8).unwrap()).unwrap();
            assert!(class.size() >= size.max(1), "{size}");
            assert!(class.size().is_multiple_of(ALIGN));
        }
        assert!(Class::of(Layout::from_size_align(8, 32).unwrap()).is_none());
        let huge = Layout::from_size_align(1 << 33, 8).unwrap();
        assert!(Class::of(huge).is_none());
    }
}
