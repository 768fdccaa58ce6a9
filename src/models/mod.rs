//! Estimators with a params → check → fit → predict shape, their evaluation and
//! their artifacts. Uses `domain` and `features`; never the HTTP layer.

pub mod anomaly;
pub mod artifact;
pub mod backtest;
pub mod calibration;
pub mod closures;
pub mod copula;
pub mod dataset;
pub mod empirical;
pub mod fitting;
pub mod gbdt;
pub mod linear;
pub mod metrics;
pub mod payment;
pub mod predict;
pub mod risk;
pub mod segments;
pub mod train;
