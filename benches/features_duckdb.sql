-- The customer behaviour vector and open-invoice rows of `arsight features`, in SQL,
-- for the side-by-side benchmark (benches/features_vs_duckdb.py). Placeholders:
-- {data} data directory, {as_of} date literal, {out} output directory.
-- Definitions follow features/CATALOGUE.md.
CREATE TEMP TABLE fx AS SELECT * FROM (VALUES ('USD', 1.0), ('EUR', 0.92), ('GBP', 0.79), ('JPY', 150.0), ('CAD', 1.36), ('AUD', 1.52), ('CHF', 0.88)) t(currency, per_base);

CREATE TEMP TABLE inv AS
SELECT i.invoice_id, i.customer_id, i.invoice_date, i.due_date, i.currency,
       CAST(i.amount AS DOUBLE) AS amount, CAST(i.amount AS DOUBLE) / coalesce(fx.per_base, 1.0) AS amount_base,
       CASE WHEN i.paid_date <= DATE '{as_of}' THEN i.paid_date END AS paid_date,
       CASE WHEN i.paid_date <= DATE '{as_of}' THEN CAST(i.paid_amount AS DOUBLE) END AS paid_amount
FROM read_parquet('{data}/invoices/*.parquet') i LEFT JOIN fx USING (currency)
WHERE i.invoice_date <= DATE '{as_of}';

CREATE TEMP TABLE pay_inv AS
SELECT invoice_id, sum(CAST(amount AS DOUBLE)) AS paid_so_far, count(*) AS n_payments
FROM read_parquet('{data}/payments/*.parquet') WHERE payment_date <= DATE '{as_of}' AND invoice_id IS NOT NULL GROUP BY 1;

CREATE TEMP TABLE pay_cust AS
SELECT customer_id, max(payment_date) AS last_payment
FROM read_parquet('{data}/payments/*.parquet') WHERE payment_date <= DATE '{as_of}' GROUP BY 1;

CREATE TEMP TABLE act AS
SELECT a.customer_id, a.invoice_id, a.date, a.kind, a.promised_date, i.paid_date, i.invoice_id IS NOT NULL AS known
FROM read_parquet('{data}/activities/*.parquet') a LEFT JOIN inv i ON a.invoice_id = i.invoice_id
WHERE a.date <= DATE '{as_of}';

CREATE TEMP TABLE act_inv AS
SELECT invoice_id,
       count(*) FILTER (kind IN ('reminder_email','reminder_sms','call','letter')) AS n_reminders,
       bool_or(kind = 'dispute_opened') AS opened, bool_or(kind = 'dispute_resolved') AS resolved,
       bool_or(kind = 'promise_to_pay' AND promised_date > DATE '{as_of}') AS open_promise
FROM act WHERE known GROUP BY 1;

CREATE TEMP TABLE act_cust AS
SELECT customer_id,
       count(*) FILTER (kind IN ('reminder_email','reminder_sms','call','letter')) AS n_reminders,
       count(*) FILTER (kind IN ('reminder_email','reminder_sms','call','letter') AND known AND date + 7 <= DATE '{as_of}' AND (paid_date IS NULL OR paid_date >= date)) AS rem_eval,
       count(*) FILTER (kind IN ('reminder_email','reminder_sms','call','letter') AND known AND date + 7 <= DATE '{as_of}' AND paid_date >= date AND paid_date <= date + 7) AS rem_ans,
       count(*) FILTER (kind = 'promise_to_pay' AND known AND promised_date <= DATE '{as_of}') AS prom_eval,
       count(*) FILTER (kind = 'promise_to_pay' AND known AND promised_date <= DATE '{as_of}' AND paid_date <= promised_date) AS prom_kept,
       count(*) FILTER (kind = 'dispute_opened') AS disputes
FROM act GROUP BY 1;

CREATE TEMP TABLE inv2 AS
SELECT inv.*, coalesce(p.paid_so_far * 1.0, 0) AS paid_so_far, coalesce(p.n_payments, 0) AS n_payments,
       coalesce(a.opened, false) AND NOT coalesce(a.resolved, false) AS in_dispute,
       coalesce(a.n_reminders, 0) AS n_reminders, coalesce(a.open_promise, false) AS open_promise,
       paid_date - due_date AS late, paid_date - invoice_date AS to_pay,
       DATE '{as_of}' - due_date AS dpd,
       CASE WHEN paid_date IS NULL THEN amount_base * (1 - least(greatest(coalesce(p.paid_so_far, 0) / nullif(amount, 0), 0), 1)) ELSE 0 END AS open_base
