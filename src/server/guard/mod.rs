//! The HTTP/1.1 framing guard: every request head on a connection is parsed here first,
//! with the parser hyper uses (httparse, same limits) and toolgate's stricter framing rules,
//! before hyper sees a byte of it. hyper answers what its parser refuses with a bare status
//! line (no body, no request id, no audit record, no metric), so a refused head never
//! reaches hyper: in its place hyper reads a request the guard writes (`Hooks::refused`),
//! which names the refusal by a per-connection secret and asks to close the connection. The
//! service answers it like any refusal (rendered, audited and counted by
//! [`crate::proxy::refuse_unparsed`]), in order after the good requests before it, and no
//! byte after the refused head is ever read.
//!
//! To know where each head starts the guard follows body framing exactly as hyper frames it
//! (Transfer-Encoding `chunked` first, else Content-Length, else none). A chunk-syntax error
//! inside a body is hyper's to report (the request is already being served): the guard
//! then hands hyper a read error, never the bytes after it.

use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::io::poll_read_buf;

mod chunked;
mod target;
use chunked::{step_chunked, Chunk};

pub use crate::proxy::refusal::{Framing, RefusedHead, MAX_HEADER_FIELDS};

/// hyper's limit on a request target (`MAX_URI_LEN`); longer is 414.
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 8 * 1024;

/// Where the byte stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunk),
    /// A head was refused or a chunk was malformed: hyper gets nothing more (reads stay
    /// pending: the request in its place asked to close, so hyper never waits on one).
    Closed,
}

/// The guard's verdict on the bytes it holds.
enum Scan {
    /// More bytes are needed to judge what follows `ok`.
    More,
    Refused(Framing, RefusedHead),
    /// A chunk-syntax error in a body hyper is already reading.
    BadBody(&'static str),
}

/// What the guard reports to the connection that owns it.
pub trait Hooks: Unpin {
    /// A head was refused: the request head hyper reads in its place (one that asks to
    /// close the connection, and that the service can tell from any a client could send).
    /// Called at most once.
    fn refused(&mut self, why: Framing, head: RefusedHead) -> bytes::Bytes;
    /// The peer closed part-way through a head (nothing to answer or audit).
    fn left_mid_head(&mut self);
    /// A chunked body broke its framing: hyper reads an error in its place.
    fn bad_chunk(&mut self);
    /// Part of a head has arrived (`true`), or the head is complete (`false`): a
    /// header-read timeout is a slow client only while a head is under way.
    fn mid_head(&mut self, partial: bool);
}

/// An HTTP/1.1 server connection's I/O with the guard in its read path and the refusal
/// written on close.
pub struct Guard<I, H> {
    inner: I,
    /// Read from the socket, not yet handed to hyper; `buf[..ok]` is judged good.
    buf: BytesMut,
    ok: usize,
    state: State,
    max_head: usize,
    /// Bytes of chunk extensions and trailers seen in the current body.
    meta: usize,
    /// Set once the peer closed its side.
    eof: bool,
    /// A body-framing error to hand hyper once the good bytes before it are read.
    error: Option<&'static str>,
    hooks: H,
    /// What was last reported through `Hooks::mid_head`.
    partial: bool,
}

impl<I, H: Hooks> Guard<I, H> {
    pub fn new(inner: I, max_head: usize, hooks: H) -> Self {
        Guard {
            inner,
            buf: BytesMut::new(),
            ok: 0,
            state: State::Head,
            max_head,
            meta: 0,
            eof: false,
            error: None,
            hooks,
            partial: false,
        }
    }

    /// Judges the unjudged bytes `buf[ok..]`, moving `ok` forward over what is good.
    fn scan(&mut self) -> Scan {
        loop {
            let rest = &self.buf[self.ok..];
            if rest.is_empty() {
                return Scan::More;
            }
            match self.state {
                State::Closed => return Scan::More,
                State::Head => match judge_head(rest, self.max_head) {
                    HeadVerdict::Partial => {
                        self.report_partial(true);
                        return Scan::More;
                    }
                    HeadVerdict::Refused(why, head) => return Scan::Refused(why, head),
                    HeadVerdict::Good { len, body } => {
                        self.report_partial(false);
                        self.ok += len;
                        self.meta = 0;
                        self.state = body;
                    }
                },
                State::Length(n) => {
                    let take = n.min(rest.len() as u64);
                    self.ok += take as usize;
                    self.state = match n - take {
                        0 => State::Head,
                        left => State::Length(left),
                    };
                }
                State::Chunked(c) => {
                    let (used, next) = match step_chunked(c, rest, &mut self.meta) {
                        Ok(step) => step,
                        Err((good, why)) => {
                            self.ok += good;
                            return Scan::BadBody(why);
                        }
                    };
                    self.ok += used;
                    self.state = next.map_or(State::Head, State::Chunked);
                }
            }
        }
    }

    fn report_partial(&mut self, partial: bool) {
        if self.partial != partial {
            self.partial = partial;
            self.hooks.mid_head(partial);
        }
    }

