//! [`FeatureMatrix`]: row ids, ordered feature names and an `Array2<f64>`.

use ndarray::Array2;

/// A feature matrix: one row per id, one column per named feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureMatrix {
    /// Row ids (customer or invoice ids).
    pub ids: Vec<String>,
    /// Feature names in column order.
    pub names: Vec<String>,
    /// Values; NaN where a feature is undefined.
    pub values: Array2<f64>,
}

impl FeatureMatrix {
    /// The column of a named feature.
    pub fn column(&self, name: &str) -> Option<ndarray::ArrayView1<'_, f64>> {
        self.names.iter().position(|n| n == name).map(|j| self.values.column(j))
    }

    /// The row of an id.
    pub fn row_of(&self, id: &str) -> Option<ndarray::ArrayView1<'_, f64>> {
        self.ids.iter().position(|i| i == id).map(|r| self.values.row(r))
    }

    /// Whether two matrices are equal, treating NaN as equal to NaN.
    pub fn same_as(&self, other: &FeatureMatrix) -> bool {
        self.ids == other.ids
            && self.names == other.names
            && self.values.shape() == other.values.shape()
            && self
                .values
                .iter()
                .zip(other.values.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
    }
}
