//! Protocol detection on a fresh connection: read until the bytes either diverge from the
//! HTTP/2 connection preface (HTTP/1.1) or complete it (h2 with prior knowledge), under the
//! caller's deadline, then replay what was read. hyper-util's auto-detection waits for
//! those bytes without a deadline, which would let an idle socket hold a connection slot.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// Reads the first bytes of `io` and decides the protocol. `Ok(None)` when the peer closed
/// without sending a byte. The bytes read are returned to be replayed.
pub async fn sniff<I: AsyncRead + Unpin>(io: &mut I) -> io::Result<Option<(Protocol, Vec<u8>)>> {
    let mut buf = vec![0u8; H2_PREFACE.len()];
    let mut filled = 0;
    while filled < buf.len() {
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            break;
        }
        if buf[filled..filled + n] != H2_PREFACE[filled..filled + n] {
            filled += n;
            buf.truncate(filled);
            return Ok(Some((Protocol::Http1, buf)));
        }
        filled += n;
    }
    buf.truncate(filled);
    let proto = if filled == H2_PREFACE.len() {
        Protocol::Http2
    } else {
        Protocol::Http1
    };
    Ok(Some((proto, buf)))
}

/// An I/O stream that first yields `prefix`, then reads from `inner`.
pub struct Prefixed<I> {
    prefix: Vec<u8>,
    pos: usize,
    inner: I,
}

impl<I> Prefixed<I> {
    pub fn new(prefix: Vec<u8>, inner: I) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let rest = &this.prefix[this.pos..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn detect(chunks: &[&[u8]]) -> Option<(Protocol, Vec<u8>)> {
        let mut b = tokio_test_reader(chunks);
        sniff(&mut b).await.unwrap()
    }

    fn tokio_test_reader(chunks: &[&[u8]]) -> impl AsyncRead + Unpin {
        let all: Vec<u8> = chunks.concat();
        std::io::Cursor::new(all)
    }

    #[tokio::test]
    async fn tells_h1_from_the_h2_preface() {
        assert_eq!(detect(&[]).await, None);
        let (p, b) = detect(&[b"GET / HTTP/1.1\r\n\r\n"]).await.unwrap();
        assert_eq!((p, b.len()), (Protocol::Http1, 18));
        let (p, _) = detect(&[b"PRI * HTTP/1.1\r\n"]).await.unwrap();
        assert_eq!(p, Protocol::Http1);
        let (p, b) = detect(&[H2_PREFACE, b"more"]).await.unwrap();
        assert_eq!((p, b.as_slice()), (Protocol::Http2, &H2_PREFACE[..]));
        let (p, _) = detect(&[b"PRI"]).await.unwrap();
        assert_eq!(p, Protocol::Http1);
    }

    #[tokio::test]
    async fn replays_the_prefix_then_the_rest() {
        let mut io = Prefixed::new(b"abc".to_vec(), std::io::Cursor::new(b"def".to_vec()));
        let mut out = String::new();
        io.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "abcdef");
    }
}
