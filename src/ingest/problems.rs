//! Collects the first problem of each row of a batch and turns them into rejects.

use super::columns::CellError;
use super::read::BatchColumns;
use super::RejectedRow;

/// First problem per row: (field, value, reason).
pub(crate) struct Problems {
    rows: Vec<Option<(&'static str, String, String)>>,
}

impl Problems {
    pub(crate) fn new(n: usize) -> Self {
        Problems { rows: vec![None; n] }
    }

    /// Records cell errors of one field, keeping earlier problems.
    pub(crate) fn cells(&mut self, field: &'static str, errs: Vec<CellError>) {
        for (i, v, r) in errs {
            self.set(i, field, v, r);
        }
    }

    /// Records a problem unless the row already has one.
    pub(crate) fn set(&mut self, i: usize, field: &'static str, value: String, reason: impl Into<String>) {
        if self.rows[i].is_none() {
            self.rows[i] = Some((field, value, reason.into()));
        }
    }

    pub(crate) fn has(&self, i: usize) -> bool {
        self.rows[i].is_some()
    }

    /// The validity mask and the rejects, with file row numbers.
    pub(crate) fn finish(self, table: &str, b: &BatchColumns<'_>) -> (Vec<bool>, Vec<RejectedRow>) {
        let file = b.file_name();
        let mut rejects = Vec::new();
        let valid = self
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, pr)| match pr {
                None => true,
                Some((field, value, reason)) => {
                    rejects.push(RejectedRow {
                        table: table.to_string(),
                        file: file.clone(),
                        row: b.first_row + i as u64,
                        field: field.into(),
                        value,
                        reason,
                    });
                    false
                }
            })
            .collect();
        (valid, rejects)
    }
}

/// Flattens per-batch `(chunk, rejects)` results.
pub(crate) fn collect<C, E>(results: Vec<Result<(C, Vec<RejectedRow>), E>>) -> Result<(Vec<C>, Vec<RejectedRow>), E> {
    let mut chunks = Vec::with_capacity(results.len());
    let mut rejects = Vec::new();
    for r in results {
        let (c, mut rj) = r?;
        chunks.push(c);
        rejects.append(&mut rj);
    }
    Ok((chunks, rejects))
}
