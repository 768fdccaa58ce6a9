use arrow_array::Float64Array;

use crate::helpers::{arsight, arsight_ok, read_parquet, s, strings, write_invoices, InvoiceRow};

/// An invoices-only contract directory written by hand: a punctual customer, a steady
/// 10-days-late one, a 45-days-late one and a new customer with only open invoices.
pub fn hand_written(dir: &std::path::Path, as_of: i32) -> Vec<String> {
    let (rows, open) = hand_written_rows(as_of);
    write_invoices(dir, &rows);
    open
}

/// The hand-written directory's invoice rows and the ids of those open at `as_of`.
fn hand_written_rows(as_of: i32) -> (Vec<InvoiceRow>, Vec<String>) {
    let (mut id, mut cust, mut issue, mut due, mut amount, mut paid) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::<Option<i32>>::new());
    let start = 19_358; // 2023-01-01
    for (c, late) in [("punctual", 0), ("steady", 10), ("slow", 45)] {
        for k in 0..40 {
            let d = start + 9 * k;
            id.push(format!("{c}-{k}"));
            cust.push(c.to_string());
            issue.push(d);
            due.push(d + 30);
            amount.push(100.0 + f64::from(k));
            paid.push(Some(d + 30 + late + (k % 3)));
        }
    }
    for k in 0..3 {
        id.push(format!("new-{k}"));
        cust.push("newco".to_string());
        issue.push(start + 340 + k);
        due.push(start + 370 + k);
        amount.push(500.0);
        paid.push(None);
    }
    let open: Vec<String> =
        id.iter().zip(&paid).filter(|(_, p)| p.is_none_or(|p| p > as_of)).map(|(i, _)| i.clone()).collect();
    let rows: Vec<_> =
        (0..id.len()).map(|k| (id[k].clone(), cust[k].clone(), issue[k], due[k], amount[k], paid[k])).collect();
    (rows, open)
}

