//! Locating a table in a data directory and splitting it into units of parallel work
//! (one Parquet row group each).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::IngestError;

/// The `key=value` partition folders above a file, outer first (value None: Hive's
/// default partition, or empty).
pub type Partition = Arc<Vec<(String, Option<String>)>>;

/// The Parquet files of one table, in a stable order.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// Table name (`invoices`).
    pub table: &'static str,
    /// Files, sorted by path.
    pub files: Vec<PathBuf>,
    /// Per file, the `key=value` folders between the table's folder and the file (a
    /// Hive-style partitioned dataset, as Spark, pyarrow and DuckDB write them), outer
    /// first; empty for a flat folder.
    pub partitions: Vec<Partition>,
}

impl TableSource {
    /// Finds `<dir>/<table>.parquet` or the Parquet files under `<dir>/<table>/`:
    /// `*.parquet`, and files without an extension that start as Parquet does (Hive's
    /// `000000_0`), in that folder and in its subfolders (partitions such as
    /// `year=2024/`). Names starting with `.` or `_` (`_SUCCESS`, `.crc` files,
    /// `_temporary/`) are skipped. `Ok(None)` when neither exists.
    ///
    /// # Errors
    /// [`IngestError::Io`] when a folder cannot be listed; [`IngestError::EmptyTable`]
    /// when the folder holds no Parquet file at any depth (read as an empty table, a
    /// wrong layout would lose every row unseen).
    pub fn find(dir: &Path, table: &'static str) -> Result<Option<Self>, IngestError> {
        let single = dir.join(format!("{table}.parquet"));
        if single.is_file() {
            return Ok(Some(TableSource { table, files: vec![single], partitions: vec![Arc::default()] }));
        }
        let folder = dir.join(table);
        if !folder.is_dir() {
            return Ok(None);
        }
        let mut files = Vec::new();
        walk(&folder, &mut files, 0)?;
        if files.is_empty() {
            return Err(IngestError::EmptyTable { folder });
        }
        files.sort();
        let partitions = files.iter().map(|f| Arc::new(partition_of(&folder, f))).collect();
        Ok(Some(TableSource { table, files, partitions }))
    }

    /// Like [`Self::find`] but the table must exist.
    ///
    /// # Errors
    /// [`IngestError::MissingTable`] when it does not.
    pub fn require(dir: &Path, table: &'static str) -> Result<Self, IngestError> {
        Self::find(dir, table)?.ok_or_else(|| {
            // An export in another format next to where the table belongs: say how to
            // bring it in rather than only that the table is missing.
            let other = ["csv", "tsv", "txt", "xlsx", "json", "parq", "pq"]
                .iter()
                .find(|ext| dir.join(format!("{table}.{ext}")).is_file());
            let hint = match other.copied() {
                Some(ext @ ("parq" | "pq")) => format!("; found {table}.{ext}: name it {table}.parquet"),
                Some(ext) => format!(
                    "; found {table}.{ext}: `arsight import` reads CSV or Parquet exports with a column mapping into this shape"
                ),
                None => String::new(),
            };
            IngestError::MissingTable { dir: dir.to_path_buf(), table, hint }
        })
    }

    /// One unit per row group, with the 1-based row number its first row has in its file.
    ///
    /// # Errors
    /// When a file cannot be opened or its footer read.
    pub fn units(&self) -> Result<Vec<Unit>, IngestError> {
        let mut units = Vec::new();
        for (k, path) in self.files.iter().enumerate() {
            let file = File::open(path).map_err(|e| IngestError::Io { path: path.clone(), source: e })?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| IngestError::Parquet { path: path.clone(), source: e })?;
            let shared = Arc::new(path.clone());
            let partition = self.partitions.get(k).cloned().unwrap_or_default();
            let mut first_row = 1_u64;
            for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
                let rows = rg.num_rows() as u64;
                units.push(Unit { path: shared.clone(), partition: partition.clone(), row_group: i, first_row, rows });
                first_row += rg.num_rows() as u64;
            }
        }
        Ok(units)
    }
}

/// A row group of one file.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The file.
    pub path: Arc<PathBuf>,
    /// The partition values its folders give (see [`TableSource::partitions`]).
    pub partition: Partition,
    /// Row group index in the file.
    pub row_group: usize,
    /// 1-based row number (in the file) of the group's first row.
    pub first_row: u64,
    /// Rows in the group.
    pub rows: u64,
}

/// Partition folders deeper than this are not read (a symlink loop ends here).
const MAX_DEPTH: usize = 16;

/// Collects the Parquet files under `folder`, descending into subfolders.
fn walk(folder: &Path, files: &mut Vec<PathBuf>, depth: usize) -> Result<(), IngestError> {
    let io = |e| IngestError::Io { path: folder.to_path_buf(), source: e };
    for entry in std::fs::read_dir(folder).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let hidden = p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with('.') || n.starts_with('_')
        });
        if hidden {
            continue;
        }
        if p.is_dir() {
            if depth < MAX_DEPTH {
                walk(&p, files, depth + 1)?;
            }
        } else if p.extension().is_some_and(|e| e == "parquet") || (p.extension().is_none() && starts_as_parquet(&p)) {
            files.push(p);
        }
    }
    Ok(())
}

/// Whether the file begins with Parquet's magic bytes.
fn starts_as_parquet(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"PAR1"
}

/// The `key=value` folders between `folder` and `file`; a value is percent-decoded, and
/// Hive's `__HIVE_DEFAULT_PARTITION__` (and an empty value) is null.
fn partition_of(folder: &Path, file: &Path) -> Vec<(String, Option<String>)> {
    let Some(rel) = file.strip_prefix(folder).ok().and_then(Path::parent) else {
        return Vec::new();
    };
    rel.components()
        .filter_map(|c| {
            let c = c.as_os_str().to_string_lossy();
            let (k, v) = c.split_once('=')?;
            let v = percent_decode(v);
            let v = (!v.is_empty() && v != "__HIVE_DEFAULT_PARTITION__").then_some(v);
            Some((percent_decode(k), v))
        })
        .collect()
}

/// Decodes `%XX` escapes (as Hive, Spark and pyarrow write partition values); anything
/// else is kept as written.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_folders_give_their_values() {
        let f = Path::new("d/invoices");
        let p = partition_of(f, Path::new("d/invoices/year=2024/currency=EUR%2FX/part-0.parquet"));
        assert_eq!(p, vec![("year".into(), Some("2024".into())), ("currency".into(), Some("EUR/X".into()))]);
        let p = partition_of(f, Path::new("d/invoices/region=__HIVE_DEFAULT_PARTITION__/misc/a.parquet"));
        assert_eq!(p, vec![("region".into(), None)]);
        assert!(partition_of(f, Path::new("d/invoices/a.parquet")).is_empty());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%20b%zz"), "a b%zz");
    }

    #[test]
    fn a_missing_table_says_what_was_found_instead() {
        let dir = tempfile::tempdir().unwrap();
        let err = TableSource::require(dir.path(), "invoices").unwrap_err().to_string();
        assert!(err.ends_with("of .parquet files)"), "{err}");
        std::fs::write(dir.path().join("invoices.csv"), "invoice_id\n").unwrap();
        let err = TableSource::require(dir.path(), "invoices").unwrap_err().to_string();
        assert!(err.contains("found invoices.csv: `arsight import`"), "{err}");
    }
}
