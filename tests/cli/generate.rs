use std::collections::BTreeMap;
use std::path::Path;

use crate::helpers::{arsight, s};

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).unwrap().display().to_string();
        out.insert(rel, std::fs::read(&entry).unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v.sort();
    v
}

#[test]
fn generation_is_deterministic_for_a_seed_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str, threads: &str| {
        let out = tmp.path().join(name);
        let o = arsight(
            &["generate", "--customers", "120", "--invoices", "6000", "--seed", seed, "--out", s(&out)],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        snapshot(&out)
    };
    let a = run("a", "7", "1");
    let b = run("b", "7", "2");
    let c = run("c", "8", "2");
    assert!(a.keys().any(|k| k.starts_with("invoices/")) && a.contains_key("customers.parquet"));
    assert!(a.len() > 4 * 3, "four shards of three tables plus customers: {:?}", a.keys());
    assert_eq!(a, b, "same seed, different thread counts: identical bytes");
    assert_ne!(a.get("invoices/part-00000.parquet"), c.get("invoices/part-00000.parquet"), "another seed differs");
}

#[test]
fn bad_generator_parameters_are_refused_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let o = arsight(&["generate", "--customers", "0", "--out", s(tmp.path())], &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("customers cannot be 0"));
    let o = arsight(&["generate", "--start", "2024-01-01", "--end", "2023-01-01", "--out", s(tmp.path())], &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("should not be before start"));
}
