//! Row-by-row reading of CSV and Parquet inputs as optional text cells.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::ImportError;

/// One data row: text cells (None for null/empty) or why it cannot be read.
pub type Row = Result<Vec<Option<String>>, String>;

/// A source of rows with a header.
pub trait Rows {
    /// Column names.
    fn header(&self) -> &[String];
    /// The next data row, `None` at the end.
    fn next_row(&mut self) -> Option<Row>;
}

/// Opens `path` by extension: `.parquet` or anything else as CSV.
///
/// # Errors
/// [`ImportError::Read`] when the file cannot be opened or has no header.
pub fn open(path: &Path, delimiter: u8) -> Result<Box<dyn Rows>, ImportError> {
    let rerr = |e: &dyn std::fmt::Display| ImportError::Read { path: path.to_path_buf(), reason: e.to_string() };
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        let f = File::open(path).map_err(|e| rerr(&e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| rerr(&e))?.with_batch_size(8192);
        let header = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        let reader = reader.build().map_err(|e| rerr(&e))?;
        return Ok(Box::new(ParquetRows { header, reader, batch: None, pos: 0 }));
    }
    let f = File::open(path).map_err(|e| rerr(&e))?;
    let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(f);
    let header: Vec<String> = rdr
        .byte_headers()
        .map_err(|e| rerr(&e))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(rerr(&"no header row"));
    }
    Ok(Box::new(CsvRows { header, rdr, record: csv::ByteRecord::new() }))
}

struct CsvRows {
    header: Vec<String>,
    rdr: csv::Reader<File>,
    record: csv::ByteRecord,
}

impl Rows for CsvRows {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn next_row(&mut self) -> Option<Row> {
        match self.rdr.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => Some(
                self.record
                    .iter()
                    .map(|c| match std::str::from_utf8(c) {
                        Ok(s) => Ok((!s.trim().is_empty()).then(|| s.to_string())),
                        Err(_) => Err("row is not valid UTF-8".to_string()),
                    })
                    .collect(),
            ),
            Err(e) => Some(Err(format!("unreadable CSV row: {e}"))),
        }
    }
}

struct ParquetRows {
    header: Vec<String>,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    batch: Option<Vec<arrow_array::StringArray>>,
    pos: usize,
}

fn as_text(batch: &RecordBatch) -> Result<Vec<arrow_array::StringArray>, String> {
    batch
        .columns()
        .iter()
        .map(|c| {
            let s = arrow_cast::cast(c, &DataType::Utf8).map_err(|e| e.to_string())?;
            Ok(s.as_string::<i32>().clone())
        })
        .collect()
}

impl Rows for ParquetRows {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn next_row(&mut self) -> Option<Row> {
        loop {
            if let Some(cols) = &self.batch {
                let len = cols.first().map_or(0, |c| c.len());
                if self.pos < len {
                    let i = self.pos;
                    self.pos += 1;
                    return Some(Ok(cols.iter().map(|c| (!c.is_null(i)).then(|| c.value(i).to_string())).collect()));
                }
            }
            match self.reader.next()? {
                Ok(b) => match as_text(&b) {
                    Ok(cols) => {
                        self.batch = Some(cols);
                        self.pos = 0;
                    }
                    Err(e) => return Some(Err(format!("cannot convert batch to text: {e}"))),
                },
                Err(e) => return Some(Err(format!("cannot decode batch: {e}"))),
            }
        }
    }
}
