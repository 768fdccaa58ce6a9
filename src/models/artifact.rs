//! Model artifacts: `<root>/<kind>/<version>/{manifest.json, model.json}` with a
//! `<root>/<kind>/CURRENT` pointer. Everything is written to a temp path and renamed,
//! so a crash leaves the previous version and pointer intact. The version is the
//! as-of date plus the payload hash, so the same data and seed give the same version
//! and the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dataset::model_feature_names;
use crate::features::catalogue::definition_hash;
use crate::fsutil::atomic_write;

/// Version of the artifact layout and payload encoding.
pub const FORMAT_VERSION: u32 = 1;

/// The kinds of model arsight trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Days-late quantiles of an invoice from its issue-date inputs.
    PaymentDate,
    /// Calibrated late-payment probabilities.
    Risk,
    /// Remaining days to payment of an open invoice from its inputs today (cash).
    Cash,
    /// Behaviour segments (k-means).
    Segments,
    /// Global outlier model and drift thresholds.
    Anomaly,
}

impl Kind {
    /// Every kind, in training order.
    pub const ALL: [Kind; 5] = [Kind::PaymentDate, Kind::Risk, Kind::Cash, Kind::Segments, Kind::Anomaly];

    /// Directory name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PaymentDate => "payment_date",
            Kind::Risk => "risk",
            Kind::Cash => "cash",
            Kind::Segments => "segments",
            Kind::Anomaly => "anomaly",
        }
    }

    /// Parses a directory name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a model was trained on and how it did; stored beside the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] at training.
    pub format_version: u32,
    /// Model kind.
    pub kind: Kind,
    /// `<as_of yyyymmdd>-<payload hash prefix>`; filled in by [`ModelStore::save`].
    pub version: String,
    /// As-of date of the training data.
    pub as_of: String,
    /// First and last issue date of the training rows.
    pub training_window: [String; 2],
    /// Rows the final model was fitted on.
    pub n_training_rows: usize,
    /// Model input names, in column order.
    pub feature_names: Vec<String>,
    /// Hash of the feature definitions and input order ([`model_feature_hash`]).
    pub feature_hash: String,
    /// SHA-256 of the input data files.
    pub data_fingerprint: String,
    /// Hyperparameters.
    pub hyperparameters: serde_json::Value,
    /// Seed.
    pub seed: u64,
    /// Metrics on a time-later validation slice (see `models/README.md`).
    pub validation: serde_json::Value,
    /// Versions of arsight and of the crates the payload depends on.
    pub crate_versions: BTreeMap<String, String>,
    /// SHA-256 of the payload file.
    pub payload_sha256: String,
}

/// Artifact failures, each naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// No `CURRENT` pointer for the kind.
    #[error("no {kind} model in {dir}: run `arsight train` first")]
    NoCurrent {
        /// Kind.
        kind: &'static str,
        /// Models directory.
        dir: String,
    },
    /// Unknown version.
    #[error("{kind} model version '{version}' not found in {dir}")]
    NoVersion {
        /// Kind.
        kind: &'static str,
        /// Requested version.
        version: String,
        /// Models directory.
        dir: String,
    },
    /// Written by another artifact format.
    #[error("{path}: artifact format version {found}, this build reads {expected}")]
    FormatVersion {
        /// Manifest path.
        path: String,
        /// Ours.
        expected: u32,
        /// The file's.
        found: u32,
    },
    /// Trained on other feature definitions.
    #[error("{path}: trained on feature definitions {found}, this build computes {expected}; retrain the model")]
    FeatureMismatch {
        /// Manifest path.
        path: String,
        /// Ours.
        expected: String,
        /// The file's.
        found: String,
    },
    /// Payload does not match its manifest or does not parse.
    #[error("{path}: {reason}")]
    Corrupt {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io { path: path.display().to_string(), source }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hash of the feature definitions and the model input order.
pub fn model_feature_hash() -> String {
    let mut h = Sha256::new();
    h.update(definition_hash());
    for n in model_feature_names() {
        h.update(b"\n");
        h.update(n);
    }
    hex(&h.finalize())
}

/// Versions of arsight and of the crates whose behaviour the payloads depend on,
/// read from the committed `Cargo.lock`.
pub fn crate_versions() -> BTreeMap<String, String> {
    const LOCK: &str = include_str!("../../Cargo.lock");
    const WANTED: [&str; 5] = ["ndarray", "linfa", "linfa-clustering", "parquet", "serde_json"];
    let mut out = BTreeMap::new();
    out.insert("arsight".to_string(), env!("CARGO_PKG_VERSION").to_string());
    let mut name = None;
    for line in LOCK.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if WANTED.contains(&n) {
                out.insert(n.to_string(), v.trim_matches('"').to_string());
            }
        }
    }
    out
}

