//! Fitting the payment-date and risk models on the training rows of a date, as
//! `train` and every backtest step do.

use super::dataset::Rows;
use super::gbdt::GbdtError;
use super::payment::{EmpiricalRows, PaymentDateModel, PaymentDateParams};
use super::risk::{late_prior, EmpiricalInputs, RiskModel, RiskParams};
use super::train::RISK_THRESHOLDS;
use crate::features::history::History;

/// The payment-date model on the settled rows of `train` (built at `d`), or None with
/// fewer than `min_rows` of them. Where the ledger settles on business days, it
/// records the closing days its settlements by `d` show (and the yearly ones a year
/// ahead).
///
/// # Errors
/// [`GbdtError`].
pub fn fit_payment(
    h: &History,
    train: &Rows,
    d: i32,
    p: &PaymentDateParams,
    min_rows: usize,
) -> Result<Option<(PaymentDateModel, usize)>, GbdtError> {
    let late_days = train.late_days();
    let reg: Vec<usize> = (0..train.len()).filter(|&i| !late_days[i].is_nan()).collect();
    if reg.len() < min_rows {
        return Ok(None);
    }
    let xr = train.x.select(ndarray::Axis(0), &reg);
    let yr: Vec<f64> = reg.iter().map(|&i| late_days[i]).collect();
    let issue: Vec<i32> = reg.iter().map(|&i| train.invoice_date[i]).collect();
    let pos: Vec<usize> = reg.iter().map(|&i| train.pos[i]).collect();
    let emp = EmpiricalRows { h, pos: &pos, t: &issue };
    let mut model = p.fit(xr.view(), &yr, Some(&issue), Some(emp))?;
    // Settled by the date: the rows' paid days (later ones read as unpaid).
    let settled = train.paid_date.iter().copied().filter(|&p| p != i32::MAX);
    model.settles_on_business_days = crate::domain::settles_on_business_days(settled);
    if model.settles_on_business_days && p.learn_closures {
        let paid: Vec<(crate::domain::Currency, i32)> =
            h.invoices.iter().filter(|r| r.paid_date <= d).map(|r| (r.currency, r.paid_day())).collect();
        model.closed_days = super::closures::learn_closures(paid.iter().map(|p| p.1), d, CLOSURES_AHEAD);
        model.closed_by_currency =
            super::closures::learn_currency_closures(&paid, d, CLOSURES_AHEAD, &model.closed_days);
    }
    Ok(Some((model, reg.len())))
}

/// Days past the training date the learned closing days reach.
pub const CLOSURES_AHEAD: i32 = 400;

/// The risk model "paid more than `days` late" (one of [`RISK_THRESHOLDS`]) on the rows of
/// `train` whose label is decidable at `d`, with the number of rows.
///
/// # Errors
/// [`GbdtError`].
pub fn fit_risk(
    h: &History,
    train: &Rows,
    d: i32,
    days: i32,
    p: &RiskParams,
    emp: &PaymentDateParams,
) -> Result<(RiskModel, usize), GbdtError> {
    let labels = train.late_beyond(days, d);
    let cls: Vec<usize> = (0..train.len()).filter(|&i| labels[i].is_some()).collect();
    let xc = train.x.select(ndarray::Axis(0), &cls);
    let yc: Vec<bool> = cls.iter().map(|&i| labels[i] == Some(true)).collect();
    let order: Vec<i32> = cls.iter().map(|&i| train.invoice_date[i]).collect();
    let pos: Vec<usize> = cls.iter().map(|&i| train.pos[i]).collect();
    let all_late = train.late_days();
    let late: Vec<f64> = cls.iter().map(|&i| all_late[i]).collect();
    let rows = EmpiricalRows { h, pos: &pos, t: &order };
    let Some(k) = RISK_THRESHOLDS.iter().position(|&t| t == days) else {
        return Ok((p.fit(xc.view(), &yc, &order, Some(late_prior(days)), None)?, cls.len()));
    };
    // The empirical model's probability as at issue, from a model fitted on the
    // settled rows among `fit`, for every row.
    let all_rows: Vec<usize> = (0..cls.len()).collect();
    let score = |fit: &[usize]| -> Result<Option<Vec<f64>>, GbdtError> {
        let settled: Vec<usize> = fit.iter().copied().filter(|&i| !late[i].is_nan()).collect();
        Ok(rows
            .fit_and_score(&emp.empirical, &late, &settled, &all_rows)?
            .map(|(_, out)| out.iter().map(|o| o.p_issue[k]).collect()))
    };
    let inputs = score(&all_rows)?.map(|all| EmpiricalInputs { all, refit: &score });
    Ok((p.fit(xc.view(), &yc, &order, Some(late_prior(days)), inputs)?, cls.len()))
}
