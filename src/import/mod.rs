//! Import of ERP/billing exports (placeholder until the importer lands).

use std::path::Path;

/// Runs an import.
///
/// # Errors
/// Always, for now.
pub fn run_import(_input: &Path, _mapping: &Path, _out: &Path, _rejects: Option<&Path>) -> anyhow::Result<()> {
    anyhow::bail!("import is not available yet")
}
