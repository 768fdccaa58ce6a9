//! Crash-safe file writes shared by every layer that persists something.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The temp path used while `path` is being written (same directory, so the final
/// rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes a file by calling `write` on a temp file in the same directory, syncing it
/// and renaming it over `path`. A crash at any point leaves the previous file intact.
///
/// # Errors
/// Any I/O error; the temp file is removed on failure.
pub fn atomic_write(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        write(&mut f)?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn failed_write_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.bin");
        atomic_write(&p, |f| f.write_all(b"v1")).unwrap();
        let err = atomic_write(&p, |f| {
            f.write_all(b"partial")?;
            Err(io::Error::other("crash"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"v1");
        assert!(!temp_path(&p).exists(), "temp file cleaned up");
    }
}
