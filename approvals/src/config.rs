//! The service's options as the command line gives them: approvers, the
//! public URL, the expiry times, and the checks that refuse bad ones.
//!
//! Owns: parsing `NAME=SHA256HEX` and `--public-url`, and the origin that
//! approve and deny accept. Does not own: flags (the CLI's clap), the
//! listening socket (`lib`), or sessions (`store`, `web`).

use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// What `mcp-policy approvals serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port`; port 0 picks a free one.
    pub listen: String,
    /// The SQLite file (created if absent).
    pub db: PathBuf,
    pub approvers: Vec<Approver>,
    /// Where approvers reach the pages; `http://<bound address>` when `None`.
    pub public_url: Option<String>,
    /// How long a request waits for a person.
    pub pending_ttl: Duration,
    /// How long an approval waits for its retry, and a denial keeps applying.
    pub approved_ttl: Duration,
}

pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(900);
pub const DEFAULT_APPROVED_TTL: Duration = Duration::from_secs(600);

impl Options {
    /// Everything that can be refused before binding the socket.
    pub fn validate(&self) -> Result<(), String> {
        if self.approvers.is_empty() {
            return Err("at least one --approver NAME=SHA256HEX is needed".into());
        }
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        for a in &self.approvers {
            if !names.insert(a.name.as_str()) {
                return Err(format!("--approver {:?} is given twice", a.name));
            }
            // One token, two names: the audit could not say who decided.
            if !hashes.insert(a.token_sha256) {
                return Err(format!(
                    "--approver {:?} has the same token hash as another approver",
                    a.name
                ));
            }
        }
        if self.pending_ttl.is_zero() {
            return Err("--pending-ttl-secs must be at least 1".into());
        }
        if self.approved_ttl.is_zero() {
            return Err("--approved-ttl-secs must be at least 1".into());
        }
        if let Some(url) = &self.public_url {
            PublicUrl::parse(url)?;
        }
        Ok(())
    }
}

/// A person who may approve: a name for the audit and the SHA-256 of a
/// secret token (the token itself is never configured or stored).
#[derive(Clone, PartialEq, Eq)]
pub struct Approver {
    pub name: String,
    token_sha256: [u8; 32],
}

impl std::fmt::Debug for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approver")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Approver {
    /// `NAME=SHA256HEX` (hex in either case).
    pub fn parse(spec: &str) -> Result<Approver, String> {
        let Some((name, hex)) = spec.split_once('=') else {
            return Err(format!("--approver wants NAME=SHA256HEX, got {spec:?}"));
        };
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err("an approver's name must be 1 to 64 characters".into());
        }
        if name.chars().any(|c| c.is_control()) {
            return Err(format!("approver name {name:?} has a control character"));
        }
        let token_sha256 = decode_sha256_hex(hex.trim()).ok_or_else(|| {
            format!("approver {name:?}: the token hash must be 64 hex digits (SHA-256)")
        })?;
        // Sign-in refuses an empty token; an approver that needs one could never sign in.
        let empty: [u8; 32] = Sha256::digest(b"").into();
        if token_sha256 == empty {
            return Err(format!(
                "approver {name:?}: that is the SHA-256 of an empty token"
            ));
        }
        Ok(Approver {
            name: name.to_owned(),
            token_sha256,
        })
    }

    /// The approver whose token this is, comparing every approver in
    /// constant time so the timing tells nothing about which hash is close.
    pub fn find<'a>(approvers: &'a [Approver], token: &str) -> Option<&'a Approver> {
        if token.is_empty() {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for a in approvers {
            if bool::from(a.token_sha256.ct_eq(&hash)) && found.is_none() {
                found = Some(a);
            }
        }
        found
    }

    /// The token hash as lower-case hex: a session remembers it, so
    /// changing an approver's token ends the sessions of the old one.
    pub fn key(&self) -> String {
        hex(&self.token_sha256)
    }
}

impl FromStr for Approver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Approver::parse(s)
    }
}

fn decode_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *slot = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Where approvers reach the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// The URL without a trailing slash: approval URLs are `{base}/approvals/{id}`.
    pub base: String,
    /// `scheme://host[:port]`, lower case, default port dropped: what a
    /// browser sends as `Origin`.
    pub origin: String,
    /// The path under the origin (`""` or `/prefix`) that a reverse proxy
    /// strips before the request reaches this service; the pages link under it.
    pub path: String,
    /// `https`: the session cookie is `Secure`.
    pub secure: bool,
}

