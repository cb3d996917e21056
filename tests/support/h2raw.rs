//! A raw HTTP/2 (prior knowledge) client for malformed requests: HPACK literals written
//! by hand, so nothing "fixes" the fields on the way out (client libraries refuse to send
//! connection-specific headers, upper-case names or misplaced pseudo-headers).

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the server did with stream 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Outcome {
    /// A response head with this status (0 when it could not be decoded).
    Status(u16),
    /// RST_STREAM with this error code (1: PROTOCOL_ERROR).
    Reset(u32),
    /// GOAWAY with this error code, before any answer on stream 1.
    GoAway(u32),
    /// The connection closed before any answer.
    Closed,
    /// Nothing within the time limit.
    Silent,
}

impl H2Outcome {
    /// Refused without a response: reset, GOAWAY, closed, or a 4xx.
    pub fn refused(&self) -> bool {
        match self {
            H2Outcome::Status(s) => (400..500).contains(s),
            H2Outcome::Reset(_) | H2Outcome::GoAway(_) | H2Outcome::Closed => true,
            H2Outcome::Silent => false,
        }
    }
}

fn int(out: &mut Vec<u8>, prefix_bits: u8, flags: u8, mut v: usize) {
    let max = (1usize << prefix_bits) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// An HPACK block of "literal without indexing, new name" fields, not Huffman-coded.
pub fn hpack(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0);
        int(&mut out, 7, 0, name.len());
        out.extend_from_slice(name);
        int(&mut out, 7, 0, value.len());
        out.extend_from_slice(value);
    }
    out
}

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// RFC 7541 Appendix B codes of the ten digits: (code, bit length).
const DIGITS: [(u32, u32); 10] = [
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
];

/// Decodes a Huffman-coded string of digits (all a status holds).
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u32> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| u32::from((b >> i) & 1)))
        .collect();
    let mut out = String::new();
    let mut pos = 0;
    'outer: while pos < bits.len() {
        for (digit, (code, len)) in DIGITS.iter().enumerate() {
            let len = *len as usize;
            if pos + len > bits.len() {
                continue;
            }
            let v = bits[pos..pos + len].iter().fold(0, |a, b| a << 1 | b);
            if v == *code {
                out.push(char::from(b'0' + digit as u8));
                pos += len;
                continue 'outer;
            }
        }
        // Padding: the remaining bits are all ones (an EOS prefix).
        return bits[pos..].iter().all(|b| *b == 1).then_some(out);
    }
    Some(out)
}

fn read_int(block: &[u8], pos: &mut usize, prefix_bits: u8) -> Option<usize> {
    let max = (1usize << prefix_bits) - 1;
    let mut v = usize::from(*block.get(*pos)?) & max;
    *pos += 1;
    if v < max {
        return Some(v);
    }
    let mut shift = 0;
    loop {
        let b = *block.get(*pos)?;
        *pos += 1;
        v += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
}

/// The `:status` of a response header block (it comes first, before any dynamic entry).
fn status(block: &[u8]) -> u16 {
    let Some(&first) = block.first() else {
        return 0;
    };
    const STATIC: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
    let mut pos = 0;
    if first & 0x80 != 0 {
        let idx = read_int(block, &mut pos, 7).unwrap_or(0);
        return idx
            .checked_sub(8)
            .and_then(|i| STATIC.get(i))
            .copied()
            .unwrap_or(0);
    }
    let prefix = if first & 0x40 != 0 { 6 } else { 4 };
    if read_int(block, &mut pos, prefix).is_none() {
        return 0;
    }
    let Some(&h) = block.get(pos) else { return 0 };
    let Some(len) = read_int(block, &mut pos, 7) else {
        return 0;
    };
    let Some(raw) = block.get(pos..pos + len) else {
        return 0;
    };
    let text = if h & 0x80 != 0 {
        huffman_digits(raw)
    } else {
        String::from_utf8(raw.to_vec()).ok()
    };
    text.and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// Opens an h2c connection, sends one request on stream 1 (`fields` as given, then `data`
/// if any) and reports what came back.
pub async fn h2_request(
    addr: SocketAddr,
    fields: &[(&[u8], &[u8])],
    data: Option<&[u8]>,
) -> H2Outcome {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    let end_stream = if data.is_none() { 0x1 } else { 0 };
    out.extend(frame(1, 0x4 | end_stream, 1, &hpack(fields)));
    if let Some(d) = data {
        out.extend(frame(0, 0x1, 1, d));
    }
    if s.write_all(&out).await.is_err() {
        return H2Outcome::Closed;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            match (kind, stream) {
                (1, 1) => return H2Outcome::Status(status(&payload)),
                (3, 1) if payload.len() >= 4 => {
                    return H2Outcome::Reset(u32::from_be_bytes([
                        payload[0], payload[1], payload[2], payload[3],
                    ]))
                }
                (7, _) if payload.len() >= 8 => {
                    return H2Outcome::GoAway(u32::from_be_bytes([
                        payload[4], payload[5], payload[6], payload[7],
                    ]))
                }
                (4, 0) if flags & 1 == 0 => {
                    let _ = s.write_all(&frame(4, 1, 0, &[])).await;
                }
                _ => {}
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => return H2Outcome::Silent,
            Ok(Ok(0)) | Ok(Err(_)) => return H2Outcome::Closed,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