    /// Ends the stream for hyper at `ok`, rendering the refusal to write on close.
    fn refuse(&mut self, why: Framing, head: RefusedHead) {
        self.state = State::Closed;
        self.buf.truncate(self.ok);
        let stand_in = self.hooks.refused(why, head);
        self.buf.extend_from_slice(&stand_in);
        self.ok += stand_in.len();
    }
}

impl<I: AsyncRead + Unpin, H: Hooks> AsyncRead for Guard<I, H> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.ok > 0 {
                let n = this.ok.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ok -= n;
                return Poll::Ready(Ok(()));
            }
            if let Some(why) = this.error.take() {
                this.state = State::Closed;
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
            }
            if this.state == State::Closed {
                // hyper reads here only to watch for EOF while it answers the stand-in;
                // an EOF would make it drop that answer.
                return Poll::Pending;
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match this.scan() {
                Scan::Refused(why, head) => {
                    this.refuse(why, head);
                    continue;
                }
                Scan::BadBody(why) => {
                    this.hooks.bad_chunk();
                    this.error = Some(why);
                    this.buf.truncate(this.ok);
                    continue;
                }
                Scan::More if this.ok > 0 => continue,
                Scan::More => {}
            }
            // Nothing good to hand over: read more.
            let held = this.buf.len();
            this.buf.reserve(READ_CHUNK);
            let n = ready!(poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buf))?;
            if n == 0 {
                this.eof = true;
                if held > this.ok && this.state == State::Head {
                    this.hooks.left_mid_head();
                }
                // Unjudged bytes at EOF were never complete: hyper sees a clean end.
                this.buf.truncate(this.ok);
            }
        }
    }
}

impl<I: AsyncWrite + Unpin, H: Unpin> AsyncWrite for Guard<I, H> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

enum HeadVerdict {
    Partial,
    Good { len: usize, body: State },
    Refused(Framing, RefusedHead),
}

/// Parses one request head at the start of `bytes` as hyper will, then applies toolgate's
/// framing rules.
fn judge_head(bytes: &[u8], max_head: usize) -> HeadVerdict {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let seen = |req: &httparse::Request<'_, '_>| RefusedHead {
        method: req.method.map(str::to_owned),
        target: req.path.map(str::to_owned),
    };
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Partial) if bytes.len() > max_head => {
            return HeadVerdict::Refused(Framing::TooLarge(max_head), seen(&req))
        }
        Ok(httparse::Status::Partial) => return HeadVerdict::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return HeadVerdict::Refused(Framing::TooLarge(max_head), seen(&req))
        }
        Err(e) => return HeadVerdict::Refused(Framing::Malformed(reason(e)), seen(&req)),
        Ok(httparse::Status::Complete(len)) => len,
    };
    // What was seen is copied out only for a refusal: a good head costs no allocation.
    let refuse = |why| HeadVerdict::Refused(why, seen(&req));
    if len > max_head {
        return refuse(Framing::TooLarge(max_head));
    }
    let target = req.path.unwrap_or_default();
    if target.len() > MAX_URI_LEN {
        return refuse(Framing::UriTooLong);
    }
    if http::Method::from_bytes(req.method.unwrap_or_default().as_bytes()).is_err() {
        return refuse(Framing::Malformed("invalid method"));
    }
    if !target::plain_origin_form(target) && http::Uri::try_from(target).is_err() {
        return refuse(Framing::Malformed("invalid request target"));
    }
    let http10 = req.version == Some(0);
    match framing(req.headers, http10) {
        Ok(body) => HeadVerdict::Good { len, body },
        Err(why) => refuse(why),
    }
}

/// How the body after a head is framed, by hyper's rule (chunked Transfer-Encoding wins
/// over Content-Length), refusing what hyper would frame but an upstream might not.
fn framing(fields: &[httparse::Header<'_>], http10: bool) -> Result<State, Framing> {
    let mut chunked = 0;
    let mut te = false;
    let mut length: Option<u64> = None;
    for f in fields {
        if f.name.eq_ignore_ascii_case("transfer-encoding") {
            if http10 {
                return Err(Framing::Ambiguous(
                    "Transfer-Encoding on an HTTP/1.0 request",
                ));
            }
            te = true;
            let text = std::str::from_utf8(f.value)
                .map_err(|_| Framing::Ambiguous("Transfer-Encoding is not text"))?;
            for coding in text.split(',') {
                let coding = coding.trim_matches([' ', '\t']);
                if coding.is_empty() {
                    return Err(Framing::Ambiguous("an empty transfer coding"));
                }
                if !coding.eq_ignore_ascii_case("chunked") {
                    return Err(Framing::UnknownCoding(coding.to_owned()));
                }
                chunked += 1;
            }
        } else if f.name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return Err(Framing::Ambiguous("Content-Length is repeated"));
            }
            let digits = f.value;
            if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(Framing::Ambiguous(
                    "Content-Length is not one decimal number",
                ));
            }
            // At most 19 digits: fits a u64.
            let n = digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            length = Some(n);
        }
    }
    match (te, chunked, length) {
        (true, 1, _) => Ok(State::Chunked(Chunk::Size { digits: 0, size: 0 })),
        (true, _, _) => Err(Framing::Ambiguous("chunked is not the one transfer coding")),
        (false, _, Some(0) | None) => Ok(State::Head),
        (false, _, Some(n)) => Ok(State::Length(n)),
    }
}

fn reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header field name",
        httparse::Error::HeaderValue => {
            "invalid header field value (obs-fold, bare CR or a control byte)"
        }
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "not HTTP/1.0 or HTTP/1.1",
    }
}

#[cfg(test)]
mod tests;
