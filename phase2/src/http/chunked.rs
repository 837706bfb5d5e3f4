//! `Transfer-Encoding: chunked`: how a body of unknown length is framed (RFC 9112 §7.1).
//!
//! A response must tell the client where its body ends. `Content-Length` needs the size before
//! the first byte leaves, which a body made on the fly does not have: stage 19 compresses a file
//! a piece at a time and learns the compressed size only at the end. HTTP/1.1's answer is to
//! send the body as chunks, each one preceded by its size in hexadecimal:
//!
//! ```text
//! 5\r\n          <- the size of this chunk, in hex
//! hello\r\n      <- that many bytes, then CRLF
//! 1a\r\n
//! ...26 bytes...\r\n
//! 0\r\n          <- a chunk of size zero ends the body
//! \r\n           <- (no trailer fields) the message ends
//! ```
//!
//! The connection stays usable after the last chunk, so a kept-alive connection can carry the
//! next response. The head says `Transfer-Encoding: chunked` and has no `Content-Length`
//! ([`Response::set_chunked`](super::Response::set_chunked),
//! [`Reply::ok_chunked`](super::response::Reply::ok_chunked)).

use std::io::Write as _;

/// The last chunk and the end of the message (no trailer fields).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Append `data` to `out` framed as one chunk: `<hex size>\r\n<data>\r\n`.
///
/// Empty `data` appends nothing: a chunk of size zero would end the body (that is
/// [`LAST_CHUNK`]'s job), so an empty piece from a compressor must not become one.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `data` framed as one chunk, in a new buffer (see [`write_chunk`]).
pub fn chunk(data: &[u8]) -> Vec<u8> {
    // Size line (at most 16 hex digits and CRLF), data, CRLF.
    let mut out = Vec::with_capacity(data.len() + 20);
    write_chunk(&mut out, data);
    out
}

/// A whole body framed at once: every piece as a chunk, then [`LAST_CHUNK`].
pub fn encode<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        write_chunk(&mut out, piece);
    }
    out.extend_from_slice(LAST_CHUNK);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small decoder for the tests: the body, or why the framing is wrong. It reads what a
    /// client reads: a hex size line, that many bytes, CRLF; size 0 and an empty line end it.
    /// Returns the body and how many bytes the message took.
    fn decode(mut input: &[u8]) -> Result<(Vec<u8>, usize), String> {
        let total = input.len();
        let mut body = Vec::new();
        loop {
            let line_end = input
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("size line without CRLF")?;
            let line = std::str::from_utf8(&input[..line_end]).map_err(|e| e.to_string())?;
            let size = usize::from_str_radix(line, 16).map_err(|e| format!("{line:?}: {e}"))?;
            input = &input[line_end + 2..];
            if size == 0 {
                if !input.starts_with(b"\r\n") {
                    return Err("no empty line after the last chunk".into());
                }
                return Ok((body, total - input.len() + 2));
            }
            if input.len() < size + 2 {
                return Err(format!("chunk of {size} bytes cut short"));
            }
            body.extend_from_slice(&input[..size]);
            if &input[size..size + 2] != b"\r\n" {
                return Err("chunk data not followed by CRLF".into());
            }
            input = &input[size + 2..];
        }
    }

    #[test]
    fn one_chunk_has_hex_size_and_crlf() {
        assert_eq!(chunk(b"hello"), b"5\r\nhello\r\n");
        assert_eq!(chunk(&[b'x'; 26])[..4], *b"1a\r\n");
        assert_eq!(chunk(&[0; 4096])[..5], *b"1000\r");
    }

    #[test]
    fn an_empty_piece_is_not_the_last_chunk() {
        assert!(chunk(b"").is_empty());
        let mut out = b"kept".to_vec();
        write_chunk(&mut out, b"");
        assert_eq!(out, b"kept");
    }

    #[test]
    fn empty_body_is_just_the_last_chunk() {
        assert_eq!(encode([]), LAST_CHUNK);
        assert_eq!(decode(LAST_CHUNK), Ok((Vec::new(), LAST_CHUNK.len())));
    }

    #[test]
    fn round_trip_through_a_decoder() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Sizes around the hex digit boundaries, an empty piece, and a large one.
        let sizes = [1, 15, 16, 17, 255, 256, 0, 4095, 4096, 100_000, 7];
        let mut pieces = Vec::new();
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at >= data.len() {
                break;
            }
            let end = (at + size).min(data.len());
            pieces.push(&data[at..end]);
            at = end;
        }
        let framed = encode(pieces.iter().copied());
        let (body, used) = decode(&framed).unwrap();
        assert_eq!(body, data);
        assert_eq!(used, framed.len());
    }

    #[test]
    fn the_next_response_starts_after_the_last_chunk() {
        // On a kept connection the next response follows at once; the decoder must stop exactly
        // at the end of this one.
        let mut stream = encode([&b"first"[..], b" body"]);
        let end = stream.len();
        stream.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let (body, used) = decode(&stream).unwrap();
        assert_eq!(body, b"first body");
        assert_eq!(used, end);
    }

    #[test]
    fn the_decoder_catches_bad_framing() {
        assert!(decode(b"5\r\nhell").is_err());
        assert!(decode(b"5\r\nhelloXX0\r\n\r\n").is_err());
        assert!(decode(b"zz\r\n").is_err());
        assert!(decode(b"0\r\n").is_err());
    }
}
