//! A gzip body made while it is sent (stage 19): a reader that compresses its source a piece at
//! a time and hands out the compressed bytes already framed for the wire.
//!
//! The server never holds a whole file, compressed or not. The core streams any
//! [`Read`](std::io::Read) through its bounded pipes (`BodySource::Stream`): while the pipe
//! towards the client has room it asks for one more piece, and when the client stops reading the
//! pipe fills and the core stops asking. A [`GzipBody`] answers each request with at most
//! [`PIECE`] compressed bytes, and stops taking more of the source once it has taken
//! [`MAX_INPUT_PER_READ`] bytes for one piece, so one very compressible file (a megabyte of
//! spaces shrinks to a kilobyte) cannot keep the event loop busy for long either. (The compressor
//! itself may take a few megabytes of such input before it emits its first block; it reads them
//! through an 8 KiB buffer, so they cost time, not memory.) A source that has nothing to give yet
//! (a big folder's listing while it reads names answers `ErrorKind::Interrupted`) makes a read
//! with nothing compressed yet answer the same, so the core asks again on its next turn. Memory
//! per compressed response: zlib's window and tables (about 300 KiB at level 9) plus one piece.
//!
//! The compressed size is known only at the end, so the head cannot carry a `Content-Length`.
//! The body is framed instead:
//!
//! - HTTP/1.1: every piece becomes one chunk (`Transfer-Encoding: chunked`, see
//!   [`crate::http::chunked`]) and the last chunk ends the body; the connection can carry the next
//!   request afterwards (keep-alive in `expserver`).
//! - HTTP/1.0 knows no chunks: the pieces go out as they are and closing the connection ends the
//!   body.
//!
//! # Why flate2 with zlib-rs
//!
//! Compression is not the lesson, so it comes from a crate: `flate2`, the usual Rust interface to
//! DEFLATE and gzip, on its `zlib-rs` backend. zlib-rs is zlib written again in Rust: no C
//! compiler is needed to build it, memory safety is checked by the compiler outside a small,
//! reviewed core, its speed is on par with zlib-ng (the fastest C fork), and its output is
//! zlib's, the library behind nearly every gzip on the web. It was started by Prossimo (the
//! Internet Security Research Group's memory-safety project) and is maintained by the Trifecta
//! Tech Foundation. The workspace builds it optimised even in debug builds, so the tests do not
//! crawl.

use std::fmt;
use std::io::{self, Read};

use flate2::read::GzEncoder;
use flate2::Compression;

use crate::http::chunked;

/// The most compressed bytes one read produces (one chunk on HTTP/1.1).
pub const PIECE: usize = 64 * 1024;

/// A read stops taking more of the source once it has taken this many bytes, even if the piece
/// is not full yet (for very compressible input).
pub const MAX_INPUT_PER_READ: u64 = 1 << 20;

/// How the compressed bytes are framed (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipFraming {
    /// HTTP/1.1: `Transfer-Encoding: chunked`.
    Chunked,
    /// HTTP/1.0: unframed, ended by closing the connection.
    UntilClose,
}

/// A source, gzip-compressed and framed, readable a piece at a time.
pub struct GzipBody {
    encoder: GzEncoder<Counted<Box<dyn Read>>>,
    framing: GzipFraming,
    /// Framed bytes made and not yet handed out, from `at` on.
    ready: Vec<u8>,
    at: usize,
    /// Room for one piece of compressed bytes before framing.
    piece: Vec<u8>,
    /// The compressor has given its last byte (the gzip trailer).
    ended: bool,
}

impl GzipBody {
    /// Compress `source` at `level` (1-9; out-of-range values are clamped) with `framing`.
    pub fn new(source: Box<dyn Read>, level: u32, framing: GzipFraming) -> GzipBody {
        let level = Compression::new(level.clamp(1, 9));
        GzipBody {
            encoder: GzEncoder::new(Counted::new(source), level),
            framing,
            ready: Vec::new(),
            at: 0,
            piece: Vec::new(),
            ended: false,
        }
    }

    /// Make the next framed piece in `ready` (empty once everything has been made).
    fn refill(&mut self) -> io::Result<()> {
        self.ready.clear();
        self.at = 0;
        if self.ended {
            return Ok(());
        }
        self.piece.resize(PIECE, 0);
        let taken_before = self.encoder.get_ref().taken;
        let mut filled = 0;
        while filled < PIECE {
            let n = match self.encoder.read(&mut self.piece[filled..]) {
                Ok(n) => n,
                // The source has nothing this turn (a big folder's listing reading names): hand
                // out what is made, or, with nothing made, have the core ask again next turn.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    if filled == 0 {
                        return Err(error);
                    }
                    break;
                }
                Err(error) => return Err(error),
            };
            if n == 0 {
                self.ended = true;
                break;
            }
            filled += n;
            if self.encoder.get_ref().taken - taken_before >= MAX_INPUT_PER_READ {
                break;
            }
        }
        let piece = &self.piece[..filled];
        match self.framing {
            GzipFraming::Chunked => {
                // An empty piece writes nothing: only LAST_CHUNK may be a chunk of size zero.
                chunked::write_chunk(&mut self.ready, piece);
                if self.ended {
                    self.ready.extend_from_slice(chunked::LAST_CHUNK);
                }
            }
            GzipFraming::UntilClose => self.ready.extend_from_slice(piece),
        }
        Ok(())
    }
}

