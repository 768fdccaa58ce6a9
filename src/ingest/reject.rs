//! Rejected rows: a bad row never disappears. Readers return them; callers write them
//! out with [`write_rejects`].

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::IngestError;

/// One rejected input row, with the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// Table (`invoices`, `payments`, ...).
    pub table: String,
    /// Source file.
    pub file: String,
    /// 1-based data row in the source file (header not counted).
    pub row: u64,
    /// Field at fault.
    pub field: String,
    /// The offending value, as text (empty for null).
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

impl RejectedRow {
    /// A rejected row of `table` in `file` (its 1-based data row).
    pub fn at(table: &str, file: &Path, row: u64, field: &str, value: String, reason: String) -> Self {
        RejectedRow { table: table.into(), file: file.display().to_string(), row, field: field.into(), value, reason }
    }
}

/// Writes rejects as CSV (`table,file,row,field,value,reason`) through a temp file and
/// rename, so a crash never leaves a half-written file.
///
/// # Errors
/// [`IngestError::Write`] when the file cannot be written.
pub fn write_rejects(path: &Path, rejects: &[RejectedRow]) -> Result<(), IngestError> {
    let werr = |e: &dyn std::fmt::Display| IngestError::Write { path: path.to_path_buf(), reason: e.to_string() };
    let mut buf = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut buf);
        w.write_record(["table", "file", "row", "field", "value", "reason"]).map_err(|e| werr(&e))?;
        for r in rejects {
            let row = r.row.to_string();
            w.write_record([&r.table, &r.file, &row, &r.field, &r.value, &r.reason]).map_err(|e| werr(&e))?;
        }
        w.flush().map_err(|e| werr(&e))?;
    }
    crate::fsutil::atomic_write(path, |f| f.write_all(&buf)).map_err(|e| werr(&e))
}

/// Counts rejects by `(table, field, reason)` for summaries, sorted by count descending.
pub fn summarize_rejects(rejects: &[RejectedRow]) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for r in rejects {
        *counts.entry(format!("{}.{}: {}", r.table, r.field, generalize(&r.reason))).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Drops quoted values and row numbers ("row 1139" becomes "row N") from a reason so
/// equal causes group together.
fn generalize(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_quote = false;
    for c in reason.chars() {
        if c.is_ascii_digit() && !in_quote && (out.ends_with("row ") || out.ends_with("row N")) {
            if !out.ends_with('N') {
                out.push('N');
            }
            continue;
        }
        if c == '\'' {
            in_quote = !in_quote;
            if in_quote {
                out.push_str("'…'");
            }
            continue;
        }
        if !in_quote {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rej(reason: &str) -> RejectedRow {
        RejectedRow {
            table: "invoices".into(),
            file: "f.csv".into(),
            row: 3,
            field: "amount".into(),
            value: "x".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn rejects_round_trip_through_csv() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rejects.csv");
        write_rejects(&p, &[rej("amount should be a decimal number, but is 'x'")]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("table,file,row,field,value,reason"));
        assert!(text.contains("invoices,f.csv,3,amount,x,"));
    }

    #[test]
    fn summary_groups_reasons_that_differ_only_in_values() {
        let s = summarize_rejects(&[rej("bad 'a'"), rej("bad 'b'"), rej("other")]);
        assert_eq!(s[0], ("invoices.amount: bad '…'".to_string(), 2));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn summary_groups_reasons_that_differ_only_in_row_numbers() {
        let s = summarize_rejects(&[
            rej("duplicate invoice_id (first seen in row 1139)"),
            rej("duplicate invoice_id (first seen in row 7)"),
            rej("row has 5 fields, the header has 7"),
        ]);
        assert_eq!(s[0], ("invoices.amount: duplicate invoice_id (first seen in row N)".to_string(), 2));
        assert_eq!(s[1], ("invoices.amount: row has 5 fields, the header has 7".to_string(), 1));
    }
}
