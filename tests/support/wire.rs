//! The bypass suites' harness: raw request bytes in, every response read off the socket
//! (interim `100 Continue` included), and the recording-upstream invariant checked per case:
//! a refused request reaches the upstream not at all; an allowed one reaches it exactly
//! once, with the normalized target, the method and `Host` evaluated, byte-identical copies
//! of the headers the bundle reads, the body evaluated, and toolgate's own forwarding
//! headers in place of any the client sent.

use super::{Gate, Seen, Upstream};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use toolgate::audit::{AuditRecord, FinalAction};
use toolgate::policy::Verdict;

/// How long a raw exchange may take before the test gives up reading.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// Compares an audit record with the outcome: a refusal is recorded as stopped, with no
/// upstream status; a forwarded request is recorded with the route, method, normalized
/// path and context the upstream received.
fn check_audit(rec: &AuditRecord, status: u16, forwarded: Option<&Seen>) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(seen) = forwarded else {
        if rec.final_runtime_action == FinalAction::Forwarded || rec.upstream_status.is_some() {
            bad.push(format!(
                "audit: refused, recorded as {:?} / upstream {:?}",
                rec.final_runtime_action, rec.upstream_status
            ));
        }
        return bad;
    };
    if rec.final_runtime_action != FinalAction::Forwarded || rec.upstream_status != Some(status) {
        bad.push(format!(
            "audit: forwarded, recorded as {:?} / upstream {:?}",
            rec.final_runtime_action, rec.upstream_status
        ));
    }
    if rec.verdict != Verdict::Allow || rec.route.is_none() {
        bad.push(format!(
            "audit: verdict {:?}, route {:?}",
            rec.verdict, rec.route
        ));
    }
    if rec.method.as_str() != seen.method {
        bad.push(format!(
            "audit: method {} vs upstream {}",
            rec.method, seen.method
        ));
    }
    let path = seen.target.split('?').next().unwrap_or_default();
    if &*rec.path != path {
        bad.push(format!("audit: path {:?} vs upstream {path:?}", rec.path));
    }
    for (header, field) in [
        ("x-environment", &rec.environment),
        ("x-actor", &rec.actor),
        ("x-actor-role", &rec.actor_role),
        ("x-approval-status", &rec.approval_status),
    ] {
        if let Some(v) = seen.header(header) {
            if !field
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(v.trim()))
            {
                bad.push(format!("audit: {header} {field:?} vs upstream {v:?}"));
            }
        }
    }
    bad
}

/// One HTTP/1.1 response as read off the socket.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What came back on one connection.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Every response, interim (1xx) ones included, in order.
    pub responses: Vec<RawResponse>,
    /// The server closed the connection (EOF or reset) before the read limit.
    pub closed: bool,
    /// Bytes after the last complete response (a response cut short, for one).
    pub rest: Vec<u8>,
}

impl Exchange {
    /// The final (non-1xx) responses.
    pub fn finals(&self) -> Vec<&RawResponse> {
        self.responses.iter().filter(|r| r.status >= 200).collect()
    }

    /// The first final status, 0 when there was none.
    pub fn status(&self) -> u16 {
        self.finals().first().map_or(0, |r| r.status)
    }

    pub fn interim(&self) -> Vec<u16> {
        self.responses
            .iter()
            .filter(|r| r.status < 200)
            .map(|r| r.status)
            .collect()
    }
}

/// Parses one response at the start of `buf`: `Some((response, bytes used))` when complete.
/// `head_only`: the response answers a HEAD request (no body whatever its length says).
fn parse_one(buf: &[u8], head_only: bool, eof: bool) -> Option<(RawResponse, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let start = end + 4;
    let mut resp = RawResponse {
        status,
        headers: headers.clone(),
        body: Vec::new(),
    };
    if head_only || status < 200 || status == 204 || status == 304 {
        return Some((resp, start));
    }
    if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        let body = buf.get(start..start + len)?;
        resp.body = body.to_vec();
        return Some((resp, start + len));
    }
    if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut pos = start;
        loop {
            let line_end = pos + buf[pos..].windows(2).position(|w| w == b"\r\n")?;
            let size_text = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                // Trailers end with an empty line.
                let t = buf[pos..].windows(2).position(|w| w == b"\r\n")?;
                return Some((resp, pos + t + 2));
            }
            resp.body.extend_from_slice(buf.get(pos..pos + size)?);
            pos += size + 2;
            if pos > buf.len() {
                return None;
            }
        }
    }
    // Delimited by close.
    if eof {
        resp.body = buf[start..].to_vec();
        return Some((resp, buf.len()));
    }
    None
}

