//! Server configuration in three layers: embedded defaults, then an optional TOML
//! file (`--config`), then `ARSIGHT_*` environment variables and command-line flags
//! (a flag wins over its variable).
//!
//! ```toml
//! addr = "127.0.0.1:8080"
//! data = "data/default"
//! models = "models"
//! state = "state"              # API key hashes and the event log
//! # as_of = "2024-06-30"       # default: the last date in the data
//! body_limit_bytes = 8388608
//! request_timeout_ms = 30000
//! max_in_flight = 1024
//!
//! [events]
//! fsync = "always"             # or "never": the OS writes back (faster, a power cut may lose the last group)
//!
//! [[keys]]
//! name = "erp"
//! role = "read"                # read < write < admin
//! sha256 = "9f86d08…"          # `arsight api-key --role read` prints a token and this line
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::auth::KeyEntry;

/// When appended events reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// `fdatasync` after every group, before any reply of the group.
    Always,
    /// Written to the OS before the reply; the OS flushes later.
    Never,
}

/// Event store settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSettings {
    /// Durability of each group commit.
    pub fsync: Fsync,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings { fsync: Fsync::Always }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Listen address.
    pub addr: String,
    /// Data directory.
    pub data: PathBuf,
    /// Models directory.
    pub models: PathBuf,
    /// Server state: API key hashes (`api-keys.toml`) and the event log (`events/`).
    pub state: PathBuf,
    /// As-of date; None = the last date in the data.
    pub as_of: Option<chrono::NaiveDate>,
    /// Largest request body.
    pub body_limit_bytes: usize,
    /// Longest a request may run before it is answered 503.
    pub request_timeout_ms: u64,
    /// Most requests in flight; more are answered 503 with Retry-After.
    pub max_in_flight: usize,
    /// Serve without API keys (loopback addresses only).
    pub insecure_no_auth: bool,
    /// Event store.
    pub events: EventSettings,
    /// API keys (hashes only).
    pub keys: Vec<KeyEntry>,
    /// Rates for the forecast's and the worklist's base-currency amounts (`[fx]`:
    /// `base` and `per_base`, units of each currency per one base unit); None: the
    /// data's `fx_rates` table, else built-in approximate rates.
    pub fx: Option<crate::features::FxTable>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            addr: "127.0.0.1:8080".into(),
            data: "data/default".into(),
            models: "models".into(),
            state: "state".into(),
            as_of: None,
            body_limit_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 30_000,
            max_in_flight: 1024,
            insecure_no_auth: false,
            events: EventSettings::default(),
            keys: Vec::new(),
            fx: None,
        }
    }
}

/// A configuration problem, naming the source and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {reason}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        reason: String,
    },
    /// The file or a variable holds an invalid value.
    #[error("{source_name}: {reason}")]
    Invalid {
        /// The file or the variable.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Values given on the command line (each already merged with its `ARSIGHT_*`
/// variable by the argument parser); None = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--addr` / `ARSIGHT_ADDR`.
    pub addr: Option<String>,
    /// `--data` / `ARSIGHT_DATA`.
    pub data: Option<PathBuf>,
    /// `--models` / `ARSIGHT_MODELS`.
    pub models: Option<PathBuf>,
    /// `--state` / `ARSIGHT_STATE`.
    pub state: Option<PathBuf>,
    /// `--as-of` / `ARSIGHT_AS_OF`.
    pub as_of: Option<chrono::NaiveDate>,
    /// `--insecure-no-auth`.
    pub insecure_no_auth: bool,
}

impl Settings {
    /// Defaults, then `file`, then the environment (`ARSIGHT_BODY_LIMIT_BYTES`,
    /// `ARSIGHT_REQUEST_TIMEOUT_MS`, `ARSIGHT_MAX_IN_FLIGHT`, `ARSIGHT_EVENTS_FSYNC`),
    /// then `over`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file or variable.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        over: Overrides,
    ) -> Result<Settings, ConfigError> {
        let mut s = match file {
            None => Settings::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Read { path: p.display().to_string(), reason: e.to_string() })?;
                toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                    source_name: p.display().to_string(),
                    reason: e.to_string().trim().replace('\n', " "),
                })?
            }
        };
        if let Some(fx) = &s.fx {
            if let Some((c, r)) = fx.per_base.iter().find(|(_, r)| !(r.is_finite() && **r > 0.0)) {
                return Err(ConfigError::Invalid {
                    source_name: file.map(|p| p.display().to_string()).unwrap_or_default(),
                    reason: format!("fx.per_base.{} should be a positive number, not {r}", c.as_str()),
                });
            }
        }
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError::Invalid {
                source_name: name.into(),
                reason: format!("should be a whole number, not '{v}'"),
            })
        }
        if let Some(v) = env("ARSIGHT_BODY_LIMIT_BYTES") {
            s.body_limit_bytes = num("ARSIGHT_BODY_LIMIT_BYTES", &v)?;
        }
        if let Some(v) = env("ARSIGHT_REQUEST_TIMEOUT_MS") {
            s.request_timeout_ms = num("ARSIGHT_REQUEST_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = env("ARSIGHT_MAX_IN_FLIGHT") {
            s.max_in_flight = num("ARSIGHT_MAX_IN_FLIGHT", &v)?;
        }
        if let Some(v) = env("ARSIGHT_EVENTS_FSYNC") {
            s.events.fsync = match v.trim() {
                "always" => Fsync::Always,
                "never" => Fsync::Never,
                _ => {
                    return Err(ConfigError::Invalid {
                        source_name: "ARSIGHT_EVENTS_FSYNC".into(),
                        reason: format!("should be always or never, not '{v}'"),
                    })
                }
            };
        }
        if let Some(v) = over.addr {
            s.addr = v;
        }
        if let Some(v) = over.data {
            s.data = v;
        }
        if let Some(v) = over.models {
            s.models = v;
        }
        if let Some(v) = over.state {
            s.state = v;
        }
        if over.as_of.is_some() {
            s.as_of = over.as_of;
        }
        s.insecure_no_auth |= over.insecure_no_auth;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, reason: &str| Err(ConfigError::Invalid { source_name: k.into(), reason: reason.into() });
        if self.body_limit_bytes < 1024 {
            return bad("body_limit_bytes", "should be at least 1024");
        }
        if self.request_timeout_ms == 0 {
            return bad("request_timeout_ms", "should be positive");
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight", "should be positive");
        }
        for (i, k) in self.keys.iter().enumerate() {
            if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad(&format!("keys[{i}].sha256"), "should be 64 hex digits (the SHA-256 of the token)");
            }
        }
        if self.insecure_no_auth && !is_loopback(&self.addr) {
            return bad(
                "insecure_no_auth",
                &format!("is accepted on a loopback address only (127.0.0.1, ::1, localhost), not {}", self.addr),
            );
        }
        Ok(())
    }
}

