//! Fuel probes: marks in the code for `cost --trace` (host-tests), so the
//! trace says which stretch of guest work burnt what. Compiled in only with
//! the `probe` feature on wasm32 (a log call per mark); a no-op otherwise.

/// Marks the end of a stretch of work: `probe!("parsed")`.
#[macro_export]
macro_rules! probe {
    ($label:literal) => {
        $crate::probe::mark(concat!("probe ", $label))
    };
}

/// Marks the end of a stretch of work named `text` ("probe <label>").
#[cfg(all(feature = "probe", target_arch = "wasm32"))]
pub fn mark(text: &'static str) {
    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_log(level: u32, ptr: *const u8, len: usize) -> u32;
    }
    // SAFETY: the pointer and length describe a static string.
    unsafe {
        proxy_log(0, text.as_ptr(), text.len());
    }
}

/// Marks the end of a stretch of work (a no-op in this build).
#[cfg(not(all(feature = "probe", target_arch = "wasm32")))]
#[inline(always)]
pub fn mark(_text: &'static str) {}