/// Writes `bytes` on a fresh connection to `addr`, then reads until `finals` final responses
/// have arrived, the server closes, or the read limit passes. `head`: the first request is
/// a HEAD (its response carries no body).
pub async fn exchange(addr: SocketAddr, bytes: &[u8], finals: usize, head: bool) -> Exchange {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // A server may answer and close before it has read everything; that is not an error.
    let _ = s.write_all(bytes).await;
    read_exchange(&mut s, finals, head).await
}

/// Reads responses from an open connection; see [`exchange`].
pub async fn read_exchange(s: &mut TcpStream, finals: usize, head: bool) -> Exchange {
    let mut out = Exchange::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + READ_LIMIT;
    let mut eof = false;
    loop {
        // Parse whatever is complete.
        loop {
            let head_only = head && out.responses.iter().all(|r| r.status < 200);
            match parse_one(&buf, head_only, eof) {
                Some((r, used)) => {
                    out.responses.push(r);
                    buf.drain(..used);
                }
                None => break,
            }
            if out.finals().len() >= finals {
                out.rest = buf;
                return out;
            }
        }
        if eof {
            out.closed = true;
            out.rest = buf;
            return out;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => {
                out.rest = buf;
                return out;
            }
            Ok(Ok(0)) | Ok(Err(_)) => eof = true,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A request head built line by line: `Host: t` and `Connection: close` unless given,
/// `Content-Length` for a body unless a framing header is given.
pub fn req(line: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let has = |n: &str| {
        headers.iter().any(|h| {
            h.split(':')
                .next()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case(n))
        })
    };
    let mut text = format!("{line}\r\n");
    if !has("host") {
        text.push_str("Host: t\r\n");
    }
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    if !has("connection") {
        text.push_str("Connection: close\r\n");
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}

/// What the upstream must have received for an allowed request.
#[derive(Clone, Debug)]
pub struct Fwd {
    pub method: String,
    /// Normalized path and raw query, exactly.
    pub target: String,
    /// The `Host` the upstream must see.
    pub host: String,
    /// Headers the bundle read: name and the exact value the upstream must get, once.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body bytes evaluated (and forwarded).
    pub body: Vec<u8>,
}

/// The expected outcome of one case.
#[derive(Clone, Debug)]
pub enum Want {
    /// Refused with this status; the upstream receives nothing.
    Refused(u16),
    /// Forwarded; the client gets this (upstream's) status.
    Forwarded(u16, Fwd),
}

/// One row of a bypass table: raw bytes and the expected outcome.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    pub want: Want,
    /// Also require this `x-toolgate-verdict` on the response.
    pub verdict: Option<&'static str>,
    /// The first request is HEAD.
    pub head: bool,
}

impl Case {
    /// A refused request: `status`, and the upstream gets nothing.
    pub fn refused(name: impl Into<String>, bytes: Vec<u8>, status: u16) -> Case {
        Case {
            name: name.into(),
            head: bytes.starts_with(b"HEAD "),
            bytes,
            want: Want::Refused(status),
            verdict: None,
        }
    }

    /// An allowed request: 200 from the upstream, which received `method target` (with
    /// `Host: t`, no header checks yet and an empty body; see the builders).
    pub fn allowed(name: impl Into<String>, bytes: Vec<u8>, method: &str, target: &str) -> Case {
        Case {
            name: name.into(),
            head: bytes.starts_with(b"HEAD "),
            bytes,
            want: Want::Forwarded(
                200,
                Fwd {
                    method: method.into(),
                    target: target.into(),
                    host: "t".into(),
                    headers: Vec::new(),
                    body: Vec::new(),
                },
            ),
            verdict: Some("ALLOW"),
        }
    }

    fn fwd(&mut self) -> &mut Fwd {
        match &mut self.want {
            Want::Forwarded(_, f) => f,
            Want::Refused(_) => panic!("{}: not a forwarded case", self.name),
        }
    }

    /// The upstream must get this header, exactly this value, once.
    pub fn read(mut self, name: &str, value: impl AsRef<[u8]>) -> Case {
        self.fwd()
            .headers
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// The upstream must get this body.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Case {
        self.fwd().body = body.as_ref().to_vec();
        self
    }

    pub fn host(mut self, host: &str) -> Case {
        self.fwd().host = host.into();
        self
    }

    pub fn verdict(mut self, v: &'static str) -> Case {
        self.verdict = Some(v);
        self
    }
}

/// Headers no forwarded request may carry from the client: hop-by-hop fields, rewrite and
/// override requests, forwarding claims toolgate does not set.
const NEVER_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-remote-user",
    "remote-user",
    "x-authenticated-user",
    "x-forwarded-host",
    "x-forwarded-prefix",
    "x-forwarded-user",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "http2-settings",
    "x_forwarded_for",
    "x_forwarded_host",
    "x_real_ip",
    "x_remote_user",
    "x_toolgate_verdict",
    "x_request_id",
];

/// Checks what the upstream received for one allowed request against `want`.
pub fn check_forwarded(seen: &Seen, want: &Fwd) -> Vec<String> {
    let mut bad = Vec::new();
    if seen.method != want.method {
        bad.push(format!("method {:?}, want {:?}", seen.method, want.method));
    }
    if seen.target != want.target {
        bad.push(format!("target {:?}, want {:?}", seen.target, want.target));
    }
    let hosts: Vec<_> = seen.headers.get_all("host").iter().collect();
    if hosts.len() != 1 || hosts[0].as_bytes() != want.host.as_bytes() {
        bad.push(format!("host {hosts:?}, want {:?}", want.host));
    }
    for (name, value) in &want.headers {
        let got: Vec<&[u8]> = seen
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if got != [value.as_slice()] {
            bad.push(format!(
                "header {name}: {:?}, want exactly {:?}",
                got.iter()
                    .map(|v| String::from_utf8_lossy(v))
                    .collect::<Vec<_>>(),
                String::from_utf8_lossy(value)
            ));
        }
    }
    if seen.body != want.body {
        bad.push(format!("body {:?}, want {:?}", seen.body, want.body));
    }
    for name in NEVER_FORWARDED {
        if seen.headers.contains_key(*name) {
            bad.push(format!("forwarded {name}: {:?}", seen.headers.get(*name)));
        }
    }
    let one = |n: &str| -> Option<String> {
        let all: Vec<_> = seen.headers.get_all(n).iter().collect();
        (all.len() == 1).then(|| String::from_utf8_lossy(all[0].as_bytes()).into_owned())
    };
    if one("x-forwarded-for").as_deref() != Some("127.0.0.1") {
        bad.push(format!(
            "x-forwarded-for {:?}",
            seen.headers
                .get_all("x-forwarded-for")
                .iter()
                .collect::<Vec<_>>()
        ));
    }
    if one("forwarded").as_deref() != Some("for=127.0.0.1;proto=http") {
        bad.push(format!(
            "forwarded {:?}",
            seen.headers.get_all("forwarded").iter().collect::<Vec<_>>()
        ));
    }
    if one("x-toolgate-verdict").is_none() || one("x-request-id").is_none() {
        bad.push("x-toolgate-verdict / x-request-id not set once".into());
    }
    bad
}

/// Runs every case on its own connection; returns one line per failure (empty when all
/// pass). Each case must leave the upstream exactly as `want` says.
pub async fn run_cases(gate: &Gate, up: &Upstream, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let before = up.seen().len();
        let ex = exchange(gate.addr, &case.bytes, 1, case.head).await;
        let seen = up.seen();
        let new = &seen[before.min(seen.len())..];
        let mut bad = Vec::new();
        let status = ex.status();
        let resp = ex.finals().first().cloned().cloned();
        match &case.want {
            Want::Refused(want) => {
                if status != *want {
                    bad.push(format!("status {status}, want {want}"));
                }
                if !new.is_empty() {
                    bad.push(format!(
                        "upstream received {:?}",
                        new.iter()
                            .map(|s| format!("{} {}", s.method, s.target))
                            .collect::<Vec<_>>()
                    ));
                }
            }
            Want::Forwarded(want_status, fwd) => {
                if status != *want_status {
                    bad.push(format!("status {status}, want {want_status}"));
                }
                match new {
                    [one] => bad.extend(check_forwarded(one, fwd)),
                    _ => bad.push(format!("upstream received {} requests, want 1", new.len())),
                }
            }
        }
        // The audit record agrees with what the upstream received (or did not); every
        // response names one.
        match resp.as_ref().and_then(|r| r.header("x-request-id")) {
            None => bad.push("no x-request-id on the response".into()),
            Some(id) => {
                let forwarded = match (&case.want, new) {
                    (Want::Forwarded(..), [one]) => Some(one),
                    _ => None,
                };
                match gate.audit_record(id).await {
                    Some(rec) => bad.extend(check_audit(&rec, status, forwarded)),
                    None => bad.push(format!("no audit record for {id}")),
                }
            }
        }
        if let (Some(v), Some(r)) = (case.verdict, &resp) {
            if r.header("x-toolgate-verdict") != Some(v) {
                bad.push(format!(
                    "x-toolgate-verdict {:?}, want {v}",
                    r.header("x-toolgate-verdict")
                ));
            }
        }
        if !bad.is_empty() {
            let detail = resp
                .as_ref()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .unwrap_or_default();
            failures.push(format!(
                "[{}] {}\n      response body: {detail}",
                case.name,
                bad.join("; ")
            ));
        }
    }
    failures
}

/// Panics with every failing case, one per line.
pub fn assert_all(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
