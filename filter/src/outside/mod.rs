//! What the filter asks services outside the proxy, and how it reads their
//! answers (SPEC §7): pure, no host calls. The stream's gate sends the
//! bytes through its `Host` and hands the answer back here.
//!
//! Owns: `approval` (the approval service's question and answer) and `rls`
//! (the Rate Limit Service's descriptors, request and answer). Does not
//! own: when to ask or what the answer does to the request (`stream`).

pub mod approval;
pub mod rls;
