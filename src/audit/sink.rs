//! The audit sink: the request path hands a record over with one non-blocking channel send;
//! ONE writer thread renders records to JSON lines (`AuditRecord::render`), writes them
//! buffered (flushing whenever the queue runs empty), and files them in the ring of recent
//! records.
//!
//! A record that cannot be queued (queue full, writer failed, sink closed) or written is
//! counted in `toolgate_audit_records_dropped_total` and logged with its request id: audit
//! loss is always visible, never silent.
//!
//! The writer is a thread, not a tokio task, because its work is blocking I/O (stdout, a
//! file) that must not stall the runtime's workers.

use super::ring::Ring;
use super::AuditRecord;
use prometheus::IntCounter;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};

/// How many recent records `recent` can find, unless configured otherwise.
pub const DEFAULT_RING_CAPACITY: usize = crate::config::DEFAULT_RECENT;
/// The writer's buffer: large enough to batch a burst into few `write` calls.
const WRITE_BUFFER: usize = 64 * 1024;
/// How long a busy writer lets records gather before it takes them (see `Writer::run`).
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// How a sink is sized, and where it counts what it drops.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Records queued between the request path and the writer; beyond it, records drop.
    pub capacity: usize,
    /// Recent records kept for lookup by request id.
    pub ring_capacity: usize,
    /// `toolgate_audit_records_dropped_total` (see `Metrics::audit_dropped`).
    pub dropped: IntCounter,
    /// Also hands each written line (request id, JSON) here, when there is room: the
    /// decision traces shared with the review inbox (`crate::state::traces`).
    pub tap: Option<mpsc::Sender<Trace>>,
}

/// A written record, for the review inbox's trace pages: its request id and JSON line.
pub type Trace = (Arc<str>, Box<str>);

impl AuditOptions {
    pub fn new(capacity: usize, dropped: IntCounter) -> AuditOptions {
        AuditOptions {
            capacity,
            ring_capacity: DEFAULT_RING_CAPACITY,
            dropped,
            tap: None,
        }
    }

    pub fn tap(mut self, tap: Option<mpsc::Sender<Trace>>) -> AuditOptions {
        self.tap = tap;
        self
    }

    pub fn ring_capacity(mut self, ring_capacity: usize) -> AuditOptions {
        self.ring_capacity = ring_capacity;
        self
    }
}

enum Msg {
    Record(Arc<AuditRecord>),
    /// A line of another shape (a review inbox action), already rendered.
    Line(Box<str>),
    /// Write out everything queued before this message, then acknowledge.
    Flush(oneshot::Sender<()>),
    /// Refuse new records, write out everything queued, then acknowledge.
    Close(oneshot::Sender<()>),
}

struct Shared {
    /// Set once a write fails; from then on records are dropped at the door.
    failed: AtomicBool,
    dropped: IntCounter,
    ring: Mutex<Ring>,
    /// When the sink was made; drop warnings are counted in whole seconds from it.
    started: std::time::Instant,
    /// 1 + the second of the last drop warning (0: none yet).
    warned: AtomicU64,
}

impl Shared {
    /// Counts a lost record, and warns at most once a second. Records drop when the
    /// destination is stalled or gone, and stderr often shares it (one log pipe per Pod):
    /// a synchronous line per request there would stall the request path it must not.
    fn drop_record(&self, request_id: &str, reason: &'static str) {
        self.dropped.inc();
        let second = self.started.elapsed().as_secs() + 1;
        if self.warned.swap(second, Ordering::Relaxed) != second {
            let dropped_total = self.dropped.get();
            tracing::warn!(request_id, reason, dropped_total, "audit records dropped");
        } else {
            tracing::debug!(request_id, reason, "audit record dropped");
        }
    }
}

/// Where audit records go. Share it behind an `Arc`; every method takes `&self`.
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

impl AuditSink {
    /// Writes JSON lines to standard output.
    pub fn stdout(opts: AuditOptions) -> io::Result<AuditSink> {
        AuditSink::writer(Box::new(io::stdout()), opts)
    }