#[test]
fn train_predict_forecast_on_a_hand_written_contract_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let open = hand_written(&data, 19_723); // 2024-01-01
    let models = tmp.path().join("models");
    let as_of = "2024-01-01";
    let out = arsight_ok(&["train", "--data", s(&data), "--as-of", as_of, "--models", s(&models)]);
    assert!(out.contains("payment_date") && out.contains("segments:"), "{out}");
    for kind in ["payment_date", "risk", "cash", "segments", "anomaly"] {
        let current = std::fs::read_to_string(models.join(kind).join("CURRENT")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(models.join(kind).join(current.trim()).join("manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["as_of"], as_of, "{kind}");
        assert_eq!(manifest["feature_hash"].as_str().unwrap().len(), 64);
    }

    // A settings file: what it names is used and recorded; a mistake is named.
    let settings = tmp.path().join("settings.toml");
    std::fs::write(&settings, "max_training_rows = 5000\n[payment]\nn_trees = 12\nlearning_rate = 0.3\n").unwrap();
    let other = tmp.path().join("models-12");
    let args = ["train", "--data", s(&data), "--as-of", as_of, "--models", s(&other), "--params", s(&settings)];
    arsight_ok(&args);
    let current = std::fs::read_to_string(other.join("payment_date").join("CURRENT")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(other.join("payment_date").join(current.trim()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["hyperparameters"]["n_trees"], 12);
    assert_eq!(manifest["hyperparameters"]["max_leaves"], 15, "what the file does not name keeps its default");
    assert_eq!(manifest["hyperparameters"]["max_training_rows"], 5000, "the row budget is recorded");
    std::fs::write(&settings, "[payment]\nn_tree = 12\n").unwrap();
    let bad = arsight(&args, &[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("settings.toml") && err.contains("`payment.n_tree` is not a setting"), "{err}");

    let preds = tmp.path().join("p.parquet");
    arsight_ok(&["predict", "--data", s(&data), "--as-of", as_of, "--models", s(&models), "--out", s(&preds)]);
    let batches = read_parquet(&preds);
    let ids = strings(&batches, "invoice_id");
    let custs = strings(&batches, "customer_id");
    let segments = strings(&batches, "segment");
    let mut sorted = ids.clone();
    sorted.sort();
    let mut want = open.clone();
    want.sort();
    assert_eq!(sorted, want, "every invoice open at the as-of date, once");
    for (c, seg) in custs.iter().zip(&segments) {
        if c == "newco" {
            assert_eq!(seg, "new");
        }
    }
    let col = |name: &str| -> Vec<f64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec()
            })
            .collect()
    };
    let p_late = col("p_late");
    let slow: Vec<f64> = custs.iter().zip(&p_late).filter(|(c, _)| *c == "slow").map(|(_, p)| *p).collect();
    assert!(!slow.is_empty() && slow.iter().all(|p| *p > 0.5), "{slow:?}");

    let csv = tmp.path().join("p.csv");
    arsight_ok(&["predict", "--data", s(&data), "--as-of", as_of, "--models", s(&models), "--out", s(&csv)]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("invoice_id,customer_id,currency,open_amount"), "{text}");
    assert_eq!(text.lines().count(), ids.len() + 1);

    let json = tmp.path().join("f.json");
    let out = arsight_ok(&[
        "forecast",
        "--data",
        s(&data),
        "--as-of",
        as_of,
        "--models",
        s(&models),
        "--horizon",
        "8w",
        "--out",
        s(&json),
    ]);
    assert!(out.contains("cash forecast as of 2024-01-01"), "{out}");
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(f["base"].as_array().unwrap().len(), 8);
    let usd = &f["currencies"][0];
    let expected: i64 = usd["buckets"].as_array().unwrap().iter().map(|b| b["expected_minor"].as_i64().unwrap()).sum();
    assert_eq!(expected + usd["beyond_horizon_expected_minor"].as_i64().unwrap(), usd["open_minor"].as_i64().unwrap());

    // An fx_rates table in the data: the base view converts with the rate in effect at
    // the as-of date (a later-dated rate is not read), and a bad row is named.
    let write_rates = |rates: Vec<Option<&str>>| {
        use std::sync::Arc;

        use arrow_array::{ArrayRef, Date32Array, RecordBatch, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("currency", DataType::Utf8, false),
            Field::new("base", DataType::Utf8, false),
            Field::new("rate", DataType::Utf8, true),
            Field::new("date", DataType::Date32, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["USD", "USD"])),
            Arc::new(StringArray::from(vec!["EUR", "EUR"])),
            Arc::new(StringArray::from(rates)),
            Arc::new(Date32Array::from(vec![19_692, 19_875])), // 2023-12-01, 2024-06-01
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let file = std::fs::File::create(data.join("fx_rates.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    };
    write_rates(vec![Some("1.25"), Some("2.0")]);
    let eur = tmp.path().join("f-eur.json");
    let args =
        ["forecast", "--data", s(&data), "--as-of", as_of, "--models", s(&models), "--horizon", "8w", "--out", s(&eur)];
    let out = arsight_ok(&args);
    assert!(out.contains("FX rates: the fx_rates table as of 2024-01-01 (base EUR)"), "{out}");
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&eur).unwrap()).unwrap();
    assert_eq!((f["base_currency"].as_str(), g["base_currency"].as_str()), (Some("USD"), Some("EUR")));
    let total = |v: &serde_json::Value| -> f64 {
        v["base"].as_array().unwrap().iter().map(|b| b["expected_minor"].as_i64().unwrap() as f64).sum()
    };
    let ratio = total(&f) / total(&g);
    assert!((ratio - 1.25).abs() < 0.01, "{ratio}");
    write_rates(vec![Some("1.25"), Some("abc")]);
    let bad = arsight(&args, &[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("fx_rates.parquet row 2: rate: rate should be a number, but is 'abc'"), "{err}");
    std::fs::remove_file(data.join("fx_rates.parquet")).unwrap();

    // Bad requests fail with a message naming the problem.
    let bad =
        arsight(&["forecast", "--data", s(&data), "--as-of", as_of, "--models", s(&models), "--horizon", "30w"], &[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("horizon should be between 1 and 91 days"));
    let none = arsight(
        &["predict", "--data", s(&data), "--as-of", as_of, "--models", s(&tmp.path().join("nope")), "--out", s(&csv)],
        &[],
    );
    assert!(String::from_utf8_lossy(&none.stderr).contains("run `arsight train` first"));
    let ext =
        arsight(&["predict", "--data", s(&data), "--as-of", as_of, "--models", s(&models), "--out", "x.xlsx"], &[]);
    assert!(String::from_utf8_lossy(&ext.stderr).contains(".parquet, .csv or .json"));
}

#[test]
fn backtest_on_a_hand_written_contract_directory_writes_its_report_and_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    hand_written(&data, 19_723);
    let (json, cash, scored) = (tmp.path().join("r.json"), tmp.path().join("cash.csv"), tmp.path().join("scored.csv"));
    let out = arsight_ok(&[
        "backtest",
        "--data",
        s(&data),
        "--every",
        "28d",
        "--out",
        s(&json),
        "--cash-rows",
        s(&cash),
        "--scored-rows",
        s(&scored),
    ]);
    assert!(out.contains("| arsight GBDT |") && out.contains("90% intervals"), "{out}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let n_scored = r["n_scored"].as_u64().unwrap() as usize;
    assert!(n_scored > 0 && r["as_of_dates"].as_array().unwrap().len() >= 2, "{r}");
    let model = &r["methods"][0];
    assert!(model["intervals"].get("mae_days").is_some(), "{model}");
    // The rows: a header and one line per scored invoice / per open invoice and date.
    let scored = std::fs::read_to_string(&scored).unwrap();
    assert!(scored.starts_with("as_of,customer_id,invoice_date,due_date,p10_paid_date,p50_paid_date"), "{scored}");
    assert_eq!(scored.lines().count(), n_scored + 1);
    let mae: f64 = scored
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
            (day(f[5]) - day(f[8])).num_days().abs() as f64
        })
        .sum::<f64>()
        / n_scored as f64;
    assert!((mae - model["mae_days"].as_f64().unwrap()).abs() < 1e-9, "{mae} vs {model}");
    let cash = std::fs::read_to_string(&cash).unwrap();
    assert_eq!(cash.lines().count(), r["n_cash_rows"].as_u64().unwrap() as usize + 1);
}

#[test]
fn kpis_on_a_hand_written_contract_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let open = hand_written(&data, 19_723); // 2024-01-01
    let json = tmp.path().join("k.json");
    let out = arsight_ok(&["kpis", "--data", s(&data), "--as-of", "2024-01-01", "--trend", "3", "--out", s(&json)]);
    assert!(out.contains("Collections KPIs at 2024-01-01 (90-day window; portfolio in USD)"), "{out}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // Receivables: every invoice open at the date, in cents (`<customer>-k` is 100 + k, `new-k` 500).
    let expected: i64 = open
        .iter()
        .map(|id| {
            if id.starts_with("new-") {
                50_000
            } else {
                (100 + id.rsplit('-').next().unwrap().parse::<i64>().unwrap()) * 100
            }
        })
        .sum();
    assert_eq!(r["portfolio"]["receivables_minor"].as_i64(), Some(expected), "{r}");
    assert_eq!(r["collections"]["open_invoices"].as_u64(), Some(open.len() as u64));
    assert_eq!(r["trend"].as_array().unwrap().len(), 3);
    assert_eq!(r["trend"][2], r["portfolio"]);
    // The slow customer (45 days late) keeps the portfolio's DSO above its best possible.
    let (dso, best) =
        (r["portfolio"]["dso_days"].as_f64().unwrap(), r["portfolio"]["best_possible_dso_days"].as_f64().unwrap());
    assert!(dso > best + 5.0, "{r}");

    let bad = arsight(&["kpis", "--data", s(&data), "--window", "0d"], &[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--window"), "{err}");
}

/// A reader that stops reading (`arsight kpis … | head -1`) does not stop the command:
/// it exits as it would have and writes its report file. `println!` panicked there.
#[test]
fn a_reader_that_goes_away_does_not_stop_the_command() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    hand_written(&data, 19_723);
    let json = tmp.path().join("k.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_arsight"))
        .args(["kpis", "--data", s(&data), "--as-of", "2024-01-01", "--out", s(&json)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the report (printed after the data is read) is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(r["portfolio"]["receivables_minor"].as_i64().unwrap() > 0, "{r}");
}

/// The hand-written directory with three rows the contract rejects, as its rows 124–126
/// (1-based, after the header): a credit note, a due date before the issue date and a
/// settlement before the issue date.
pub fn hand_written_with_rejects(dir: &std::path::Path) {
    let (mut rows, _) = hand_written_rows(19_723);
    assert_eq!(rows.len(), 123);
    rows.push(("credit-1".into(), "steady".into(), 19_600, 19_630, -250.0, None));
    rows.push(("due-early".into(), "steady".into(), 19_600, 19_590, 80.0, None));
    rows.push(("paid-early".into(), "slow".into(), 19_600, 19_630, 90.0, Some(19_599)));
    write_invoices(dir, &rows);
}

#[test]
fn every_command_that_reads_the_data_writes_its_rejected_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    hand_written_with_rejects(&data);
    let rejected = |path: &std::path::Path| -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("table,file,row,field,value,reason"));
        lines.map(|l| l.split(',').take(4).skip(2).collect::<Vec<_>>().join(",")).collect()
    };
    let want = ["124,amount", "125,due_date", "126,paid_date"];
    let models = tmp.path().join("models");
    let out = arsight_ok(&["train", "--data", s(&data), "--as-of", "2024-01-01", "--models", s(&models)]);
    assert!(
        out.contains(&format!("3 input rows rejected, written to {}", models.join("rejects.csv").display())),
        "{out}"
    );
    assert_eq!(rejected(&models.join("rejects.csv")), want);

    let preds = tmp.path().join("p.csv");
    let out = arsight_ok(&[
        "predict",
        "--data",
        s(&data),
        "--as-of",
        "2024-01-01",
        "--models",
        s(&models),
        "--out",
        s(&preds),
    ]);
    assert!(out.contains("3 input rows rejected"), "{out}");
    assert_eq!(rejected(&tmp.path().join("p.rejects.csv")), want);
    let f = tmp.path().join("f.json");
    arsight_ok(&["forecast", "--data", s(&data), "--as-of", "2024-01-01", "--models", s(&models), "--out", s(&f)]);
    assert_eq!(rejected(&tmp.path().join("f.rejects.csv")), want);
    let k = tmp.path().join("kpi-rejects.csv");
    arsight_ok(&["kpis", "--data", s(&data), "--as-of", "2024-01-01", "--trend", "1", "--rejects", s(&k)]);
    assert_eq!(rejected(&k), want);
    let r = tmp.path().join("r.json");
    arsight_ok(&["backtest", "--data", s(&data), "--every", "56d", "--out", s(&r)]);
    assert_eq!(rejected(&tmp.path().join("r.rejects.csv")), want);

    // Clean data again: the file beside the models is not left to mislead.
    hand_written(&data, 19_723);
    let out = arsight_ok(&["train", "--data", s(&data), "--as-of", "2024-01-01", "--models", s(&models)]);
    assert!(!out.contains("rejected"), "{out}");
    assert!(!models.join("rejects.csv").exists());
}
