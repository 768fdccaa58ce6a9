//! Locating a table in a data directory and splitting it into units of parallel work
//! (one Parquet row group each).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::IngestError;

/// The Parquet files of one table, in a stable order.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// Table name (`invoices`).
    pub table: &'static str,
    /// Files, sorted by path.
    pub files: Vec<PathBuf>,
}

impl TableSource {
    /// Finds `<dir>/<table>.parquet` or `<dir>/<table>/*.parquet`; `Ok(None)` when
    /// neither exists.
    ///
    /// # Errors
    /// [`IngestError::Io`] when the folder cannot be listed.
    pub fn find(dir: &Path, table: &'static str) -> Result<Option<Self>, IngestError> {
        let single = dir.join(format!("{table}.parquet"));
        if single.is_file() {
            return Ok(Some(TableSource { table, files: vec![single] }));
        }
        let folder = dir.join(table);
        if !folder.is_dir() {
            return Ok(None);
        }
        let io = |e| IngestError::Io { path: folder.clone(), source: e };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(io)? {
            let p = entry.map_err(io)?.path();
            let hidden = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden && p.extension().is_some_and(|e| e == "parquet") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        Ok(Some(TableSource { table, files }))
    }

    /// Like [`Self::find`] but the table must exist.
    ///
    /// # Errors
    /// [`IngestError::MissingTable`] when it does not.
    pub fn require(dir: &Path, table: &'static str) -> Result<Self, IngestError> {
        Self::find(dir, table)?.ok_or_else(|| IngestError::MissingTable { dir: dir.to_path_buf(), table })
    }

    /// One unit per row group, with the 1-based row number its first row has in its file.
    ///
    /// # Errors
    /// When a file cannot be opened or its footer read.
    pub fn units(&self) -> Result<Vec<Unit>, IngestError> {
        let mut units = Vec::new();
        for path in &self.files {
            let file = File::open(path).map_err(|e| IngestError::Io { path: path.clone(), source: e })?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| IngestError::Parquet { path: path.clone(), source: e })?;
            let shared = Arc::new(path.clone());
            let mut first_row = 1_u64;
            for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
                units.push(Unit { path: shared.clone(), row_group: i, first_row, rows: rg.num_rows() as u64 });
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
    /// Row group index in the file.
    pub row_group: usize,
    /// 1-based row number (in the file) of the group's first row.
    pub first_row: u64,
    /// Rows in the group.
    pub rows: u64,
}
