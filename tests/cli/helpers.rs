//! Running the real binary and reading its Parquet outputs.

use std::path::Path;
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Runs `arsight` with arguments (and extra environment), returning its output.
pub fn arsight(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arsight"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

/// Like [`arsight`] but the command must succeed; returns stdout.
pub fn arsight_ok(args: &[&str]) -> String {
    let out = arsight(args, &[]);
    assert!(out.status.success(), "arsight {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// All batches of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
}

/// The values of a text column over all batches.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap_or_else(|| panic!("column {column}")).as_string::<i32>().clone();
            (0..a.len()).map(move |i| a.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect()
}

/// The path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
