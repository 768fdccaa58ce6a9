//! The embedded append-only event log (`<dir>/events.log`) and its group commit.
//!
//! One line per event: 16 hex digits of the SHA-256 of the JSON, a space, the event's
//! canonical JSON (with its `seq`), a newline. A line cut short by a crash (no newline
//! or a wrong checksum on the last line) is cut off when the log is opened; a damaged
//! line anywhere else is an error naming the line.
//!
//! [`Committer`] runs the writer on its own thread: it takes every request waiting,
//! checks ids and customers, writes all their lines in one `write`, syncs once
//! (when configured), and only then answers each request: the group shares one sync.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::{parse_event, Event, EventBody, FieldError, Refusal};
use crate::domain::Currency;
use crate::features::history::id_key;

/// File name of the log inside its directory.
pub const LOG_FILE: &str = "events.log";

/// Log failures.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// I/O.
    #[error("{path}: {reason}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        reason: String,
    },
    /// A damaged line before the end of the log.
    #[error("{path}, line {line}: {reason}")]
    Corrupt {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// What became of one posted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written at this sequence number.
    Accepted(u64),
    /// Its id was written before with the same content, at this sequence number.
    Duplicate(u64),
}

fn checksum(json: &str) -> String {
    Sha256::digest(json.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn line_of(e: &Event) -> String {
    let mut v = e.to_json();
    v["seq"] = e.seq.into();
    let json = v.to_string();
    format!("{} {json}\n", checksum(&json))
}

/// Reads the complete, valid lines of a log: the events and the byte length they
/// span. A damaged or unterminated last line is left out (a torn write).
fn read_lines(path: &Path) -> Result<(Vec<Event>, u64), LogError> {
    let io = |e: std::io::Error| LogError::Io { path: path.display().to_string(), reason: e.to_string() };
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(io(e)),
    };
    let mut r = BufReader::new(f);
    let mut events = Vec::new();
    let mut good = 0u64;
    let mut buf = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if let Some((l, reason)) = pending.take() {
            // A damaged line followed by more lines is not a torn tail.
            return Err(LogError::Corrupt { path: path.display().to_string(), line: l, reason });
        }
        if buf.last() != Some(&b'\n') {
            break; // unterminated: torn
        }
        let text = String::from_utf8_lossy(&buf[..buf.len() - 1]).into_owned();
        let parsed = text
            .split_once(' ')
            .filter(|(sum, json)| checksum(json) == *sum)
            .ok_or_else(|| "checksum mismatch".to_string())
            .and_then(|(_, json)| serde_json::from_str::<serde_json::Value>(json).map_err(|e| e.to_string()))
            .and_then(|v| {
                let seq = v.get("seq").and_then(serde_json::Value::as_u64).ok_or("no seq")?;
                let mut body = v;
                if let Some(o) = body.as_object_mut() {
                    o.remove("seq");
                }
                let mut e = parse_event(&body, "event", i32::MAX).map_err(|errs| {
                    errs.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; ")
                })?;
                e.seq = seq;
                Ok(e)
            });
        match parsed {
            Ok(e) => {
                events.push(e);
                good += n as u64;
            }
            Err(reason) => pending = Some((line_no, reason)),
        }
    }
    Ok((events, good))
}

/// Every complete event in the log of `dir`, in order (read-only; for rebuilds).
///
/// # Errors
/// [`LogError`].
pub fn read_all(dir: &Path) -> Result<Vec<Event>, LogError> {
    Ok(read_lines(&dir.join(LOG_FILE))?.0)
}

/// The open log.
pub struct EventLog {
    path: PathBuf,
    file: File,
    fsync: bool,
    ids: HashMap<String, (u64, u64)>,
    next_seq: u64,
}

