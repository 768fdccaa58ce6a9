-- The collections KPIs of `arsight kpis` at one date (no trend), in SQL, for the
-- side-by-side benchmark and cross-check (benches/kpis_vs_duckdb.py). Placeholders:
-- {data} data directory, {as_of} date literal, {window} days. Definitions follow
-- src/kpi/mod.rs: open amount at t = amount less payments dated on or before t, for
-- invoices issued on or before t and not settled on or before t.
CREATE TEMP TABLE inv AS
SELECT invoice_id, customer_id, invoice_date, due_date, currency,
       CAST(round(amount * CASE WHEN currency IN ('JPY','KRW','CLP','ISK','VND','XOF','XAF','UGX','PYG') THEN 1
                                WHEN currency IN ('BHD','KWD','OMR','JOD','TND','LYD','IQD') THEN 1000 ELSE 100 END) AS BIGINT) AS minor,
       CASE WHEN paid_date <= DATE '{as_of}' THEN paid_date END AS paid_date
FROM read_parquet('{data}/invoices/*.parquet')
WHERE invoice_date <= DATE '{as_of}';

CREATE TEMP TABLE pay AS
SELECT p.invoice_id, p.payment_date,
       CAST(round(p.amount * CASE WHEN p.currency IN ('JPY','KRW','CLP','ISK','VND','XOF','XAF','UGX','PYG') THEN 1
                                  WHEN p.currency IN ('BHD','KWD','OMR','JOD','TND','LYD','IQD') THEN 1000 ELSE 100 END) AS BIGINT) AS minor
FROM read_parquet('{data}/payments/*.parquet') p
WHERE p.payment_date <= DATE '{as_of}' AND p.invoice_id IS NOT NULL;

-- Open amounts at D and at the window's start (D - window), with days past due at each.
CREATE TEMP TABLE dates AS SELECT DATE '{as_of}' AS day UNION ALL SELECT CAST(DATE '{as_of}' - INTERVAL {window} DAY AS DATE);

CREATE TEMP TABLE received AS
SELECT t.day, p.invoice_id, sum(p.minor) AS received
FROM pay p JOIN dates t ON p.payment_date <= t.day GROUP BY 1, 2;

CREATE TEMP TABLE open_at AS
SELECT t.day, i.currency, i.invoice_id, i.customer_id,
       greatest(i.minor - coalesce(r.received, 0), 0) AS open, (t.day - i.due_date) AS dpd
FROM inv i JOIN dates t ON i.invoice_date <= t.day AND (i.paid_date IS NULL OR i.paid_date > t.day)
LEFT JOIN received r ON r.day = t.day AND r.invoice_id = i.invoice_id;

CREATE TEMP TABLE by_currency AS
WITH now AS (
  SELECT currency, sum(open) AS receivables,
         sum(open) FILTER (dpd <= 0) AS current_minor,
         sum(open) FILTER (dpd BETWEEN 1 AND 30) AS d1_30,
         sum(open) FILTER (dpd BETWEEN 31 AND 60) AS d31_60,
         sum(open) FILTER (dpd BETWEEN 61 AND 90) AS d61_90,
         sum(open) FILTER (dpd > 90) AS over_90
  FROM open_at WHERE day = DATE '{as_of}' GROUP BY 1),
before AS (SELECT currency, sum(open) AS receivables FROM open_at WHERE day < DATE '{as_of}' GROUP BY 1),
sales AS (SELECT currency, sum(minor) AS sales FROM inv WHERE invoice_date > DATE '{as_of}' - INTERVAL {window} DAY GROUP BY 1),
cur AS (SELECT DISTINCT currency FROM inv)
SELECT cur.currency,
       coalesce(now.receivables, 0) AS receivables, coalesce(now.current_minor, 0) AS current_minor,
       coalesce(d1_30, 0) AS d1_30, coalesce(d31_60, 0) AS d31_60, coalesce(d61_90, 0) AS d61_90, coalesce(over_90, 0) AS over_90,
       coalesce(sales.sales, 0) AS sales,
       CASE WHEN sales.sales > 0 THEN coalesce(now.receivables, 0) * {window} / sales.sales END AS dso,
       CASE WHEN sales.sales > 0 THEN coalesce(now.current_minor, 0) * {window} / sales.sales END AS best_dso,
       CASE WHEN coalesce(before.receivables, 0) + coalesce(sales.sales, 0) - coalesce(now.current_minor, 0) > 0
            THEN 100.0 * (coalesce(before.receivables, 0) + coalesce(sales.sales, 0) - coalesce(now.receivables, 0))
                 / (coalesce(before.receivables, 0) + coalesce(sales.sales, 0) - coalesce(now.current_minor, 0)) END AS cei
FROM cur LEFT JOIN now USING (currency) LEFT JOIN before USING (currency) LEFT JOIN sales USING (currency)
ORDER BY 1;

CREATE TEMP TABLE act AS
SELECT a.kind, a.date, a.promised_date, a.invoice_id, i.paid_date, i.invoice_id IS NOT NULL AS known
FROM read_parquet('{data}/activities/*.parquet') a LEFT JOIN inv i USING (invoice_id)
WHERE a.date <= DATE '{as_of}';

CREATE TEMP TABLE collections AS
SELECT
  (SELECT count(*) FROM inv WHERE paid_date > DATE '{as_of}' - INTERVAL {window} DAY) AS settled_invoices,
  (SELECT count(*) FILTER (paid_date <= due_date) / count(*) FROM inv WHERE paid_date > DATE '{as_of}' - INTERVAL {window} DAY) AS on_time_share,
  (SELECT avg(paid_date - due_date) FROM inv WHERE paid_date > DATE '{as_of}' - INTERVAL {window} DAY) AS mean_days_late,
  (SELECT count(*) FROM act WHERE kind = 'promise_to_pay' AND known AND promised_date > DATE '{as_of}' - INTERVAL {window} DAY AND promised_date <= DATE '{as_of}') AS promises_due,
  (SELECT count(*) FROM act WHERE kind = 'promise_to_pay' AND known AND promised_date > DATE '{as_of}' - INTERVAL {window} DAY AND promised_date <= DATE '{as_of}' AND paid_date <= promised_date) AS promises_kept,
  (SELECT count(*) FROM act WHERE kind = 'dispute_opened' AND date > DATE '{as_of}' - INTERVAL {window} DAY) AS disputes_opened,
  (SELECT count(*) FROM inv WHERE paid_date IS NULL) AS open_invoices,
  (SELECT count(*) FROM inv i WHERE paid_date IS NULL
     AND EXISTS (SELECT 1 FROM act a WHERE a.invoice_id = i.invoice_id AND a.kind = 'dispute_opened')
     AND NOT EXISTS (SELECT 1 FROM act a WHERE a.invoice_id = i.invoice_id AND a.kind = 'dispute_resolved')) AS open_disputed_invoices,
  (SELECT count(DISTINCT customer_id) FROM open_at WHERE day = DATE '{as_of}' AND dpd > 0 AND open > 0) AS customers_past_due;
