//! Chunked transfer coding (RFC 9112 §7.1), followed byte by byte as hyper will decode it:
//! where a chunked body ends, so the framing guard knows where the next head starts.

/// Bytes of chunk extensions or trailer fields one body may carry.
pub(super) const MAX_CHUNK_META: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    Size {
        digits: u8,
        size: u64,
    },
    /// Blanks after the size, before `;` or CR.
    SizeBlank {
        size: u64,
    },
    Ext {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
}

/// Advances a chunked body over `bytes`: how many bytes belong to it, and the state after
/// them (`None`: the body ended there). An error says how many bytes were good before it.
pub(super) fn step_chunked(
    c: Chunk,
    bytes: &[u8],
    meta: &mut usize,
) -> Result<(usize, Option<Chunk>), (usize, &'static str)> {
    let mut i = 0;
    step_chunked_from(c, bytes, meta, &mut i).map_err(|why| (i.saturating_sub(1), why))
}

fn step_chunked_from(
    mut c: Chunk,
    bytes: &[u8],
    meta: &mut usize,
    at: &mut usize,
) -> Result<(usize, Option<Chunk>), &'static str> {
    let i = at;
    while *i < bytes.len() {
        if let Chunk::Data(n) = c {
            let take = n.min((bytes.len() - *i) as u64);
            *i += take as usize;
            c = if take == n {
                Chunk::DataCr
            } else {
                Chunk::Data(n - take)
            };
            continue;
        }
        let b = bytes[*i];
        *i += 1;
        c = match c {
            Chunk::Size { digits, size } => match (b as char).to_digit(16) {
                Some(d) if digits < 16 => Chunk::Size {
                    digits: digits + 1,
                    size: size * 16 + u64::from(d),
                },
                Some(_) => return Err("chunk size overflows"),
                None if digits == 0 => return Err("chunk size is not hexadecimal"),
                None => match b {
                    b' ' | b'\t' => Chunk::SizeBlank { size },
                    b';' => Chunk::Ext { size },
                    b'\r' => Chunk::SizeLf { size },
                    _ => return Err("invalid byte after the chunk size"),
                },
            },
            Chunk::SizeBlank { size } => match b {
                b' ' | b'\t' => Chunk::SizeBlank { size },
                b';' => Chunk::Ext { size },
                b'\r' => Chunk::SizeLf { size },
                _ => return Err("invalid byte after the chunk size"),
            },
            Chunk::Ext { size } => {
                *meta += 1;
                match b {
                    _ if *meta > MAX_CHUNK_META => return Err("chunk extensions too long"),
                    b'\r' => Chunk::SizeLf { size },
                    b'\n' => return Err("bare LF in a chunk extension"),
                    _ => Chunk::Ext { size },
                }
            }
            Chunk::SizeLf { size } => match (b, size) {
                (b'\n', 0) => Chunk::TrailerStart,
                (b'\n', n) => Chunk::Data(n),
                _ => return Err("chunk size line does not end in CRLF"),
            },
            Chunk::Data(_) => unreachable!("handled above"),
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                _ => return Err("chunk data does not end in CRLF"),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size { digits: 0, size: 0 },
                _ => return Err("chunk data does not end in CRLF"),
            },
            Chunk::TrailerStart => match b {
                b'\r' => Chunk::EndLf,
                _ => Chunk::Trailer,
            },
            Chunk::Trailer => {
                *meta += 1;
                match b {
                    _ if *meta > MAX_CHUNK_META => return Err("trailer fields too long"),
                    b'\r' => Chunk::TrailerLf,
                    b'\n' => return Err("bare LF in a trailer field"),
                    _ => Chunk::Trailer,
                }
            }
            Chunk::TrailerLf => match b {
                b'\n' => Chunk::TrailerStart,
                _ => return Err("trailer field does not end in CRLF"),
            },
            Chunk::EndLf => match b {
                b'\n' => return Ok((*i, None)),
                _ => return Err("chunked body does not end in CRLF"),
            },
        };
    }
    Ok((*i, Some(c)))
}