/// SHA-256 over the names, sizes and bytes of the contract files in a data directory.
///
/// # Errors
/// I/O errors naming the file.
pub fn data_fingerprint(dir: &Path) -> Result<String, ArtifactError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(io_err(&d))? {
            let p = e.map_err(io_err(&d))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().replace('\\', "/");
        let mut file = fs::File::open(&f).map_err(io_err(&f))?;
        h.update(rel.as_bytes());
        std::io::copy(&mut file, &mut h).map_err(io_err(&f))?;
    }
    Ok(hex(&h.finalize()))
}

/// A models directory.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

const PAYLOAD: &str = "model.json";
const MANIFEST: &str = "manifest.json";
const CURRENT: &str = "CURRENT";

impl ModelStore {
    /// A store rooted at `root` (created on first save).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelStore { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn kind_dir(&self, kind: Kind) -> PathBuf {
        self.root.join(kind.as_str())
    }

    /// Writes a version (payload, then manifest, into a temp directory renamed into
    /// place) and returns its name. Does not move `CURRENT`.
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn save<T: Serialize>(&self, mut manifest: Manifest, payload: &T) -> Result<String, ArtifactError> {
        let bytes = serde_json::to_vec(payload).map_err(|e| ArtifactError::Corrupt {
            path: self.kind_dir(manifest.kind).display().to_string(),
            reason: format!("cannot encode the model: {e}"),
        })?;
        let sha = hex(&Sha256::digest(&bytes));
        manifest.format_version = FORMAT_VERSION;
        manifest.version = format!("{}-{}", manifest.as_of.replace('-', ""), &sha[..12]);
        manifest.payload_sha256 = sha;
        let kind_dir = self.kind_dir(manifest.kind);
        let final_dir = kind_dir.join(&manifest.version);
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        if final_dir.join(PAYLOAD).exists() {
            // Same payload hash: same model; refresh the manifest only.
            let p = final_dir.join(MANIFEST);
            atomic_write(&p, |f| f.write_all(&manifest_bytes)).map_err(io_err(&p))?;
            return Ok(manifest.version);
        }
        let tmp = kind_dir.join(format!(".{}.{}.tmp", manifest.version, std::process::id()));
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(&tmp)?;
            for (name, data) in [(PAYLOAD, &bytes), (MANIFEST, &manifest_bytes)] {
                let mut f = fs::File::create(tmp.join(name))?;
                f.write_all(data)?;
                f.sync_data()?;
            }
            fs::rename(&tmp, &final_dir)
        };
        write().map_err(|e| {
            let _ = fs::remove_dir_all(&tmp);
            ArtifactError::Io { path: final_dir.display().to_string(), source: e }
        })?;
        Ok(manifest.version)
    }

    /// Points `CURRENT` of `kind` at an existing version (atomically).
    ///
    /// # Errors
    /// [`ArtifactError::NoVersion`] or I/O.
    pub fn activate(&self, kind: Kind, version: &str) -> Result<(), ArtifactError> {
        let dir = self.kind_dir(kind);
        if version.contains(['/', '\\']) || version.starts_with('.') || !dir.join(version).join(MANIFEST).exists() {
            return Err(ArtifactError::NoVersion {
                kind: kind.as_str(),
                version: version.to_string(),
                dir: self.root.display().to_string(),
            });
        }
        let p = dir.join(CURRENT);
        atomic_write(&p, |f| writeln!(f, "{version}")).map_err(io_err(&p))
    }

    /// The version `CURRENT` points at.
    ///
    /// # Errors
    /// [`ArtifactError::NoCurrent`].
    pub fn current(&self, kind: Kind) -> Result<String, ArtifactError> {
        let p = self.kind_dir(kind).join(CURRENT);
        match fs::read_to_string(&p) {
            Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(ArtifactError::NoCurrent { kind: kind.as_str(), dir: self.root.display().to_string() }),
        }
    }

    /// Manifests of every stored version of `kind`, oldest as-of first.
    ///
    /// # Errors
    /// I/O or a manifest that does not parse.
    pub fn versions(&self, kind: Kind) -> Result<Vec<Manifest>, ArtifactError> {
        let dir = self.kind_dir(kind);
        let Ok(rd) = fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for e in rd {
            let p = e.map_err(io_err(&dir))?.path().join(MANIFEST);
            if p.exists() {
                out.push(read_manifest(&p)?);
            }
        }
        out.sort_by(|a, b| (&a.as_of, &a.version).cmp(&(&b.as_of, &b.version)));
        Ok(out)
    }

    /// Loads a version (default: `CURRENT`), checking the format version, the feature
    /// definitions and the payload hash.
    ///
    /// # Errors
    /// [`ArtifactError`] naming the file and both sides of a mismatch.
    pub fn load<T: DeserializeOwned>(&self, kind: Kind, version: Option<&str>) -> Result<(Manifest, T), ArtifactError> {
        let version = match version {
            Some(v) => v.to_string(),
            None => self.current(kind)?,
        };
        let dir = self.kind_dir(kind).join(&version);
        let mp = dir.join(MANIFEST);
        if !mp.exists() {
            return Err(ArtifactError::NoVersion {
                kind: kind.as_str(),
                version,
                dir: self.root.display().to_string(),
            });
        }
        let m = read_manifest(&mp)?;
        let path = mp.display().to_string();
        if m.format_version != FORMAT_VERSION {
            return Err(ArtifactError::FormatVersion { path, expected: FORMAT_VERSION, found: m.format_version });
        }
        let expected = model_feature_hash();
        if m.feature_hash != expected {
            return Err(ArtifactError::FeatureMismatch { path, expected, found: m.feature_hash });
        }
        let pp = dir.join(PAYLOAD);
        let bytes = fs::read(&pp).map_err(io_err(&pp))?;
        let sha = hex(&Sha256::digest(&bytes));
        if sha != m.payload_sha256 {
            return Err(ArtifactError::Corrupt {
                path: pp.display().to_string(),
                reason: format!("payload hash {sha} does not match the manifest's {}", m.payload_sha256),
            });
        }
        let payload = serde_json::from_slice(&bytes)
            .map_err(|e| ArtifactError::Corrupt { path: pp.display().to_string(), reason: e.to_string() })?;
        Ok((m, payload))
    }
}

