//! API keys with roles. Only SHA-256 hashes of the tokens are kept (in the
//! configuration and in `<state>/api-keys.toml`); a request presents its token as
//! `Authorization: Bearer <token>` or `x-api-key: <token>`. Roles are ordered:
//! `read` (GET endpoints and predictions) < `write` (also events) < `admin` (also
//! model activation and reload). Tokens are never logged.

use std::collections::HashMap;
use std::path::Path;

use axum::http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GET endpoints and `POST /v1/predictions`.
    Read,
    /// Also `POST /v1/events`.
    Write,
    /// Also the model endpoints.
    Admin,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Parses `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// One configured key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Who holds it (shown in logs instead of the token).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Serialize, Deserialize, Default)]
struct KeyFile {
    #[serde(default)]
    keys: Vec<KeyEntry>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that matches no key (401).
    Unauthenticated(&'static str),
    /// A valid key whose role is too low (403).
    Forbidden {
        /// The key's role.
        has: Role,
        /// The role the route needs.
        needs: Role,
    },
}

/// The keys a server accepts.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    by_hash: HashMap<String, (String, Role)>,
    /// Every request passes (`--insecure-no-auth`).
    pub disabled: bool,
}

/// Lower-case hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

/// Lower-case hex digits of `bytes` (every request's key is hashed: no formatting
/// machinery per byte).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// A new random token (`ars_` + 256 bits from the OS, hex).
///
/// # Errors
/// The OS random source failed.
pub fn new_token() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(format!("ars_{}", hex(&b)))
}

/// The role a route needs; None for the public ones (probes, the API description, the
/// dashboard page, which holds no data).
pub fn required_role(method: &Method, route: &str) -> Option<Role> {
    match route {
        "/healthz" | "/readyz" | "/openapi.json" | "/" | "/dashboard" => None,
        "/v1/events" => Some(Role::Write),
        r if r.starts_with("/v1/models") && method == Method::POST => Some(Role::Admin),
        _ => Some(Role::Read),
    }
}

impl Keys {
    /// Keys from the configuration plus `<state>/api-keys.toml`. When there are none
    /// at all (and auth is on), generates an admin key, stores its hash there
    /// (temp file + rename) and returns the token, to be shown once.
    ///
    /// # Errors
    /// Unreadable key file, invalid entries, or a failed write.
    pub fn load(configured: &[KeyEntry], state: &Path, disabled: bool) -> Result<(Keys, Option<String>), String> {
        let path = state.join("api-keys.toml");
        let mut stored = match std::fs::read_to_string(&path) {
            Ok(t) => toml::from_str::<KeyFile>(&t).map_err(|e| format!("{}: {}", path.display(), e.message()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut token = None;
        if configured.is_empty() && stored.keys.is_empty() && !disabled {
            let t = new_token()?;
            stored.keys.push(KeyEntry { name: "admin".into(), role: Role::Admin, sha256: hash_token(&t) });
            let text = toml::to_string(&stored).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
            crate::fsutil::atomic_write(&path, |f| {
                use std::io::Write;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
                f.write_all(text.as_bytes())
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
            token = Some(t);
        }
        let mut by_hash = HashMap::new();
        for (i, k) in configured.iter().chain(&stored.keys).enumerate() {
            if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("key {i} ('{}'): sha256 should be 64 hex digits", k.name));
            }
            by_hash.insert(k.sha256.to_ascii_lowercase(), (k.name.clone(), k.role));
        }
        Ok((Keys { by_hash, disabled }, token))
    }

    /// Keys from explicit entries (tests).
    pub fn from_entries(entries: &[KeyEntry]) -> Keys {
        Keys {
            by_hash: entries.iter().map(|k| (k.sha256.to_ascii_lowercase(), (k.name.clone(), k.role))).collect(),
            disabled: false,
        }
    }

    /// Checks a request's token against the role its route needs; Ok carries the
    /// key's name (for logs).
    ///
    /// # Errors
    /// [`Denied`].
    pub fn check(&self, headers: &HeaderMap, needs: Role) -> Result<String, Denied> {
        if self.disabled {
            return Ok("anonymous".into());
        }
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(Denied::Unauthenticated("no API key (send Authorization: Bearer <token> or x-api-key)"));
        };
        let Some((name, role)) = self.by_hash.get(&hash_token(token)) else {
            return Err(Denied::Unauthenticated("the API key matches no configured key"));
        };
        if *role < needs {
            return Err(Denied::Forbidden { has: *role, needs });
        }
        Ok(name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn tokens_hash_to_the_sha256_hex_digest() {
        // FIPS 180-2's "abc" example; surrounding whitespace is not part of a token.
        assert_eq!(hash_token(" abc\n"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let t = new_token().unwrap();
        assert!(t.len() == 68 && t.starts_with("ars_") && t[4..].bytes().all(|b| b.is_ascii_hexdigit()), "{t}");
    }

    #[test]
    fn roles_are_ordered_and_checked() {
        let keys = Keys::from_entries(&[
            KeyEntry { name: "r".into(), role: Role::Read, sha256: hash_token("tok-r") },
            KeyEntry { name: "w".into(), role: Role::Write, sha256: hash_token("tok-w") },
        ]);
        assert_eq!(keys.check(&headers("tok-r"), Role::Read), Ok("r".into()));
        assert_eq!(
            keys.check(&headers("tok-r"), Role::Write),
            Err(Denied::Forbidden { has: Role::Read, needs: Role::Write })
        );
        assert_eq!(keys.check(&headers("tok-w"), Role::Write), Ok("w".into()));
        assert!(matches!(keys.check(&headers("tok-w"), Role::Admin), Err(Denied::Forbidden { .. })));
        assert!(matches!(keys.check(&headers("nope"), Role::Read), Err(Denied::Unauthenticated(_))));
        assert!(matches!(keys.check(&HeaderMap::new(), Role::Read), Err(Denied::Unauthenticated(_))));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "tok-r".parse().unwrap());
        assert!(keys.check(&h, Role::Read).is_ok());
    }

    #[test]
    fn first_start_generates_one_admin_key_and_stores_only_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, token) = Keys::load(&[], dir.path(), false).unwrap();
        let token = token.expect("a generated token");
        assert!(token.starts_with("ars_") && token.len() == 68);
        let stored = std::fs::read_to_string(dir.path().join("api-keys.toml")).unwrap();
        assert!(!stored.contains(&token) && stored.contains(&hash_token(&token)));
        assert_eq!(keys.check(&headers(&token), Role::Admin), Ok("admin".into()));
        // Second start: the stored hash is used, nothing new is printed.
        let (again, none) = Keys::load(&[], dir.path(), false).unwrap();
        assert!(none.is_none());
        assert!(again.check(&headers(&token), Role::Admin).is_ok());
    }

    #[test]
    fn public_and_protected_routes() {
        assert_eq!(required_role(&Method::GET, "/healthz"), None);
        assert_eq!(
            required_role(&Method::GET, "/dashboard"),
            None,
            "the page holds no data; its requests carry the key"
        );
        assert_eq!(required_role(&Method::GET, "/v1/models"), Some(Role::Read));
        assert_eq!(required_role(&Method::POST, "/v1/models/reload"), Some(Role::Admin));
        assert_eq!(required_role(&Method::POST, "/v1/events"), Some(Role::Write));
        assert_eq!(required_role(&Method::POST, "/v1/predictions"), Some(Role::Read));
    }
}
