//! Where a request's body ends on the wire, found as its bytes stream past.
//!
//! A reverse proxy that relays a client's bytes must know where the forwarded request stops:
//! whatever follows is the client's *next* request, which has to be parsed and routed like the
//! first (stage 18's IP lists, for instance), never handed to the upstream as part of this one.
//! That is the request-smuggling hole of issue 11. A body is framed in one of two ways (RFC
//! 9112 §6.3), and the parser has already refused every ambiguous head (both
//! `Content-Length` and `Transfer-Encoding`, several lengths, an unknown coding):
//!
//! - `Content-Length: N`: the next N bytes;
//! - `Transfer-Encoding: chunked`: chunks, each a hexadecimal size line (perhaps with
//!   `;extensions`), that many bytes and CRLF, up to a zero-size chunk, optional trailer fields
//!   and an empty line (see [`super::chunked`] for the sending side).
//!
//! [`BodyEnd::feed`] takes the bytes as they come, in pieces of any size, and says how many of
//! them belong to the body. It never buffers: a chunked body is followed byte by byte through a
//! small state machine, so the proxy stays a stream. A chunked body that breaks the grammar
//! ends where it breaks: nothing after that point is let through.

use super::Request;

/// Follows one request body to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyEnd {
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// This many bytes are left (`Content-Length`, or the data of a chunk).
    Length(u64),
    /// Chunked: reading a chunk-size line's hexadecimal digits.
    Size {
        value: u64,
        digits: u32,
    },
    /// Chunked: a chunk extension (`;name=value`), up to the CR.
    Extension {
        value: u64,
    },
    /// Chunked: the LF that ends a size line.
    SizeLf {
        value: u64,
    },
    /// Chunked: the bytes of a chunk.
    Data(u64),
    /// Chunked: the CR, then the LF, after a chunk's data.
    DataCr,
    DataLf,
    /// Chunked, after the last chunk: at the start of a trailer line (an empty one ends the body).
    TrailerStart,
    /// Chunked: inside a trailer field line.
    TrailerLine,
    /// Chunked: the LF ending a trailer line; `last` if that line was empty.
    TrailerLf {
        last: bool,
    },
    /// The body is complete: nothing more belongs to it.
    Done,
    /// The chunked framing broke its grammar: nothing more is let through.
    Broken,
}

impl BodyEnd {
    /// The body of `request`, as its head frames it.
    pub fn of(request: &Request) -> BodyEnd {
        if request.headers.contains("Transfer-Encoding") {
            BodyEnd::chunked()
        } else {
            BodyEnd::length(request.body_len)
        }
    }

    /// A body of exactly `len` bytes.
    pub fn length(len: u64) -> BodyEnd {
        let state = if len == 0 {
            State::Done
        } else {
            State::Length(len)
        };
        BodyEnd { state }
    }

    /// A chunked body.
    pub fn chunked() -> BodyEnd {
        BodyEnd {
            state: State::Size {
                value: 0,
                digits: 0,
            },
        }
    }

    /// The body has ended: no further byte belongs to it.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done | State::Broken)
    }

    /// The next bytes of the stream: how many of them, from the front, belong to the body. Fewer
    /// than `data.len()` means the body ended inside `data`.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let mut at = 0;
        while at < data.len() {
            match self.state {
                State::Done | State::Broken => break,
                State::Length(left) | State::Data(left) => {
                    let take = left.min((data.len() - at) as u64);
                    at += take as usize;
                    let left = left - take;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataCr,
                        _ => State::Data(left),
                    };
                }
                _ => {
                    self.state = step(self.state, data[at]);
                    if self.state == State::Broken {
                        break; // this byte is not let through
                    }
                    at += 1;
                }
            }
        }
        at
    }
}

/// One byte of chunked framing: the state after it.
fn step(state: State, byte: u8) -> State {
    match (state, byte) {
        (State::Size { value, digits }, b) if b.is_ascii_hexdigit() => {
            let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
            match value.checked_mul(16).and_then(|v| v.checked_add(digit)) {
                Some(value) => State::Size {
                    value,
                    digits: digits + 1,
                },
                None => State::Broken, // a size beyond u64
            }
        }
        (State::Size { value, digits }, b';' | b' ' | b'\t') if digits > 0 => {
            State::Extension { value }
        }
        (State::Size { value, digits }, b'\r') if digits > 0 => State::SizeLf { value },
        (State::Extension { value }, b'\r') => State::SizeLf { value },
        (State::Extension { value }, b) if b != b'\n' => State::Extension { value },
        (State::SizeLf { value: 0 }, b'\n') => State::TrailerStart,
        (State::SizeLf { value }, b'\n') => State::Data(value),
        (State::DataCr, b'\r') => State::DataLf,
        (State::DataLf, b'\n') => State::Size {
            value: 0,
            digits: 0,
        },
        (State::TrailerStart, b'\r') => State::TrailerLf { last: true },
        (State::TrailerLine, b'\r') => State::TrailerLf { last: false },
        (State::TrailerStart | State::TrailerLine, b) if b != b'\n' => State::TrailerLine,
        (State::TrailerLf { last: true }, b'\n') => State::Done,
        (State::TrailerLf { last: false }, b'\n') => State::TrailerStart,
        _ => State::Broken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a chunked `BodyEnd` in pieces of `step` bytes; the bytes let through.
    fn chunked_in_pieces(input: &[u8], step: usize) -> usize {
        let mut end = BodyEnd::chunked();
        let mut total = 0;
        for piece in input.chunks(step) {
            let used = end.feed(piece);
            total += used;
            if used < piece.len() {
                break;
            }
        }
        total
    }

    #[test]
    fn a_length_body_ends_after_its_length() {
        let mut end = BodyEnd::length(5);
        assert_eq!(end.feed(b"hel"), 3);
        assert_eq!(end.feed(b"loGET /"), 2);
        assert!(end.is_done());
        assert_eq!(end.feed(b"more"), 0);
        assert_eq!(BodyEnd::length(0).feed(b"GET /"), 0);
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers_in_any_pieces() {
        let body: &[u8] = b"5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
        let trailers: &[u8] = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
        for framed in [body, trailers] {
            let mut input = framed.to_vec();
            input.extend_from_slice(b"GET /private HTTP/1.1\r\n\r\n");
            for step in [1, 2, 3, 7, input.len()] {
                assert_eq!(
                    chunked_in_pieces(&input, step),
                    framed.len(),
                    "pieces of {step}"
                );
            }
        }
    }

    #[test]
    fn a_broken_chunked_body_stops_where_it_breaks() {
        // Not hex, a bare LF, data longer than its size, a size beyond 64 bits.
        assert_eq!(chunked_in_pieces(b"zz\r\n", 1), 0);
        assert_eq!(chunked_in_pieces(b"5\nhello", 4), 1);
        assert_eq!(chunked_in_pieces(b"2\r\nhello\r\n", 3), 5);
        assert_eq!(chunked_in_pieces(b"10000000000000000\r\n", 5), 16);
        let mut end = BodyEnd::chunked();
        end.feed(b"x");
        assert!(end.is_done());
    }
}
