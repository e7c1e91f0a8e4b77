//! Bytes -> a pattern and haystacks -> `mcp_policy::regex::Regex` against
//! `regex-lite`, the crate whose syntax and meaning it keeps.
//!
//! Input: the pattern, a NUL, then haystacks separated by NULs (lossy UTF-8).
//! Properties: both compile the pattern or both refuse it (a pattern too
//! large for the filter's limits, or with a capture group name that is not
//! ASCII, may be refused by it alone); a compiled pattern matches exactly the
//! haystacks regex-lite matches.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let pattern = parts.next().unwrap_or_default();
    if pattern.len() > 200 {
        return;
    }
    let ours = mcp_policy::regex::Regex::new(pattern);
    let theirs = regex_lite::Regex::new(pattern);
    match (&ours, &theirs) {
        (Ok(_), Err(e)) => panic!("the filter compiles {pattern:?}, regex-lite refuses it: {e}"),
        (Err(e), Ok(_)) if !e.contains("too large") && !e.contains("must be ASCII") => {
            panic!("the filter refuses {pattern:?} ({e}), regex-lite compiles it")
        }
        _ => {}
    }
    if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
        for hay in parts.take(8) {
            assert_eq!(
                ours.is_match(hay),
                theirs.is_match(hay),
                "{pattern:?} on {hay:?}"
            );
        }
    }
});