impl EventLog {
    /// Opens (creating) the log in `dir`, cuts off a torn last line, and returns the
    /// events it holds.
    ///
    /// # Errors
    /// [`LogError`].
    pub fn open(dir: &Path, fsync: bool) -> Result<(EventLog, Vec<Event>), LogError> {
        let path = dir.join(LOG_FILE);
        let io = |e: std::io::Error| LogError::Io { path: path.display().to_string(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (events, good) = read_lines(&path)?;
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > good {
            tracing::warn!(path = %path.display(), cut = len - good, "event log: cutting off a torn last line");
            file.set_len(good).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let ids = events.iter().map(|e| (e.event_id.clone(), (e.content_hash(), e.seq))).collect();
        let next_seq = events.last().map_or(1, |e| e.seq + 1);
        Ok((EventLog { path, file, fsync, ids, next_seq }, events))
    }

    /// Appends the events that are new in one write and (when configured) one sync.
    /// An id seen before with the same content is a duplicate (not written again); with
    /// other content the whole batch is refused and nothing is written.
    ///
    /// # Errors
    /// A conflicting id (per event), or I/O.
    pub fn append(&mut self, batch: &mut [Event]) -> Result<Vec<Outcome>, CommitError> {
        let mut group = Group::default();
        let out = self.prepare(batch, &mut group).map_err(CommitError::Refused)?;
        self.write_group(group).map_err(|e| CommitError::Io(e.to_string()))?;
        Ok(out)
    }

    /// Assigns sequence numbers to the new events of `batch` and adds their lines to
    /// `group`; on a conflicting id nothing of `batch` is taken.
    fn prepare(&mut self, batch: &mut [Event], group: &mut Group) -> Result<Vec<Outcome>, Vec<FieldError>> {
        let mut out = Vec::with_capacity(batch.len());
        let mut fresh: HashMap<String, (u64, u64)> = HashMap::new();
        let mut conflicts = Vec::new();
        let mut seq = self.next_seq;
        let mut text = String::new();
        for (i, e) in batch.iter_mut().enumerate() {
            let h = e.content_hash();
            match fresh.get(&e.event_id).or_else(|| self.ids.get(&e.event_id)).copied() {
                Some((h0, s0)) if h0 == h => out.push(Outcome::Duplicate(s0)),
                Some(_) => conflicts.push(FieldError {
                    field: format!("events[{i}].event_id"),
                    reason: format!("'{}' was accepted before with other content", e.event_id),
                    kind: Refusal::Conflict,
                }),
                None => {
                    e.seq = seq;
                    seq += 1;
                    text.push_str(&line_of(e));
                    fresh.insert(e.event_id.clone(), (h, e.seq));
                    out.push(Outcome::Accepted(e.seq));
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        self.next_seq = seq;
        group.text.push_str(&text);
        group.ids.extend(fresh.keys().cloned());
        self.ids.extend(fresh);
        Ok(out)
    }

    /// Writes a prepared group; on failure the file and the id set are as before it.
    fn write_group(&mut self, group: Group) -> Result<(), LogError> {
        if group.text.is_empty() {
            return Ok(());
        }
        let io = |e: std::io::Error| LogError::Io { path: self.path.display().to_string(), reason: e.to_string() };
        let result = self.file.metadata().map(|m| m.len()).and_then(|len| {
            let w = self.file.write_all(group.text.as_bytes()).and_then(|()| {
                if self.fsync {
                    self.file.sync_data()
                } else {
                    Ok(())
                }
            });
            if w.is_err() {
                let _ = self.file.set_len(len);
            }
            w
        });
        if let Err(e) = result {
            let first = group.ids.iter().filter_map(|id| self.ids.get(id).map(|x| x.1)).min();
            for id in &group.ids {
                self.ids.remove(id);
            }
            if let Some(f) = first {
                self.next_seq = f;
            }
            return Err(io(e));
        }
        Ok(())
    }
}

/// Lines and ids prepared for one write.
#[derive(Default)]
struct Group {
    text: String,
    ids: Vec<String>,
}

/// One request waiting for the writer.
struct Job {
    events: Vec<Event>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Outcome>, CommitError>>,
}

/// What the writer is asked to do.
enum Work {
    Append(Job),
    /// Sync the file (shutdown with `fsync = never`), then answer.
    Flush(mpsc::Sender<()>),
}

/// Why a request's events were not written.
#[derive(Debug, Clone)]
pub enum CommitError {
    /// Invalid events (conflicting ids, unknown customers); nothing was written.
    Refused(Vec<FieldError>),
    /// The log could not be written; nothing of the request is kept.
    Io(String),
}

/// What the event writer checks references against: known customers, and which
/// customer each known invoice id belongs to (ids hashed to 64 bits to keep the map
/// small at millions of invoices).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Customer ids payments and activities may name.
    pub customers: HashSet<String>,
    /// Invoice id key → customer id key (see [`id_key`], the loader's stable id hash)
    /// and the invoice's currency.
    pub invoice_owner: HashMap<u64, (u64, Currency)>,
}

impl Known {
    /// Records that `invoice_id` is an invoice of `customer_id` in `currency`.
    pub fn add_invoice(&mut self, invoice_id: &str, customer_id: &str, currency: Currency) {
        self.invoice_owner.insert(id_key(invoice_id), (id_key(customer_id), currency));
    }

    /// The refusal for an event that names an invoice of another customer, or pays one
    /// in another currency than the invoice's.
    fn reference_conflict(&self, local: &HashMap<u64, (u64, Currency)>, i: usize, e: &Event) -> Option<FieldError> {
        let id = match &e.body {
            EventBody::Invoice { invoice_id, .. } => Some(invoice_id),
            EventBody::Payment { invoice_id, .. } | EventBody::Activity { invoice_id, .. } => invoice_id.as_ref(),
            EventBody::Customer { .. } => None,
        }?;
        let k = id_key(id);
        let &(owner, currency) = local.get(&k).or_else(|| self.invoice_owner.get(&k))?;
        if owner != id_key(&e.customer_id) {
            return Some(FieldError {
                field: format!("events[{i}].invoice_id"),
                reason: format!("'{id}' is an invoice of another customer, not of '{}'", e.customer_id),
                kind: Refusal::Conflict,
            });
        }
        match &e.body {
            EventBody::Payment { amount, .. } if amount.currency != currency => Some(FieldError {
                field: format!("events[{i}].currency"),
                reason: format!(
                    "{} differs from invoice '{id}' ({}): a payment is applied in its invoice's currency",
                    amount.currency.as_str(),
                    currency.as_str()
                ),
                kind: Refusal::Invalid,
            }),
            _ => None,
        }
    }
}

/// The group-commit writer: a thread owning the [`EventLog`].
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Work>,
}

impl Committer {
    /// Starts the writer. `known` holds the customers payments and activities may
    /// name and the owners of known invoice ids (both grow with the events written);
    /// `committed` receives every group of newly written events, in log order, after
    /// its sync.
    pub fn start(mut log: EventLog, mut known: Known, committed: mpsc::Sender<Vec<Event>>) -> Committer {
        let (tx, rx) = mpsc::channel::<Work>();
        std::thread::Builder::new()
            .name("arsight-events".into())
            .spawn(move || {
                let mut next = rx.recv().ok();
                while let Some(w) = next.take() {
                    let mut jobs = Vec::new();
                    let mut flush = None;
                    match w {
                        Work::Append(j) => jobs.push(j),
                        Work::Flush(done) => flush = Some(done),
                    }
                    // Take every request already waiting: they share one write and one sync.
                    while flush.is_none() && jobs.len() < 4096 {
                        match rx.try_recv() {
                            Ok(Work::Append(j)) => jobs.push(j),
                            Ok(Work::Flush(done)) => flush = Some(done),
                            Err(_) => break,
                        }
                    }
                    if !jobs.is_empty() {
                        commit_group(&mut log, &mut known, jobs, &committed);
                    }
                    if let Some(done) = flush {
                        if let Err(e) = log.file.sync_all() {
                            tracing::error!(error = %e, "event log: final sync failed");
                        }
                        let _ = done.send(());
                    }
                    next = rx.recv().ok();
                }
            })
            .expect("spawning the event writer");
        Committer { tx }
    }

    /// Writes `events` (durably, as configured) and answers per event.
    ///
    /// # Errors
    /// [`CommitError`].
    pub async fn submit(&self, events: Vec<Event>) -> Result<Vec<Outcome>, CommitError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Work::Append(Job { events, reply }))
            .map_err(|_| CommitError::Io("the event writer has stopped".into()))?;
        rx.await.map_err(|_| CommitError::Io("the event writer has stopped".into()))?
    }

    /// Blocking form of [`Self::submit`] (tools and tests).
    ///
    /// # Errors
    /// [`CommitError`].
    pub fn submit_blocking(&self, events: Vec<Event>) -> Result<Vec<Outcome>, CommitError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Work::Append(Job { events, reply }))
            .map_err(|_| CommitError::Io("the event writer has stopped".into()))?;
        rx.blocking_recv().map_err(|_| CommitError::Io("the event writer has stopped".into()))?
    }
}