/// Whether `addr` (host:port) names a loopback interface.
pub fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("arsight.toml");
        std::fs::write(
            &f,
            "addr = \"127.0.0.1:9000\"\nmax_in_flight = 10\nrequest_timeout_ms = 500\n[events]\nfsync = \"never\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f), env_of(&[("ARSIGHT_MAX_IN_FLIGHT", "20")]), Overrides::default()).unwrap();
        assert_eq!(s.addr, "127.0.0.1:9000"); // file over default
        assert_eq!(s.max_in_flight, 20); // env over file
        assert_eq!(s.request_timeout_ms, 500);
        assert_eq!(s.events.fsync, Fsync::Never);
        assert_eq!(s.body_limit_bytes, Settings::default().body_limit_bytes);
        let over = Overrides { addr: Some("127.0.0.1:0".into()), ..Default::default() };
        let s = Settings::load(Some(&f), env_of(&[]), over).unwrap();
        assert_eq!(s.addr, "127.0.0.1:0"); // flag over file
    }

    #[test]
    fn bad_values_name_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.toml");
        std::fs::write(&f, "max_in_flite = 3\n").unwrap();
        let e = Settings::load(Some(&f), env_of(&[]), Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("a.toml") && e.contains("max_in_flite"), "{e}");
        let e = Settings::load(None, env_of(&[("ARSIGHT_MAX_IN_FLIGHT", "many")]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("ARSIGHT_MAX_IN_FLIGHT") && e.contains("many"), "{e}");
        std::fs::write(&f, "[[keys]]\nname = \"x\"\nrole = \"read\"\nsha256 = \"abc\"\n").unwrap();
        let e = Settings::load(Some(&f), env_of(&[]), Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("keys[0].sha256"), "{e}");
        std::fs::write(&f, "[fx]\nbase = \"EUR\"\n[fx.per_base]\nUSD = -1.0\n").unwrap();
        let e = Settings::load(Some(&f), env_of(&[]), Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("a.toml") && e.contains("fx.per_base.USD should be a positive number"), "{e}");
    }

    #[test]
    fn fx_rates_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.toml");
        std::fs::write(&f, "[fx]\nbase = \"EUR\"\n[fx.per_base]\nUSD = 1.25\n").unwrap();
        let s = Settings::load(Some(&f), env_of(&[]), Overrides::default()).unwrap();
        let fx = s.fx.expect("[fx] read");
        assert_eq!(fx.base.as_str(), "EUR");
        assert_eq!(fx.to_base(125, crate::domain::Currency::USD), 1.0);
        assert!(Settings::default().fx.is_none());
    }

    #[test]
    fn the_example_configuration_loads_as_the_defaults() {
        let s = Settings::load(Some(Path::new("examples/arsight.toml")), env_of(&[]), Overrides::default()).unwrap();
        let d = Settings::default();
        assert_eq!(
            (s.addr, s.data, s.max_in_flight, s.events.fsync),
            (d.addr, d.data, d.max_in_flight, d.events.fsync)
        );
    }

    #[test]
    fn no_auth_only_on_loopback() {
        let ok = Overrides { addr: Some("127.0.0.1:0".into()), insecure_no_auth: true, ..Default::default() };
        assert!(Settings::load(None, env_of(&[]), ok).is_ok());
        let ok6 = Overrides { addr: Some("[::1]:8080".into()), insecure_no_auth: true, ..Default::default() };
        assert!(Settings::load(None, env_of(&[]), ok6).is_ok());
        let public = Overrides { addr: Some("0.0.0.0:8080".into()), insecure_no_auth: true, ..Default::default() };
        let e = Settings::load(None, env_of(&[]), public).unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }
}
