//! Errors of the ingest layer: a file that cannot be read at all. Bad rows are not
//! errors; they come back as [`super::RejectedRow`]s.

use std::path::PathBuf;

/// A table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// File system error.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid Parquet (or the reader failed).
    #[error("cannot read parquet file {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// Decoding a batch failed.
    #[error("cannot decode {path}: {source}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: arrow_schema::ArrowError,
    },
    /// A required table is absent.
    #[error(
        "required table '{table}' not found in {dir} (expected {table}.parquet or a folder {table}/ of .parquet files){hint}"
    )]
    MissingTable {
        /// The data directory.
        dir: PathBuf,
        /// Table name.
        table: &'static str,
        /// What was found instead, when something like it was (`; found invoices.csv: …`).
        hint: String,
    },
    /// A table's folder holds no Parquet file.
    #[error("{folder} holds no Parquet file (looked for *.parquet there and in its subfolders; names starting with '.' or '_' are skipped)")]
    EmptyTable {
        /// The table's folder.
        folder: PathBuf,
    },
    /// A required column is absent.
    #[error("{path}: required column '{column}' is missing (columns present: {present})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// Column name.
        column: String,
        /// The columns the file has.
        present: String,
    },
    /// A column has a type that cannot hold the field.
    #[error("{path}: column '{column}' has type {found}, expected {expected}")]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// Column name.
        column: String,
        /// Type found.
        found: String,
        /// Types accepted.
        expected: &'static str,
    },
    /// Writing an output file failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
}