impl Committer {
    /// Waits until everything written so far is synced to disk (graceful shutdown).
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Work::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
        }
    }
}

fn commit_group(log: &mut EventLog, known: &mut Known, jobs: Vec<Job>, committed: &mpsc::Sender<Vec<Event>>) {
    // Referential checks per request, in arrival order (an invoice event makes its
    // customer and invoice id known to the requests after it).
    let mut ok: Vec<Job> = Vec::with_capacity(jobs.len());
    for j in jobs {
        let mut local: HashSet<&str> = HashSet::new();
        let mut local_owner: HashMap<u64, (u64, Currency)> = HashMap::new();
        let mut errors = Vec::new();
        for (i, e) in j.events.iter().enumerate() {
            if let Some(conflict) = known.reference_conflict(&local_owner, i, e) {
                errors.push(conflict);
                continue;
            }
            match &e.body {
                EventBody::Invoice { invoice_id, amount, .. } => {
                    local.insert(&e.customer_id);
                    local_owner.insert(id_key(invoice_id), (id_key(&e.customer_id), amount.currency));
                }
                EventBody::Customer { .. } => {
                    local.insert(&e.customer_id);
                }
                _ if known.customers.contains(&e.customer_id) || local.contains(e.customer_id.as_str()) => {}
                _ => errors.push(FieldError {
                    field: format!("events[{i}].customer_id"),
                    reason: format!("no customer '{}'; send one of its invoices first", e.customer_id),
                    kind: Refusal::NotFound,
                }),
            }
        }
        if errors.is_empty() {
            ok.push(j);
        } else {
            let _ = j.reply.send(Err(CommitError::Refused(errors)));
        }
    }
    // One write and one sync for the whole group; a request with a conflicting id is
    // refused on its own.
    let mut group = Group::default();
    let mut prepared = Vec::with_capacity(ok.len());
    for mut j in ok {
        match log.prepare(&mut j.events, &mut group) {
            Ok(outcomes) => {
                for e in &j.events {
                    if let EventBody::Invoice { invoice_id, amount, .. } = &e.body {
                        known.add_invoice(invoice_id, &e.customer_id, amount.currency);
                    }
                    if matches!(e.body, EventBody::Invoice { .. } | EventBody::Customer { .. })
                        && !known.customers.contains(&e.customer_id)
                    {
                        known.customers.insert(e.customer_id.clone());
                    }
                }
                prepared.push((j, outcomes));
            }
            Err(conflicts) => {
                let _ = j.reply.send(Err(CommitError::Refused(conflicts)));
            }
        }
    }
    if let Err(e) = log.write_group(group) {
        for (j, _) in prepared {
            let _ = j.reply.send(Err(CommitError::Io(e.to_string())));
        }
        return;
    }
    let mut written: Vec<Event> = Vec::new();
    let mut answers = Vec::with_capacity(prepared.len());
    for (j, outcomes) in prepared {
        for (e, o) in j.events.into_iter().zip(&outcomes) {
            if matches!(o, Outcome::Accepted(_)) {
                written.push(e);
            }
        }
        answers.push((j.reply, Ok(outcomes)));
    }
    if !written.is_empty() {
        let _ = committed.send(written);
    }
    for (reply, a) in answers {
        let _ = reply.send(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invoice(id: &str, cust: &str, amount: i64) -> Event {
        let v = json!({"event_id": id, "type": "invoice", "invoice_id": format!("I-{id}"), "customer_id": cust,
            "invoice_date": "2024-07-01", "due_date": "2024-07-31", "amount": amount, "currency": "USD"});
        parse_event(&v, "e", i32::MAX).unwrap()
    }

    fn payment(id: &str, cust: &str) -> Event {
        let v = json!({"event_id": id, "type": "payment", "customer_id": cust, "payment_date": "2024-07-02",
            "amount": 1, "currency": "USD"});
        parse_event(&v, "e", i32::MAX).unwrap()
    }

    #[test]
    fn appended_events_come_back_on_reopen_and_ids_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, none) = EventLog::open(dir.path(), true).unwrap();
        assert!(none.is_empty());
        let out = log.append(&mut [invoice("a", "C", 10), invoice("b", "C", 20)]).unwrap();
        assert_eq!(out, vec![Outcome::Accepted(1), Outcome::Accepted(2)]);
        // A retry is a duplicate; the same id with other content is refused whole.
        assert_eq!(log.append(&mut [invoice("a", "C", 10)]).unwrap(), vec![Outcome::Duplicate(1)]);
        let e = log.append(&mut [invoice("c", "C", 1), invoice("b", "C", 99)]).unwrap_err();
        assert!(matches!(&e, CommitError::Refused(v) if v[0].field == "events[1].event_id"), "{e:?}");
        drop(log);
        let (mut log, events) = EventLog::open(dir.path(), true).unwrap();
        assert_eq!(events.iter().map(|e| (e.event_id.as_str(), e.seq)).collect::<Vec<_>>(), [("a", 1), ("b", 2)]);
        assert_eq!(events[1], {
            let mut b = invoice("b", "C", 20);
            b.seq = 2;
            b
        });
        assert_eq!(
            log.append(&mut [invoice("b", "C", 20), invoice("c", "C", 1)]).unwrap(),
            [Outcome::Duplicate(2), Outcome::Accepted(3)]
        );
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_a_damaged_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = EventLog::open(dir.path(), false).unwrap();
        log.append(&mut [invoice("a", "C", 10), invoice("b", "C", 20)]).unwrap();
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let full = std::fs::read(&path).unwrap();
        // Crash in the middle of the second line.
        std::fs::write(&path, &full[..full.len() - 7]).unwrap();
        let (mut log, events) = EventLog::open(dir.path(), false).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(log.append(&mut [invoice("b", "C", 20)]).unwrap(), [Outcome::Accepted(2)]);
        drop(log);
        assert_eq!(read_all(dir.path()).unwrap().len(), 2);
        // Flip a byte of the first line: not a torn tail, so an error naming line 1.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = EventLog::open(dir.path(), false).err().expect("damaged");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn an_invoice_id_of_another_customer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = EventLog::open(dir.path(), true).unwrap();
        let (tx, _rx) = mpsc::channel();
        let mut known = Known { customers: HashSet::from(["A".to_string(), "B".to_string()]), ..Known::default() };
        known.add_invoice("OPEN-1", "A", Currency::USD);
        let c = Committer::start(log, known, tx);
        let with_id = |id: &str, cust: &str, invoice_id: &str| {
            let mut e = invoice(id, cust, 10);
            if let EventBody::Invoice { invoice_id: i, .. } = &mut e.body {
                *i = invoice_id.to_string();
            }
            e
        };
        let conflict = |r: Result<Vec<Outcome>, CommitError>, field: &str| match r {
            Err(CommitError::Refused(v)) => {
                assert!(v.iter().any(|e| e.kind == Refusal::Conflict && e.field == field), "{v:?}")
            }
            other => panic!("{other:?}"),
        };
        // An open invoice of A sent as B's; A may change its own.
        conflict(c.submit_blocking(vec![with_id("1", "B", "OPEN-1")]), "events[0].invoice_id");
        c.submit_blocking(vec![with_id("2", "A", "OPEN-1")]).unwrap();
        // An invoice issued by an event belongs to its customer from then on, within
        // a request too; payments and activities may not name another's invoice.
        c.submit_blocking(vec![with_id("3", "B", "NEW-9")]).unwrap();
        conflict(c.submit_blocking(vec![with_id("4", "A", "NEW-9")]), "events[0].invoice_id");
        conflict(
            c.submit_blocking(vec![with_id("5", "A", "NEW-10"), with_id("6", "B", "NEW-10")]),
            "events[1].invoice_id",
        );
        let mut pay = payment("7", "A");
        if let EventBody::Payment { invoice_id, .. } = &mut pay.body {
            *invoice_id = Some("NEW-9".into());
        }
        conflict(c.submit_blocking(vec![pay]), "events[0].invoice_id");
        // A payment of an invoice is in the invoice's currency (OPEN-1 is in USD).
        let mut eur = payment("9", "A");
        if let EventBody::Payment { invoice_id, amount, .. } = &mut eur.body {
            *invoice_id = Some("OPEN-1".into());
            amount.currency = Currency::EUR;
        }
        match c.submit_blocking(vec![eur]) {
            Err(CommitError::Refused(v)) => {
                assert_eq!(v[0].field, "events[0].currency");
                assert_eq!(v[0].kind, Refusal::Invalid);
                assert!(v[0].reason.starts_with("EUR differs from invoice 'OPEN-1' (USD)"), "{}", v[0].reason);
            }
            other => panic!("{other:?}"),
        }
        // Refused requests wrote nothing: the next accepted event gets sequence 3.
        assert_eq!(c.submit_blocking(vec![with_id("8", "B", "NEW-10")]).unwrap(), [Outcome::Accepted(3)]);
    }

    #[test]
    fn the_committer_groups_requests_checks_customers_and_reports_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = EventLog::open(dir.path(), true).unwrap();
        let (tx, rx) = mpsc::channel();
        let c = Committer::start(log, Known { customers: HashSet::from(["K".to_string()]), ..Known::default() }, tx);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..50).map(|i| c.submit_blocking(vec![payment(&format!("{t}-{i}"), "K")]).unwrap()).count()
                })
            })
            .collect();
        assert_eq!(threads.into_iter().map(|t| t.join().unwrap()).sum::<usize>(), 400);
        // A payment of an unknown customer is refused, unless its invoice comes first.
        let e = c.submit_blocking(vec![payment("x", "NEW")]).unwrap_err();
        assert!(
            matches!(&e, CommitError::Refused(v) if v[0].kind == Refusal::NotFound && v[0].field == "events[0].customer_id")
        );
        c.submit_blocking(vec![invoice("y", "NEW", 5), payment("z", "NEW")]).unwrap();
        let written: usize = rx.try_iter().map(|g| g.len()).sum();
        assert_eq!(written, 402);
        let seqs: Vec<u64> = read_all(dir.path()).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=402).collect::<Vec<_>>());
    }
}
