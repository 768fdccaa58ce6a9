//! Load benchmark of the HTTP API, side by side with a FastAPI + LightGBM reference.
//!
//! ```text
//! cargo bench --bench load -- --data data/default --models models [--seconds 5] [--rounds 3]
//!     [--connections 16] [--reference benches/fastapi_reference.py]
//! ```
//!
//! Starts `arsight serve` (release binary, API keys on, a fresh state directory) and,
//! when Python with fastapi, uvicorn and lightgbm is there, the reference service in
//! `benches/fastapi_reference.py` on the same data. Each scenario alternates the
//! sides round by round and reports medians:
//!
//! - `GET /healthz` throughput (closed loop, N keep-alive connections);
//! - single-invoice `POST /v1/predictions` (a new invoice of a known customer: the
//!   full feature + model path) throughput, then p50/p99 latency at half of it (open
//!   loop: requests sent on a schedule whether or not earlier ones were answered);
//! - a 1,000-invoice batch, p50/p99 over sequential requests;
//! - `GET /v1/forecast` p50 (cached) and the first answer after an event (recomputed);
//! - `POST /v1/events`: events/s sustained with batches of 100 (fsync per group) and
//!   with one event per request, and the time until a posted invoice shows up.
//!
//! The load client is this process: plain HTTP/1.1 over tokio sockets. Its worker
//! threads run under `SCHED_BATCH`, so that a client thread woken by an answer does not
//! preempt the server it shares the cores with (the servers, spawned from the main
//! thread, keep the default policy). Under the default policy for both, the server's
//! threads were preempted ~14,000 times a second during single-invoice load, against
//! ~1,400 a second during `/healthz` load: the client's scheduling was charged to the
//! request under test. `--client-policy normal` measures the old way.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    addr: String,
    auth: String,
}

impl Conn {
    async fn open(addr: &str, key: Option<&str>) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).unwrap();
        let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
        Conn { s, buf: Vec::with_capacity(1 << 16), addr: addr.to_string(), auth }
    }

    /// The bytes of one request on this connection.
    fn request(&self, method: &str, path: &str, body: &str) -> Vec<u8> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            self.auth,
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body.as_bytes());
        req
    }

    /// One request on the kept-alive connection: (status, body).
    async fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let req = self.request(method, path, body);
        let (status, body) = self.send(&req).await;
        (status, self.buf[body].to_vec())
    }

    /// Sends prepared request bytes and reads the answer into the connection's buffer:
    /// (status, where the body is). Nothing is zeroed, copied or lower-cased per
    /// request, so the client costs as little as it can beside the server.
    async fn send(&mut self, req: &[u8]) -> (u16, std::ops::Range<usize>) {
        self.s.write_all(req).await.expect("write");
        self.buf.clear();
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            let n = self.s.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "connection closed");
        };
        let head = &self.buf[..head_end];
        let status: u16 =
            std::str::from_utf8(&head[9..12.min(head.len())]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        let len: usize = head
            .split(|&b| b == b'\n')
            .find_map(|l| {
                let (name, value) = l.split_at(l.iter().position(|&b| b == b':')?);
                name.eq_ignore_ascii_case(b"content-length")
                    .then(|| std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok())
                    .flatten()
            })
            .expect("content-length");
        while self.buf.len() < head_end + len {
            let n = self.s.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "connection closed");
        }
        (status, head_end..head_end + len)
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Distinct requests prepared per connection (sent in turn).
const PREPARED: u64 = 256;

/// Request bytes `req(base)..req(base + PREPARED)` on `conn`.
fn prepare(conn: &Conn, base: u64, req: &(dyn Fn(u64) -> (String, String) + Send + Sync)) -> Vec<Vec<u8>> {
    (base..base + PREPARED)
        .map(|i| {
            let (path, body) = req(i);
            conn.request(if body.is_empty() { "GET" } else { "POST" }, &path, &body)
        })
        .collect()
}