FROM inv LEFT JOIN pay_inv p USING (invoice_id) LEFT JOIN act_inv a USING (invoice_id);

CREATE TEMP TABLE paid_ranked AS
SELECT customer_id, late, amount_base, paid_date, due_date,
       row_number() OVER (PARTITION BY customer_id ORDER BY paid_date DESC, invoice_date DESC) AS r,
       count(*) OVER (PARTITION BY customer_id) AS n
FROM inv2 WHERE paid_date IS NOT NULL;

CREATE TEMP TABLE paid_stats AS
SELECT customer_id, count(*) AS n_paid, sum(amount_base) AS amount_paid_base,
       avg(late) AS days_late_mean, quantile_cont(late, 0.5) AS days_late_median, stddev_samp(late) AS days_late_std,
       quantile_cont(late, 0.25) AS days_late_p25, quantile_cont(late, 0.75) AS days_late_p75, quantile_cont(late, 0.9) AS days_late_p90,
       sum(amount_base * late) / nullif(sum(amount_base), 0) AS days_late_amount_weighted,
       avg((late > 0)::INT) AS share_paid_late, avg((late > 30)::INT) AS share_paid_late_30,
       sum(late * CASE WHEN r = n THEN pow(0.7, n - 1) ELSE 0.3 * pow(0.7, r - 1) END) AS days_late_ewma,
       max(late) FILTER (r = 1) AS days_late_last,
       avg(late) FILTER (r <= 5) - avg(late) AS days_late_trend_last5,
       avg(late) FILTER (paid_date > DATE '{as_of}' - 90) - avg(late) AS days_late_trend_90d
FROM paid_ranked GROUP BY 1;

CREATE TEMP TABLE months AS
SELECT customer_id, month(due_date) AS m, avg(late) AS late_m
FROM inv2 WHERE paid_date IS NOT NULL GROUP BY 1, 2 HAVING count(*) >= 2;

CREATE TEMP TABLE season AS
SELECT customer_id, CASE WHEN count(*) >= 3 THEN max(late_m) - min(late_m) END AS seasonal_amplitude_days FROM months GROUP BY 1;

CREATE TEMP TABLE all_stats AS
SELECT customer_id, count(*) AS n_invoices, count(*) FILTER (paid_date IS NULL) AS n_open,
       count(*) FILTER (invoice_date > DATE '{as_of}' - 90) AS n_invoices_90d, DATE '{as_of}' - min(invoice_date) AS tenure_days,
       sum(amount_base) AS amount_issued_base, quantile_cont(amount_base, 0.5) AS invoice_amount_median_base,
       avg(to_pay) AS days_to_pay_mean, quantile_cont(to_pay, 0.5) AS days_to_pay_median,
       sum(open_base) AS open_amount_base,
       sum(open_base) FILTER (dpd <= 0) AS open_current_base,
       sum(open_base) FILTER (dpd BETWEEN 1 AND 30) AS open_1_30_base,
       sum(open_base) FILTER (dpd BETWEEN 31 AND 60) AS open_31_60_base,
       sum(open_base) FILTER (dpd BETWEEN 61 AND 90) AS open_61_90_base,
       sum(open_base) FILTER (dpd BETWEEN 91 AND 120) AS open_91_120_base,
       sum(open_base) FILTER (dpd > 120) AS open_over_120_base,
       greatest(coalesce(max(dpd) FILTER (paid_date IS NULL), 0), 0) AS max_days_past_due,
       count(*) FILTER (n_payments >= 2 OR (paid_date IS NULL AND paid_so_far > 0)) * 1.0 / nullif(count(*) FILTER (n_payments > 0), 0) AS partial_payment_share,
       count(*) FILTER (paid_date IS NOT NULL AND paid_amount < amount) * 1.0 / nullif(count(*) FILTER (paid_date IS NOT NULL), 0) AS short_payment_share,
       count(*) FILTER (in_dispute) AS n_disputes_open,
       max(paid_date) AS last_paid
