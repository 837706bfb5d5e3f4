//! HTTP/1.x for the server: the request parser, the response builder and the small types they
//! share (methods, status codes, header lists).
//!
//! The parser is the lesson of stage 14 and is written by hand (see [`parser`]); the response
//! builder is stage 15 ([`response`]), [`chunked`] frames bodies of unknown length for the
//! stages after it, and [`accept_encoding`] tells whether a client takes gzip (stage 19).

pub mod accept_encoding;
mod body_end;
pub mod chunked;
mod headers;
mod method;
pub mod parser;
mod request;
pub mod response;
mod status;

pub use body_end::BodyEnd;
pub use headers::{Header, Headers};
pub use method::Method;
pub use parser::{parse, Parse, ParseError, RequestParser, MAX_HEAD_LEN};
pub use request::{host_without_port, Request};
pub use response::{Framing, Reply, Response, ResponseStyle};
pub use status::StatusCode;