fn read_manifest(p: &Path) -> Result<Manifest, ArtifactError> {
    let bytes = fs::read(p).map_err(io_err(p))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ArtifactError::Corrupt { path: p.display().to_string(), reason: format!("manifest: {e}") })
}

/// A manifest with the common fields filled in.
pub fn manifest(kind: Kind, as_of: &str, window: [String; 2], n_rows: usize, fingerprint: &str) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        kind,
        version: String::new(),
        as_of: as_of.to_string(),
        training_window: window,
        n_training_rows: n_rows,
        feature_names: model_feature_names(),
        feature_hash: model_feature_hash(),
        data_fingerprint: fingerprint.to_string(),
        hyperparameters: serde_json::Value::Null,
        seed: 0,
        validation: serde_json::Value::Null,
        crate_versions: crate_versions(),
        payload_sha256: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Manifest {
        manifest(Kind::Risk, "2024-06-30", ["2023-01-01".into(), "2024-06-30".into()], 10, "abc")
    }

    #[test]
    fn save_activate_load_round_trips_and_versions_are_content_addressed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        assert!(matches!(store.load::<Vec<f64>>(Kind::Risk, None), Err(ArtifactError::NoCurrent { .. })));
        let v1 = store.save(m(), &vec![1.0, 2.5]).unwrap();
        assert_eq!(store.save(m(), &vec![1.0, 2.5]).unwrap(), v1, "same payload, same version");
        let v2 = store.save(m(), &vec![3.0]).unwrap();
        assert_ne!(v1, v2);
        store.activate(Kind::Risk, &v1).unwrap();
        let (man, p): (Manifest, Vec<f64>) = store.load(Kind::Risk, None).unwrap();
        assert_eq!((man.version.as_str(), p), (v1.as_str(), vec![1.0, 2.5]));
        store.activate(Kind::Risk, &v2).unwrap();
        assert_eq!(store.load::<Vec<f64>>(Kind::Risk, None).unwrap().1, vec![3.0]);
        assert_eq!(store.versions(Kind::Risk).unwrap().len(), 2);
        assert!(matches!(store.activate(Kind::Risk, "nope"), Err(ArtifactError::NoVersion { .. })));
        assert!(matches!(store.activate(Kind::Risk, "../x"), Err(ArtifactError::NoVersion { .. })));
        assert!(crate_versions().contains_key("ndarray"));
    }

    #[test]
    fn mismatched_feature_hash_format_or_payload_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        let v = store.save(m(), &vec![1.0]).unwrap();
        let mp = dir.path().join("risk").join(&v).join(MANIFEST);
        let edit = |f: &dyn Fn(&mut Manifest)| {
            let mut man = read_manifest(&mp).unwrap();
            f(&mut man);
            fs::write(&mp, serde_json::to_vec(&man).unwrap()).unwrap();
        };
        edit(&|m| m.feature_hash = "old".into());
        match store.load::<Vec<f64>>(Kind::Risk, Some(&v)) {
            Err(ArtifactError::FeatureMismatch { expected, found, .. }) => {
                assert_eq!(found, "old");
                assert_eq!(expected, model_feature_hash());
            }
            other => panic!("{other:?}"),
        }
        edit(&|m| {
            m.feature_hash = model_feature_hash();
            m.format_version = 99;
        });
        let e = store.load::<Vec<f64>>(Kind::Risk, Some(&v)).unwrap_err();
        assert!(matches!(e, ArtifactError::FormatVersion { expected: 1, found: 99, .. }), "{e}");
        edit(&|m| m.format_version = FORMAT_VERSION);
        fs::write(dir.path().join("risk").join(&v).join(PAYLOAD), b"[2.0]").unwrap();
        let e = store.load::<Vec<f64>>(Kind::Risk, Some(&v)).unwrap_err();
        assert!(matches!(e, ArtifactError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("model.json"), "{e}");
    }
}