    /// Appends JSON lines to the file at `path`, creating it if needed.
    pub fn file(path: &Path, opts: AuditOptions) -> io::Result<AuditSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        AuditSink::writer(Box::new(file), opts)
    }

    /// Writes JSON lines to any writer (tests, custom destinations).
    pub fn writer(out: Box<dyn Write + Send>, opts: AuditOptions) -> io::Result<AuditSink> {
        // tokio's bounded channel rejects 0; a zero-capacity sink would drop everything.
        let (tx, rx) = mpsc::channel(opts.capacity.max(1));
        let shared = Arc::new(Shared {
            failed: AtomicBool::new(false),
            dropped: opts.dropped,
            ring: Mutex::new(Ring::new(opts.ring_capacity)),
            started: std::time::Instant::now(),
            warned: AtomicU64::new(0),
        });
        let writer = Writer {
            out: BufWriter::with_capacity(WRITE_BUFFER, out),
            line: Vec::with_capacity(1024),
            unflushed: Vec::new(),
            shared: shared.clone(),
            tap: opts.tap,
        };
        std::thread::Builder::new()
            .name("toolgate-audit".into())
            .spawn(move || writer.run(rx))?;
        Ok(AuditSink { tx, shared })
    }

    /// Hands a record to the writer. Never blocks: when the queue is full, the writer has
    /// failed, or the sink is closed, the record is counted as dropped and logged.
    pub fn record(&self, rec: AuditRecord) {
        if self.shared.failed.load(Ordering::Relaxed) {
            self.shared.drop_record(&rec.request_id, "writer_failed");
            return;
        }
        match self.tx.try_send(Msg::Record(Arc::new(rec))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(Msg::Record(rec))) => {
                self.shared.drop_record(&rec.request_id, "queue_full")
            }
            Err(mpsc::error::TrySendError::Closed(Msg::Record(rec))) => {
                self.shared.drop_record(&rec.request_id, "closed")
            }
            Err(mpsc::error::TrySendError::Full(_) | mpsc::error::TrySendError::Closed(_)) => {
                unreachable!("only records are sent here")
            }
        }
    }

    /// Hands an already rendered JSON line (no newline) to the writer: an event that is not
    /// a request, such as a reviewer's decision. Never blocks; dropped and counted like a
    /// record when it cannot be queued.
    pub fn line(&self, id: &str, json: String) {
        if self.shared.failed.load(Ordering::Relaxed)
            || self.tx.try_send(Msg::Line(json.into())).is_err()
        {
            self.shared.drop_record(id, "queue_full");
        }
    }

    /// Waits until every record queued before this call is written and flushed (or counted
    /// as dropped). Returns at once if the sink is closed.
    pub async fn flush(&self) {
        self.barrier(Msg::Flush).await;
    }

    /// Refuses new records, then waits until every queued record is written and flushed.
    /// For shutdown, after connections have drained.
    pub async fn flush_and_close(&self) {
        self.barrier(Msg::Close).await;
    }

    async fn barrier(&self, msg: fn(oneshot::Sender<()>) -> Msg) {
        let (ack, done) = oneshot::channel();
        // Waiting for queue space is fine here: this is never on the request path.
        if self.tx.send(msg(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// The most recent record with this request id, if still in the ring. Records become
    /// visible once the writer has taken them from the queue.
    pub fn recent(&self, request_id: &str) -> Option<Arc<AuditRecord>> {
        let ring = self
            .shared
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ring.get(request_id)
    }

    /// Records dropped so far (the value of the dropped counter).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.get()
    }
}

struct Writer {
    out: BufWriter<Box<dyn Write + Send>>,
    /// One rendered line, reused; a record is rendered fully before any byte of it is
    /// written, so the destination only ever sees whole lines.
    line: Vec<u8>,
    /// Request ids written into the buffer but not yet flushed: if the flush fails, these
    /// are the records lost, and each is counted.
    unflushed: Vec<Arc<str>>,
    shared: Arc<Shared>,
    tap: Option<mpsc::Sender<Trace>>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        // Whether the last drain found anything: under load the writer wakes every LINGER
        // and takes what gathered, instead of being woken (a futex and a context switch on
        // the request path's core) for every record.
        let mut busy = false;
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => {
                    busy = true;
                    msg
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Push what we have to the destination before sleeping.
                    self.flush();
                    if std::mem::take(&mut busy) {
                        std::thread::sleep(LINGER);
                        continue;
                    }
                    // Idle: sleep until the next record.
                    match rx.blocking_recv() {
                        Some(msg) => {
                            // The first record after idling: let the next ones gather
                            // before waking again (else every record costs a wake-up).
                            busy = true;
                            msg
                        }
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            match msg {
                Msg::Record(rec) => self.write(rec),
                Msg::Line(line) => self.write_line(&line),
                Msg::Flush(ack) => {
                    self.flush();
                    let _ = ack.send(());
                }
                Msg::Close(ack) => {
                    rx.close();
                    // Drain what was queued before the close took effect.
                    while let Some(msg) = rx.blocking_recv() {
                        match msg {
                            Msg::Record(rec) => self.write(rec),
                            Msg::Line(line) => self.write_line(&line),
                            Msg::Flush(a) | Msg::Close(a) => {
                                let _ = a.send(());
                            }
                        }
                    }
                    self.flush();
                    tracing::debug!("audit sink closed");
                    let _ = ack.send(());
                    return;
                }
            }
        }
        self.flush();
    }

    fn write(&mut self, rec: Arc<AuditRecord>) {
        self.shared
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rec.clone());
        if self.shared.failed.load(Ordering::Relaxed) {
            self.shared.drop_record(&rec.request_id, "writer_failed");
            return;
        }
        self.line.clear();
        rec.render(&mut self.line);
        if let Some(tap) = &self.tap {
            // Best effort: a trace page may miss a record; the audit trail never does.
            let json = String::from_utf8_lossy(&self.line).into();
            let _ = tap.try_send((rec.request_id.clone(), json));
        }
        self.line.push(b'\n');
        self.unflushed.push(rec.request_id.clone());
        if let Err(e) = self.out.write_all(&self.line) {
            self.fail(e);
        }
    }

    fn write_line(&mut self, line: &str) {
        if self.shared.failed.load(Ordering::Relaxed) {
            return;
        }
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        match written {
            Ok(()) => self.unflushed.push("(review action)".into()),
            Err(e) => self.fail(e),
        }
    }

    fn flush(&mut self) {
        if self.unflushed.is_empty() {
            return;
        }
        match self.out.flush() {
            Ok(()) => self.unflushed.clear(),
            Err(e) => self.fail(e),
        }
    }

    /// A write failed: the buffered records are lost, and so is every later one.
    fn fail(&mut self, e: io::Error) {
        tracing::error!(error = %e, lost = self.unflushed.len(), "audit writer failed; dropping records from now on");
        self.shared.failed.store(true, Ordering::Relaxed);
        for id in self.unflushed.drain(..) {
            self.shared.drop_record(&id, "write_failed");
        }
    }
}