FROM inv2 GROUP BY 1;

CREATE TEMP TABLE cust AS
SELECT a.customer_id, c.segment, c.collector,
       a.n_invoices, coalesce(p.n_paid, 0) AS n_paid, a.n_open, a.n_invoices_90d, a.tenure_days, a.amount_issued_base,
       coalesce(p.amount_paid_base, 0) AS amount_paid_base, a.invoice_amount_median_base,
       p.days_late_mean, p.days_late_median, p.days_late_std, p.days_late_p25, p.days_late_p75, p.days_late_p90,
       p.days_late_amount_weighted, a.days_to_pay_mean, a.days_to_pay_median, p.share_paid_late, p.share_paid_late_30,
       p.days_late_ewma, p.days_late_last, p.days_late_trend_last5, p.days_late_trend_90d,
       DATE '{as_of}' - coalesce(pc.last_payment, a.last_paid) AS days_since_last_payment,
       a.partial_payment_share, a.short_payment_share,
       coalesce(ac.disputes, 0) * 1.0 / a.n_invoices AS dispute_rate, a.n_disputes_open,
       ac.prom_kept * 1.0 / nullif(ac.prom_eval, 0) AS promise_kept_rate, coalesce(ac.prom_eval, 0) AS n_promises_evaluated,
       ac.rem_ans * 1.0 / nullif(ac.rem_eval, 0) AS reminder_response_rate, coalesce(ac.n_reminders, 0) AS n_reminders,
       a.open_amount_base, coalesce(a.open_current_base, 0) AS open_current_base, coalesce(a.open_1_30_base, 0) AS open_1_30_base,
       coalesce(a.open_31_60_base, 0) AS open_31_60_base, coalesce(a.open_61_90_base, 0) AS open_61_90_base,
       coalesce(a.open_91_120_base, 0) AS open_91_120_base, coalesce(a.open_over_120_base, 0) AS open_over_120_base,
       a.max_days_past_due,
       CAST(c.credit_limit AS DOUBLE) / coalesce(fx.per_base, 1.0) AS credit_limit_base,
       a.open_amount_base / nullif(CAST(c.credit_limit AS DOUBLE) / coalesce(fx.per_base, 1.0), 0) AS credit_utilisation,
       s.seasonal_amplitude_days
FROM all_stats a
LEFT JOIN paid_stats p USING (customer_id)
LEFT JOIN pay_cust pc USING (customer_id)
LEFT JOIN act_cust ac USING (customer_id)
LEFT JOIN season s USING (customer_id)
LEFT JOIN read_parquet('{data}/customers.parquet') c USING (customer_id)
LEFT JOIN fx ON fx.currency = c.currency;

COPY (SELECT * FROM cust ORDER BY customer_id) TO '{out}/customer_features.parquet' (FORMAT PARQUET);

COPY (
  SELECT i.invoice_id, i.customer_id, i.currency, i.invoice_date, i.due_date, i.amount, i.amount_base,
         i.due_date - i.invoice_date AS terms_days, DATE '{as_of}' - i.invoice_date AS days_since_issue,
         i.due_date - DATE '{as_of}' AS days_to_due, greatest(i.dpd, 0) AS days_past_due, (i.dpd > 0)::INT AS is_past_due,
         i.open_base AS open_amount_base, least(greatest(i.paid_so_far / nullif(i.amount, 0), 0), 1) AS paid_share,
         i.amount_base / nullif(c.invoice_amount_median_base, 0) AS amount_rel_customer_median,
         i.in_dispute::INT AS is_in_dispute, i.n_reminders AS n_reminders_sent, i.open_promise::INT AS has_open_promise,
         month(i.due_date) AS due_month, m.late_m - c.days_late_mean AS due_month_delta_days
  FROM inv2 i JOIN cust c USING (customer_id) LEFT JOIN months m ON m.customer_id = i.customer_id AND m.m = month(i.due_date)
  WHERE i.paid_date IS NULL ORDER BY i.customer_id, i.invoice_date
) TO '{out}/invoice_features.parquet' (FORMAT PARQUET);
