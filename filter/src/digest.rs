//! SHA-256 digests in lower-case hex, and hex itself.
//!
//! Owns: the digests a decision carries (`policy_sha256`, `arg_sha256`) and
//! the one a bearer token is matched by. A JSON value is digested over its
//! RFC 8785 canonical text (`json::write::canonical`), so anyone can compute
//! the same digest from the same policy or arguments with a JCS library,
//! whatever key order or number spelling the document used.
//!
//! Does not own: counter-key digests (`engine::counters`, not SHA-256).

use crate::json::Json;
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, &Sha256::digest(bytes));
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of `value`'s canonical JSON, in hex.
pub fn json_sha256(value: &Json<'_>) -> String {
    sha256_hex(crate::json::write::canonical(value).as_bytes())
}

/// Appends `bytes` as lower-case hex (a table, not `format!`: this runs for
/// every counter of every call).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_digests_ignore_spelling() {
        let a = crate::json::parse(br#"{"b":1.0,"a":"\u0078"}"#).unwrap();
        let b = crate::json::parse(br#"{ "a":"x", "b":1 }"#).unwrap();
        assert_eq!(json_sha256(&a), json_sha256(&b));
        // RFC 8785's text for it, digested.
        assert_eq!(json_sha256(&a), sha256_hex(br#"{"a":"x","b":1}"#));
    }
}