impl Read for GzipBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.at == self.ready.len() {
            self.refill()?;
        }
        let ready = &self.ready[self.at..];
        let n = ready.len().min(out.len());
        out[..n].copy_from_slice(&ready[..n]);
        self.at += n;
        Ok(n)
    }
}

impl fmt::Debug for GzipBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GzipBody")
            .field("framing", &self.framing)
            .field("taken", &self.encoder.get_ref().taken)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// A reader that counts the bytes taken from it.
struct Counted<R> {
    inner: R,
    taken: u64,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        Counted { inner, taken: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    /// Text that compresses like a real file (not to nothing).
    fn text(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 64);
        let mut n: u64 = 1;
        while out.len() < len {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.extend_from_slice(format!("line {} says {:x}\n", out.len(), n >> 40).as_bytes());
        }
        out.truncate(len);
        out
    }

    /// Read everything, in reads of `size` bytes, as the core does.
    fn drain(mut body: GzipBody, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0; size];
        loop {
            let n = body.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    /// Undo chunked framing strictly; the body must end exactly with the last chunk.
    fn dechunk(mut input: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let end = input.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&input[..end]).unwrap(), 16);
            let size = size.unwrap();
            input = &input[end + 2..];
            if size == 0 {
                assert_eq!(input, b"\r\n");
                return body;
            }
            assert!(size <= PIECE, "a chunk of {size} bytes");
            body.extend_from_slice(&input[..size]);
            assert_eq!(&input[size..size + 2], b"\r\n");
            input = &input[size + 2..];
        }
    }

    fn body(data: &[u8], level: u32, framing: GzipFraming) -> GzipBody {
        GzipBody::new(Box::new(io::Cursor::new(data.to_vec())), level, framing)
    }

    #[test]
    fn chunked_bodies_round_trip() {
        for len in [0, 1, 300, 70_000, 3 << 20] {
            let data = text(len);
            for read_size in [100_000, 7] {
                let wire = drain(body(&data, 6, GzipFraming::Chunked), read_size);
                assert_eq!(gunzip(&dechunk(&wire)), data, "{len} bytes");
            }
        }
    }

    #[test]
    fn unframed_bodies_are_plain_gzip() {
        let data = text(200_000);
        let wire = drain(body(&data, 1, GzipFraming::UntilClose), 100_000);
        assert_eq!(&wire[..2], [0x1f, 0x8b], "the gzip magic number");
        assert_eq!(gunzip(&wire), data);
        assert!(wire.len() < data.len() / 2, "{} bytes", wire.len());
    }

    #[test]
    fn higher_levels_are_not_bigger() {
        let data = text(500_000);
        let fast = drain(body(&data, 1, GzipFraming::UntilClose), 100_000).len();
        let small = drain(body(&data, 9, GzipFraming::UntilClose), 100_000).len();
        assert!(small <= fast, "level 9: {small}, level 1: {fast}");
    }

    #[test]
    fn one_read_takes_a_bounded_amount_of_input() {
        // Zeros shrink about a thousand times: without the bound, filling one piece would read
        // 64 MB of the source. The compressor's own first block takes about 4 MB of them.
        let zeros = io::repeat(0).take(64 << 20);
        let mut body = GzipBody::new(Box::new(zeros), 6, GzipFraming::Chunked);
        let mut buf = vec![0; 100_000];
        let n = body.read(&mut buf).unwrap();
        assert!(n > 0);
        let taken = body.encoder.get_ref().taken;
        assert!(taken <= 8 << 20, "{taken} bytes taken");
    }

    #[test]
    fn a_source_with_nothing_yet_is_asked_again_later() {
        /// Every other read has nothing to give yet, as a big listing reading names.
        struct Halting {
            data: io::Cursor<Vec<u8>>,
            halt: bool,
        }
        impl Read for Halting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.halt = !self.halt;
                if self.halt {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let len = buf.len().min(1000);
                self.data.read(&mut buf[..len])
            }
        }
        let data = text(300_000);
        let source = Halting {
            data: io::Cursor::new(data.clone()),
            halt: false,
        };
        let mut body = GzipBody::new(Box::new(source), 6, GzipFraming::Chunked);
        let (mut wire, mut halts) = (Vec::new(), 0);
        let mut buf = vec![0; 100_000];
        loop {
            match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => wire.extend_from_slice(&buf[..n]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => halts += 1,
                Err(error) => panic!("{error}"),
            }
        }
        assert!(halts > 0, "the pauses reach the core");
        assert_eq!(gunzip(&dechunk(&wire)), data);
    }

    #[test]
    fn a_source_error_is_passed_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut body = GzipBody::new(Box::new(Broken), 6, GzipFraming::Chunked);
        let error = body.read(&mut [0; 1000]).unwrap_err();
        assert!(error.to_string().contains("disk on fire"), "{error}");
    }
}
