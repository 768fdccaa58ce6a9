//! Parallel, projected, streaming reads: each row group is read on its own rayon task
//! with only the columns asked for, in batches, and handed to a callback.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;

use super::columns::CellError;
use super::source::{TableSource, Unit};
use super::IngestError;

/// Rows per decoded batch.
pub const BATCH_ROWS: usize = 64 * 1024;

/// A column a reader wants.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec<'n> {
    /// Name in the file.
    pub name: &'n str,
    /// Whether the file must have it.
    pub required: bool,
}

/// The projected columns of one batch, by name, plus where the batch sits in its file.
pub struct BatchColumns<'a> {
    /// The file and row group.
    pub unit: &'a Unit,
    /// 1-based row number (in the file) of the batch's first row.
    pub first_row: u64,
    /// Rows in the batch.
    pub rows: usize,
    columns: HashMap<String, ArrayRef>,
}

impl BatchColumns<'_> {
    /// The column, if the file has it.
    pub fn get(&self, name: &str) -> Option<&ArrayRef> {
        self.columns.get(name)
    }

    /// An optional text column (see [`super::columns::strings`]), all null when the
    /// file lacks it.
    ///
    /// # Errors
    /// As [`super::columns::strings`].
    pub fn text_or_null(&self, name: &str) -> Result<StringArray, IngestError> {
        match self.get(name) {
            Some(a) => super::columns::strings(&self.unit.path, name, a),
            None => Ok(StringArray::new_null(self.rows)),
        }
    }

    /// An optional column read by `read` (one of [`super::columns`]' readers: its
    /// values and the cells it could not read), None when the file lacks it.
    ///
    /// # Errors
    /// As `read`.
    pub fn optional<T>(
        &self,
        name: &str,
        read: impl FnOnce(&std::path::Path, &str, &ArrayRef) -> Result<(Vec<T>, Vec<CellError>), IngestError>,
    ) -> Result<(Option<Vec<T>>, Vec<CellError>), IngestError> {
        match self.get(name) {
            Some(a) => read(&self.unit.path, name, a).map(|(v, e)| (Some(v), e)),
            None => Ok((None, Vec::new())),
        }
    }

    /// The file name for reject records.
    pub fn file_name(&self) -> String {
        self.unit.path.display().to_string()
    }
}

/// Reads every row group of `source` in parallel and maps each batch with `f`; the
/// results come back in file and row order, so output is deterministic.
///
/// # Errors
/// The first file that cannot be opened or decoded, or lacks a required column.
pub fn map_batches<T, F>(source: &TableSource, columns: &[ColumnSpec<'_>], f: F) -> Result<Vec<T>, IngestError>
where
    T: Send,
    F: Fn(&BatchColumns<'_>) -> T + Sync,
{
    let units = source.units()?;
    let per_unit: Vec<Result<Vec<T>, IngestError>> =
        units.par_iter().map(|unit| read_unit(unit, columns, &f)).collect();
    let mut out = Vec::new();
    for r in per_unit {
        out.extend(r?);
    }
    Ok(out)
}

fn read_unit<T, F>(unit: &Unit, columns: &[ColumnSpec<'_>], f: &F) -> Result<Vec<T>, IngestError>
where
    F: Fn(&BatchColumns<'_>) -> T,
{
    let path = unit.path.as_ref();
    let file = File::open(path).map_err(|e| IngestError::Io { path: path.clone(), source: e })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| IngestError::Parquet { path: path.clone(), source: e })?;
    let schema = builder.schema().clone();
    let mut wanted = Vec::new();
    let mut names = Vec::new();
    // Columns the file lacks but its partition folders give (`currency=EUR/`).
    let mut from_folders = Vec::new();
    for spec in columns {
        match (schema.index_of(spec.name), unit.partition.iter().find(|(k, _)| k == spec.name)) {
            (Ok(i), _) => {
                wanted.push(i);
                names.push(spec.name);
            }
            (Err(_), Some((_, v))) => from_folders.push((spec.name, v.as_deref())),
            (Err(_), None) if spec.required => {
                let present = schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
                return Err(IngestError::MissingColumn { path: path.clone(), column: spec.name.to_string(), present });
            }
            (Err(_), None) => {}
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_row_groups(vec![unit.row_group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| IngestError::Parquet { path: path.clone(), source: e })?;
    let mut out = Vec::new();
    let mut first_row = unit.first_row;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| IngestError::Arrow { path: path.clone(), source: e })?;
        let mut map = HashMap::with_capacity(names.len());
        for name in &names {
            if let Some(col) = batch.column_by_name(name) {
                map.insert(name.to_string(), col.clone());
            }
        }
        for (name, v) in &from_folders {
            let col: ArrayRef = Arc::new(StringArray::from(vec![*v; batch.num_rows()]));
            map.insert(name.to_string(), col);
        }
        let view = BatchColumns { unit, first_row, rows: batch.num_rows(), columns: map };
        out.push(f(&view));
        first_row += batch.num_rows() as u64;
    }
    Ok(out)
}

/// Fills each reject's `value` with the text of `column` at its file and row, reading
/// only the files they name: for rejects found after the rows themselves were let go
/// (an id repeated across files, found once every file has been read), so the text of
/// every id need not be kept for the few that repeat.
///
/// # Errors
/// As [`map_batches`], or a column that cannot be read as text.
pub fn fill_values(source: &TableSource, column: &str, rejects: &mut [super::RejectedRow]) -> Result<(), IngestError> {
    if rejects.is_empty() {
        return Ok(());
    }
    // file -> row -> reject index
    let mut wanted: HashMap<&str, HashMap<u64, usize>> = HashMap::new();
    for (k, r) in rejects.iter().enumerate() {
        wanted.entry(r.file.as_str()).or_default().insert(r.row, k);
    }
    let keep: Vec<usize> = (0..source.files.len())
        .filter(|&i| wanted.contains_key(source.files[i].display().to_string().as_str()))
        .collect();
    let sub = TableSource {
        table: source.table,
        files: keep.iter().map(|&i| source.files[i].clone()).collect(),
        partitions: keep.iter().map(|&i| source.partitions[i].clone()).collect(),
    };
    let spec = [ColumnSpec { name: column, required: false }];
    let found = map_batches(&sub, &spec, |b| -> Result<Vec<(usize, String)>, IngestError> {
        let (Some(a), Some(rows)) = (b.get(column), wanted.get(b.file_name().as_str())) else {
            return Ok(Vec::new());
        };
        let text = super::columns::strings(&b.unit.path, column, a)?;
        let at = |i: usize| {
            rows.get(&(b.first_row + i as u64)).map(|&k| (k, text.value(i).trim().chars().take(40).collect()))
        };
        Ok((0..b.rows).filter(|&i| !text.is_null(i)).filter_map(at).collect())
    })?;
    let mut values = Vec::new();
    for f in found {
        values.extend(f?);
    }
    for (k, v) in values {
        rejects[k].value = v;
    }
    Ok(())
}