/// Adds one round's measures of `side` to the results.
fn record<'a>(
    res: &mut std::collections::BTreeMap<(&'a str, &'a str), Vec<f64>>,
    side: &'a str,
    measures: &[(&'a str, f64)],
) {
    for &(k, v) in measures {
        res.entry((side, k)).or_default().push(v);
    }
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    pct(&mut v, 0.5)
}

/// A service under test.
struct Side {
    name: &'static str,
    addr: String,
    key: Option<String>,
    child: Child,
}

impl Drop for Side {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a process and waits for `listening on http://ADDR` (and `admin api key: K`).
fn start(name: &'static str, cmd: &mut Command) -> Side {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    let addr = loop {
        let line = lines.next().expect("printed its address").expect("utf-8");
        if let Some(k) = line.strip_prefix("admin api key: ") {
            key = Some(k.to_string());
        }
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Side { name, addr, key, child }
}

/// Closed loop: `conns` connections send `req(i)` back to back for `secs`; requests/s.
async fn throughput(
    side: &Side,
    conns: usize,
    secs: f64,
    req: Arc<dyn Fn(u64) -> (String, String) + Send + Sync>,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (stop, done, req) = (stop.clone(), done.clone(), req.clone());
        let mut conn = Conn::open(&side.addr, side.key.as_deref()).await;
        let reqs = prepare(&conn, c as u64 * 1_000_000, req.as_ref());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (st, b) = conn.send(&reqs[i % reqs.len()]).await;
                assert!(st == 200, "{st} {}", String::from_utf8_lossy(&conn.buf[b]));
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let (t, n0, cpu0) = (Instant::now(), done.load(Ordering::Relaxed), cpu_seconds(side.child.id()));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let n = done.load(Ordering::Relaxed) - n0;
    let el = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(side.child.id()).zip(cpu0).map_or(f64::NAN, |(b, a)| (b - a) * 1e6 / n.max(1) as f64);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (n as f64 / el, cpu)
}

/// CPU time (user + system) process `pid` has used, seconds (Linux `/proc`; None
/// elsewhere). The server's CPU per request is less sensitive than its throughput to
/// what else the shared machine runs.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?;
    // SAFETY: `sysconf` only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

/// Open loop at `rate`/s over `conns` connections for `secs`: latencies (ms) from
/// each request's send (tokio's timer has millisecond resolution, so measuring from
/// the scheduled time would add the client's own timer lag).
async fn paced(
    side: &Side,
    conns: usize,
    rate: f64,
    secs: f64,
    req: Arc<dyn Fn(u64) -> (String, String) + Send + Sync>,
) -> Vec<f64> {
    let per_conn = Duration::from_secs_f64(conns as f64 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let mut conn = Conn::open(&side.addr, side.key.as_deref()).await;
        let reqs = prepare(&conn, c as u64 * 1_000_000, req.as_ref());
        tasks.push(tokio::spawn(async move {
            let offset = per_conn.mul_f64(c as f64 / conns as f64);
            let mut lat = Vec::new();
            let mut k = 0u32;
            loop {
                let due = start + offset + per_conn * k;
                if due > start + Duration::from_secs_f64(secs) {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let sent = Instant::now();
                let (st, _) = conn.send(&reqs[k as usize % reqs.len()]).await;
                assert_eq!(st, 200);
                lat.push(sent.elapsed().as_secs_f64() * 1e3);
                k += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn new_invoice(cust: &str, i: u64, as_of: &str) -> String {
    format!(
        r#"{{"invoice_id":"load-{i}","customer_id":"{cust}","invoice_date":"{as_of}","due_date":"{as_of}","amount":"{}.{:02}","currency":"USD"}}"#,
        100 + i % 5000,
        i % 100
    )
}

/// Puts the calling thread under `SCHED_BATCH`: its wake-ups do not preempt the
/// thread running on the CPU.
fn batch_policy() {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads the parameter; 0 is the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &p) };
    if rc != 0 {
        eprintln!("SCHED_BATCH refused: {}", std::io::Error::last_os_error());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batch = arg(&args, "--client-policy").is_none_or(|p| p != "normal");
    println!("load client threads: {}", if batch { "SCHED_BATCH" } else { "default policy" });
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if batch {
        rt.on_thread_start(batch_policy);
    }
    rt.build().expect("tokio runtime").block_on(run(args));
}

/// The active version of each tree model kind under `dir` and its trees (from the
/// manifest's hyperparameters), or what is missing.
fn describe_models(dir: &str) -> String {
    fn trees(v: &serde_json::Value, out: &mut Vec<u64>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x.as_u64()) {
                        ("n_trees", Some(n)) => out.push(n),
                        _ => trees(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| trees(x, out)),
            _ => {}
        }
    }
    ["payment_date", "risk", "cash"]
        .iter()
        .map(|kind| {
            let base = std::path::Path::new(dir).join(kind);
            let Ok(version) = std::fs::read_to_string(base.join("CURRENT")) else {
                return format!("{kind}: none (trained at start)");
            };
            let version = version.trim();
            let manifest = std::fs::read_to_string(base.join(version).join("manifest.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            let mut n = Vec::new();
            if let Some(m) = manifest.as_ref().and_then(|m| m.get("hyperparameters")) {
                trees(m, &mut n);
            }
            format!("{kind} {version} (n_trees {n:?})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn run(args: Vec<String>) {
    let data = arg(&args, "--data").unwrap_or_else(|| "data/default".into());
    let models = arg(&args, "--models").unwrap_or_else(|| "models".into());
    let secs: f64 = arg(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let rounds: usize = arg(&args, "--rounds").and_then(|s| s.parse().ok()).unwrap_or(3);
    let conns: usize = arg(&args, "--connections").and_then(|s| s.parse().ok()).unwrap_or(16);
    let reference = arg(&args, "--reference").unwrap_or_else(|| "benches/fastapi_reference.py".into());
    // `--batch-only`: just the 1,000-invoice batch scenario (quick iterations).
    let batch_only = args.iter().any(|a| a == "--batch-only");
    // `--single-only`: just single-invoice throughput, and after it /healthz throughput
    // (for profiling and quick A/B runs of the share).
    let single_only = args.iter().any(|a| a == "--single-only");
    let state = tempfile::tempdir().unwrap();
    // Which models are served matters as much as the code: say so.
    println!("models served: {}", describe_models(&models));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());

    let t = Instant::now();
    let ours = start(
        "arsight",
        Command::new(arg(&args, "--bin").unwrap_or_else(|| env!("CARGO_BIN_EXE_arsight").into())).args([
            "serve",
            "--data",
            &data,
            "--models",
            &models,
            "--state",
            state.path().to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ]),
    );
    println!("arsight listening after {:.1}s", t.elapsed().as_secs_f64());
    // A known customer and its as-of date, from the service itself.
    let mut c = Conn::open(&ours.addr, ours.key.as_deref()).await;
    let (_, ready) = c.call("GET", "/readyz", "").await;
    let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
    let as_of = ready["as_of"].as_str().unwrap().to_string();
    let (_, wl) = c.call("GET", "/v1/worklist?limit=1000", "").await;
    let wl: serde_json::Value = serde_json::from_slice(&wl).unwrap();
    let customers: Vec<String> = wl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["customer_id"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    println!(
        "as of {as_of}; {} open invoices; {} customers used for requests",
        ready["open_invoices"],
        customers.len()
    );

    let reference_side = {
        let py = Command::new("python3")
            .args(["-c", "import fastapi, uvicorn, lightgbm, pandas"])
            .status()
            .is_ok_and(|s| s.success());
        if py && std::path::Path::new(&reference).exists() {
            let t = Instant::now();
            let side = start(
                "fastapi+lightgbm",
                Command::new("python3").args([
                    reference.as_str(),
                    "--data",
                    &data,
                    "--as-of",
                    &as_of,
                    "--models",
                    &models,
                ]),
            );
            println!("reference listening after {:.1}s", t.elapsed().as_secs_f64());
            Some(side)
        } else {
            println!(
                "reference skipped: python3 with fastapi, uvicorn, lightgbm and pandas, and {reference}, are needed"
            );
            None
        }
    };
    let mut sides: Vec<&Side> = vec![&ours];
    if let Some(r) = &reference_side {
        sides.push(r);
    }

    let cs = Arc::new(customers);
    let healthz: Arc<dyn Fn(u64) -> (String, String) + Send + Sync> = Arc::new(|_| ("/healthz".into(), String::new()));
    let single: Arc<dyn Fn(u64) -> (String, String) + Send + Sync> = {
        let (cs, as_of) = (cs.clone(), as_of.clone());
        Arc::new(move |i| {
            let c = &cs[(i as usize) % cs.len()];
            ("/v1/predictions".into(), format!(r#"{{"invoices":[{}]}}"#, new_invoice(c, i, &as_of)))
        })
    };
    let batch: String = {
        let items: Vec<String> = (0..1000).map(|i| new_invoice(&cs[i % cs.len()], i as u64, &as_of)).collect();
        format!(r#"{{"invoices":[{}]}}"#, items.join(","))
    };

    use std::collections::BTreeMap;
    let mut res: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for round in 0..rounds {
        // Alternate which side goes first.
        let order: Vec<&Side> = if round % 2 == 0 { sides.clone() } else { sides.iter().rev().copied().collect() };
        for side in order {
            let (h, p, p50, p99) = if batch_only {
                (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
            } else {
                // `--single-only` measures single invoices first, a full run `/healthz`.
                let ((p, pc), (h, hc)) = if single_only {
                    let single = throughput(side, conns, secs, single.clone()).await;
                    (single, throughput(side, conns, secs, healthz.clone()).await)
                } else {
                    let healthz = throughput(side, conns, secs, healthz.clone()).await;
                    (throughput(side, conns, secs, single.clone()).await, healthz)
                };
                record(
                    &mut res,
                    side.name,
                    &[
                        ("healthz_rps", h),
                        ("single_rps", p),
                        ("single_share_of_healthz", p / h),
                        ("healthz_server_cpu_us", hc),
                        ("single_server_cpu_us", pc),
                    ],
                );
                if single_only {
                    println!(
                        "{} single {p:.0}/s healthz {h:.0}/s share {:.1}%  server CPU per request: single {pc:.1} us, healthz {hc:.1} us",
                        side.name,
                        100.0 * p / h
                    );
                    continue;
                }
                let mut lat = paced(side, conns, p / 2.0, secs, single.clone()).await;
                (h, p, pct(&mut lat, 0.5), pct(&mut lat, 0.99))
            };
            let mut bl = Vec::new();
            let mut conn = Conn::open(&side.addr, side.key.as_deref()).await;
            let n_batches = if batch_only { 100 } else { 30 };
            let cpu0 = cpu_seconds(side.child.id());
            for _ in 0..n_batches {
                let t = Instant::now();
                let (st, b) = conn.call("POST", "/v1/predictions", &batch).await;
                assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
                bl.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let (b50, b99) = (pct(&mut bl, 0.5), pct(&mut bl, 0.99));
            let bc = cpu_seconds(side.child.id()).zip(cpu0).map_or(f64::NAN, |(b, a)| (b - a) * 1e3 / n_batches as f64);
            println!(
                "round {round} {:<17} healthz {h:>8.0}/s  single {p:>7.0}/s ({:.0}% of healthz)  at {:.0}/s p50 {p50:.2} ms p99 {p99:.2} ms  batch-1000 p50 {b50:.1} ms p99 {b99:.1} ms (server CPU {bc:.1} ms)",
                side.name,
                (p / h) * 100.0,
                p / 2.0
            );
            record(
                &mut res,
                side.name,
                &[
                    ("half_rate_p50_ms", p50),
                    ("half_rate_p99_ms", p99),
                    ("batch1000_p50_ms", b50),
                    ("batch1000_p99_ms", b99),
                    ("batch1000_server_cpu_ms", bc),
                ],
            );
        }
    }

    if batch_only || single_only {
        print_summary(&res);
        return;
    }
    // arsight only: forecast and events.
    eprintln!("forecast and events");
    let mut conn = Conn::open(&ours.addr, ours.key.as_deref()).await;
    let mut f = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        assert_eq!(conn.call("GET", "/v1/forecast?horizon=13w", "").await.0, 200);
        f.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let forecast_cached = median(f);
    let cust0 = cs[0].clone();
    let mut recompute = Vec::new();
    for k in 0..5 {
        let ev = format!(
            r#"{{"events":[{{"event_id":"f-{k}","type":"activity","customer_id":"{cust0}","date":"{as_of}","kind":"call"}}]}}"#
        );
        assert_eq!(conn.call("POST", "/v1/events", &ev).await.0, 200);
        // Wait for the application (the cache is dropped then), then time the recompute.
        let seq_target = k + 1;
        let waited = Instant::now();
        loop {
            let (_, r) = conn.call("GET", "/readyz", "").await;
            let r: serde_json::Value = serde_json::from_slice(&r).unwrap();
            let applied = r["events_applied"].as_u64().unwrap_or(0);
            if applied >= seq_target {
                break;
            }
            assert!(waited.elapsed() < Duration::from_secs(60), "event {seq_target} not applied after 60 s: {r}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let t = Instant::now();
        assert_eq!(conn.call("GET", "/v1/forecast?horizon=13w", "").await.0, 200);
        recompute.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let forecast_recomputed = median(recompute);

    // Time until a posted invoice is visible in a prediction by id.
    let mut visible = Vec::new();
    for k in 0..20 {
        let id = format!("vis-{k}");
        let ev = format!(
            r#"{{"events":[{{"event_id":"{id}","type":"invoice","invoice_id":"{id}","customer_id":"{cust0}","invoice_date":"{as_of}","due_date":"{as_of}","amount":"10.00","currency":"USD"}}]}}"#
        );
        let t = Instant::now();
        assert_eq!(conn.call("POST", "/v1/events", &ev).await.0, 200);
        let ask = format!(r#"{{"invoices":[{{"invoice_id":"{id}"}}]}}"#);
        loop {
            let (st, b) = conn.call("POST", "/v1/predictions", &ask).await;
            if st == 200 {
                break;
            }
            let late = t.elapsed() > Duration::from_secs(60);
            assert!(!late, "invoice {id} not visible after 60 s: {st} {}", String::from_utf8_lossy(&b));
        }
        visible.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut vis = visible.clone();
    let (vis50, vis_max) = (pct(&mut vis, 0.5), vis.iter().copied().fold(0.0, f64::max));

    let event_counter = Arc::new(AtomicU64::new(0));
    let ev_req = |per: usize| -> Arc<dyn Fn(u64) -> (String, String) + Send + Sync> {
        let (cs, as_of, counter) = (cs.clone(), as_of.clone(), event_counter.clone());
        Arc::new(move |_| {
            let items: Vec<String> = (0..per)
                .map(|_| {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let c = &cs[(n as usize) % cs.len()];
                    format!(r#"{{"event_id":"load-{n}","type":"activity","customer_id":"{c}","date":"{as_of}","kind":"reminder_email"}}"#)
                })
                .collect();
            ("/v1/events".into(), format!(r#"{{"events":[{}]}}"#, items.join(",")))
        })
    };
    let mut ev100 = Vec::new();
    let mut ev1 = Vec::new();
    eprintln!("event throughput");
    for _ in 0..rounds {
        ev100.push(100.0 * throughput(&ours, conns, secs, ev_req(100)).await.0);
        ev1.push(throughput(&ours, conns, secs, ev_req(1)).await.0);
    }
    // Let the applier catch up, then report how far behind it was.
    eprintln!("event applier catch-up");
    // Connections cycle through prepared requests, so not every prepared event id
    // was sent, and some were sent again (duplicates are not applied twice): the
    // log's sequence number of one more event is the count to wait for.
    let t = Instant::now();
    let cust = &cs[0];
    let marker = format!(
        r#"{{"events":[{{"event_id":"catch-up","type":"activity","customer_id":"{cust}","date":"{as_of}","kind":"call"}}]}}"#
    );
    let (st, b) = conn.call("POST", "/v1/events", &marker).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let b: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let total = b["events"][0]["seq"].as_u64().expect("the event's sequence number");
    loop {
        let (_, r) = conn.call("GET", "/readyz", "").await;
        let r: serde_json::Value = serde_json::from_slice(&r).unwrap();
        if r["events_applied"].as_u64().unwrap_or(0) >= total {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(300), "{total} events sent, not all applied after 300 s: {r}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let catch_up = t.elapsed().as_secs_f64();
    let rss = std::fs::read_to_string(format!("/proc/{}/status", ours.child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0) / 1024.0)
        })
        .unwrap_or(f64::NAN);

    println!("\n## Medians over {rounds} rounds ({conns} connections, {secs} s per run)\n");
    print_summary(&res);
    println!("\n| arsight only | value |\n|---|---:|");
    println!("| GET /v1/forecast 13w p50, cached (ms) | {forecast_cached:.2} |");
    println!("| GET /v1/forecast 13w, first after an event (ms) | {forecast_recomputed:.1} |");
    println!("| POST /v1/events, batches of 100, events/s (median) | {:.0} |", median(ev100));
    println!("| POST /v1/events, 1 per request, events/s (median) | {:.0} |", median(ev1));
    println!("| event applier catch-up after the event runs (s) | {catch_up:.2} |");
    println!("| posted invoice visible to predictions, p50 / max (ms) | {vis50:.1} / {vis_max:.1} |");
    println!("| server peak RSS (MiB) | {rss:.0} |");
    println!("load average after: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
}

fn print_summary(res: &std::collections::BTreeMap<(&str, &str), Vec<f64>>) {
    println!("| measure | arsight | fastapi+lightgbm | ratio |");
    println!("|---|---:|---:|---:|");
    for k in [
        "healthz_rps",
        "single_rps",
        "single_share_of_healthz",
        "healthz_server_cpu_us",
        "single_server_cpu_us",
        "half_rate_p50_ms",
        "half_rate_p99_ms",
        "batch1000_p50_ms",
        "batch1000_p99_ms",
        "batch1000_server_cpu_ms",
    ] {
        let a = res.get(&("arsight", k)).cloned().map(median).unwrap_or(f64::NAN);
        let r = res.get(&("fastapi+lightgbm", k)).cloned().map(median).unwrap_or(f64::NAN);
        if a.is_nan() && r.is_nan() {
            continue; // not measured in this mode
        }
        println!("| {k} | {a:.3} | {r:.3} | {:.2} |", a / r);
    }
}