impl PublicUrl {
    pub fn parse(url: &str) -> Result<PublicUrl, String> {
        let bad = |why: &str| format!("--public-url {url:?}: {why}");
        let trimmed = url.trim().trim_end_matches('/');
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| bad("must start with http:// or https://"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("must start with http:// or https://"));
        }
        if rest.contains(['?', '#', '\\'])
            || rest.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("must be a plain URL without query, fragment or spaces"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("needs a host (and no user info)"));
        }
        Ok(PublicUrl {
            base: format!("{scheme}://{authority}{path}"),
            origin: normalize_origin(&format!("{scheme}://{authority}")),
            path: path.to_owned(),
            secure: scheme == "https",
        })
    }

    /// `http://<address the service is bound to>`.
    pub fn for_address(addr: std::net::SocketAddr) -> PublicUrl {
        let base = format!("http://{addr}");
        PublicUrl {
            origin: normalize_origin(&base),
            base,
            path: String::new(),
            secure: false,
        }
    }
}

/// An origin as browsers serialize it: lower case, no default port.
pub(crate) fn normalize_origin(origin: &str) -> String {
    let lower = origin.trim().to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if lower.starts_with(scheme) {
            if let Some(stripped) = lower.strip_suffix(port) {
                return stripped.to_owned();
            }
        }
    }
    lower
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(token: &str) -> String {
        hex(&Sha256::digest(token.as_bytes()))
    }

    #[test]
    fn approvers_parse_in_either_case_and_match_their_token() {
        let alice = Approver::parse(&format!("alice={}", sha("s3cret").to_uppercase())).unwrap();
        let bob = Approver::parse(&format!("bob={}", sha("other"))).unwrap();
        let all = [alice, bob];
        assert_eq!(Approver::find(&all, "s3cret").unwrap().name, "alice");
        assert_eq!(Approver::find(&all, "other").unwrap().name, "bob");
        assert!(Approver::find(&all, "nope").is_none());
        assert!(Approver::find(&all, "").is_none());
        for bad in [
            "alice",
            "=abc",
            "alice=abc",
            &format!("alice={}0", sha("x")),
            &format!("alice={}", sha("")),
        ] {
            assert!(Approver::parse(bad).is_err(), "{bad}");
        }
        let text = format!("{:?}", all[0]);
        assert!(
            !text.contains(&sha("s3cret")),
            "Debug hides the hash: {text}"
        );
    }

    #[test]
    fn public_urls_give_base_origin_and_path() {
        let u = PublicUrl::parse("https://Approvals.Example.com:443/").unwrap();
        assert_eq!(u.base, "https://Approvals.Example.com:443");
        assert_eq!(u.origin, "https://approvals.example.com");
        assert_eq!(u.path, "");
        assert!(u.secure);
        let u = PublicUrl::parse("http://host:8080/mcp/approvals/").unwrap();
        assert_eq!(u.base, "http://host:8080/mcp/approvals");
        assert_eq!(u.origin, "http://host:8080");
        assert_eq!(u.path, "/mcp/approvals");
        for bad in [
            "ftp://x",
            "host:80",
            "http://",
            "http://a/b?c",
            "http://u@h",
            "http://a b",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_refuse_duplicates_and_zero_ttls() {
        let a = Approver::parse(&format!("a={}", sha("1"))).unwrap();
        let mut o = Options {
            listen: "127.0.0.1:0".into(),
            db: "x.db".into(),
            approvers: vec![a.clone()],
            public_url: None,
            pending_ttl: DEFAULT_PENDING_TTL,
            approved_ttl: DEFAULT_APPROVED_TTL,
        };
        assert!(o.validate().is_ok());
        o.approvers.push(a);
        assert!(o.validate().is_err());
        o.approvers.pop();
        o.pending_ttl = Duration::ZERO;
        assert!(o.validate().is_err());
        o.pending_ttl = DEFAULT_PENDING_TTL;
        o.approvers.clear();
        assert!(o.validate().is_err());
    }
}
