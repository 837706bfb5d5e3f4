//! A tiny HTTP/1.1 client over a plain `TcpStream`, written for checking servers, not for
//! browsing.
//!
//! A general HTTP client hides exactly what a checker must see: whether the whole head came in
//! the first chunk, whether lines end in CRLF, whether `Content-Length` tells the truth, whether
//! the server closes afterwards. So this client sends the raw bytes it is given, keeps the first
//! chunk apart, parses the head leniently (LF-only lines are accepted but noted, as the grader's
//! parser does) and reports every deviation instead of correcting it. Every wait has a deadline.
//!
//! It is the one response reader of the project: the checks and the end-to-end tests (keep-alive
//! and pipelining included, through [`Connection`]) read responses with it.
//!
//! Bodies are framed by `Content-Length`, by `Transfer-Encoding: chunked` (decoded strictly: a
//! size line in hex, that many bytes, CRLF, and a last chunk of size zero; any deviation is an
//! error) or by the close. [`fetch`] then undoes `Content-Encoding: gzip` as Node's `fetch` does
//! ([`gunzip`], strictly too: one gzip member and nothing after it).

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::checks::wire::{connect, connect_from, is_timeout, read_upto, send, show, End};

/// How long the first bytes of a response may take.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole response may take.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to close once the response is complete.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response the checks read (the biggest sample file is well under this).
const MAX_RESPONSE: usize = 64 << 20;
/// The largest head the checks accept.
const MAX_HEAD: usize = 64 << 10;
/// Node delivers socket data in chunks of up to 64 KiB; the first one is what the grader parses.
const CHUNK: usize = 64 << 10;

/// One parsed response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status line as sent, without its line ending.
    pub status_line: String,
    /// The status code from the status line.
    pub status: u16,
    /// Every header in order, names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    /// True if every line of the head, and the blank line, ended in CRLF.
    pub crlf: bool,
    /// The body bytes received (none for a HEAD request unless the server wrongly sent some),
    /// with the chunked framing removed; by [`fetch`] also gunzipped.
    pub body: Vec<u8>,
    /// The body came with `Transfer-Encoding: chunked` (and was decoded).
    pub chunked: bool,
    /// The body's size before [`fetch`] gunzipped it, if it did.
    pub gzipped_len: Option<usize>,
}

impl Response {
    /// The value of header `name` the way `fetch`'s `Headers.get` gives it: duplicates joined
    /// with ", ".
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            None
        } else {
            Some(values.join(", "))
        }
    }

    /// The value of header `name` the way the grader's raw-socket parser gives it: the last one.
    pub fn last_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Length` as a number, if present and valid.
    pub fn content_length(&self) -> Option<usize> {
        self.last_header("content-length")
            .and_then(|v| v.parse().ok())
    }

    /// A one-line summary for reports: status line and the headers that matter.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.status_line.clone()];
        for name in [
            "content-type",
            "content-length",
            "transfer-encoding",
            "content-encoding",
            "vary",
            "location",
            "server",
            "connection",
        ] {
            if let Some(v) = self.header(name) {
                parts.push(format!("{name}: {v}"));
            }
        }
        match self.gzipped_len {
            Some(gzipped) => parts.push(format!(
                "{gzipped} body bytes, {} after gunzip",
                self.body.len()
            )),
            None => parts.push(format!("{} body bytes", self.body.len())),
        }
        parts.join("; ")
    }
}

/// How the connection ended after the response.
#[derive(Debug)]
pub enum Closing {
    /// The server closed (FIN) with nothing more sent.
    Closed,
    /// The server reset the connection after the response; it is closed, if not gracefully.
    Reset,
    /// The server sent bytes beyond the response.
    Extra(Vec<u8>),
    /// The connection was still open when the deadline passed.
    StillOpen,
    /// Any other socket error.
    Failed(String),
}

impl Closing {
    /// True if the connection is gone and nothing followed the response.
    pub fn is_closed(&self) -> bool {
        matches!(self, Closing::Closed | Closing::Reset)
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Closing::Closed => "then the server closed the connection".into(),
            Closing::Reset => "then the server reset the connection".into(),
            Closing::Extra(bytes) => format!(
                "then {} more bytes after the response: {}",
                bytes.len(),
                show(bytes)
            ),
            Closing::StillOpen => format!(
                "the connection was still open {} s after the response",
                CLOSE_TIMEOUT.as_secs()
            ),
            Closing::Failed(e) => format!("then a socket error: {e}"),
        }
    }
}

/// One request and what came back.
#[derive(Debug)]
pub struct Exchange {
    /// The bytes of the first successful read: what the grader's raw client parses.
    pub first_chunk: Vec<u8>,
    pub response: Response,
    /// How the connection ended; `None` when the caller did not wait for the end.
    pub closing: Option<Closing>,
}

/// What to do after the head has arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// Read the body framed by `Content-Length` (or up to the close without one).
    Read,
    /// A response to HEAD: no body is expected; anything before the close counts as extra.
    None,
}

/// One client connection that reads responses one after another, as a keep-alive client does:
/// each framed by its `Content-Length` (or by the close without one), with whatever arrives
/// beyond a response kept for the next (pipelining). [`exchange`] is one request on one of
/// these; the keep-alive tests send several.
pub struct Connection {
    stream: TcpStream,
    /// Bytes received and not yet part of a response.
    pending: Vec<u8>,
    /// How the connection ended, once a body that runs to the close has been read.
    ended: Option<Closing>,
}

impl Connection {
    /// Connects to 127.0.0.1:`port`.
    pub fn open(port: u16) -> Result<Connection, String> {
        let stream = connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
        Ok(Connection {
            stream,
            pending: Vec::new(),
            ended: None,
        })
    }

    /// Connects to 127.0.0.1:`port` from the local address `source` (see
    /// [`connect_from`]): another client, as far as the server can tell.
    pub fn open_from(source: IpAddr, port: u16) -> Result<Connection, String> {
        let stream = connect_from(source, port)
            .map_err(|e| format!("cannot connect to port {port} from {source}: {e}"))?;
        Ok(Connection {
            stream,
            pending: Vec::new(),
            ended: None,
        })
    }

    /// The socket, for what the reader does not do (half-closing, socket options).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        send(&mut self.stream, bytes).map_err(|e| format!("sending the request failed: {e}"))
    }

    /// One `read` (as one `data` event in Node), kept for the next response and returned: the
    /// first chunk the grader's raw client parses.
    pub fn first_chunk(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        let chunk = read_once(&mut self.stream, timeout)?;
        self.pending.extend_from_slice(&chunk);
        Ok(chunk)
    }

    /// Reads the next response within [`RESPONSE_TIMEOUT`]: its head, then its body as `body`
    /// says.
    pub fn response(&mut self, body: Body) -> Result<Response, String> {
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        let head_end = loop {
            if let Some(end) = head_end(&self.pending) {
                break end;
            }
            if self.pending.len() > MAX_HEAD {
                return Err(format!(
                    "no end of head within {MAX_HEAD} bytes: {}",
                    show(&self.pending)
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let (more, end) = read_upto(&mut self.stream, 1, left);
            if more.is_empty() {
                return Err(format!(
                    "incomplete response head {} ({})",
                    show(&self.pending),
                    end.describe()
                ));
            }
            self.pending.extend_from_slice(&more);
        };
        let mut response = parse_head(&self.pending[..head_end])?;
        self.pending.drain(..head_end);
        if body == Body::None {
            return Ok(response);
        }
        if response.is_chunked() {
            response.body = self.chunked_body(deadline, &response.status_line)?;
            response.chunked = true;
            return Ok(response);
        }
        match response.content_length() {
            Some(length) => {
                if self.pending.len() < length {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let want = length - self.pending.len();
                    let (more, end) = read_upto(&mut self.stream, want, left);
                    self.pending.extend_from_slice(&more);
                    if self.pending.len() < length {
                        return Err(format!(
                            "{}: the body stopped after {} of {length} bytes ({})",
                            response.status_line,
                            self.pending.len(),
                            end.describe()
                        ));
                    }
                }
                let rest = self.pending.split_off(length);
                response.body = std::mem::replace(&mut self.pending, rest);
            }
            None => {
                // No length: the body runs to the close, so reading it is also waiting for it.
                let left = deadline.saturating_duration_since(Instant::now());
                let (more, end) = read_upto(&mut self.stream, MAX_RESPONSE, left);
                self.pending.extend_from_slice(&more);
                response.body = std::mem::take(&mut self.pending);
                self.ended = Some(closing_from(end));
            }
        }
        Ok(response)
    }

    /// A chunked body (RFC 9112 §7.1), read and decoded by the deadline; the bytes after it stay
    /// for the next response.
    fn chunked_body(&mut self, deadline: Instant, status_line: &str) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = self.need_line(at, deadline, status_line)?;
            let line = String::from_utf8_lossy(&self.pending[at..line_end]).into_owned();
            // Chunk extensions (`;name=value`) are allowed and ignored.
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .ok()
                .filter(|_| !size_text.is_empty() && !size_text.starts_with('+'))
                .ok_or_else(|| {
                    format!(
                        "{status_line}: bad chunk size line {line:?} after {} body bytes",
                        body.len()
                    )
                })?;
            at = line_end + 2;
            if size == 0 {
                // Trailer fields, then an empty line.
                loop {
                    let end = self.need_line(at, deadline, status_line)?;
                    let empty = end == at;
                    at = end + 2;
                    if empty {
                        self.pending.drain(..at);
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_RESPONSE {
                return Err(format!(
                    "{status_line}: a chunked body over {MAX_RESPONSE} bytes"
                ));
            }
            self.need(at + size + 2, deadline, status_line)?;
            body.extend_from_slice(&self.pending[at..at + size]);
            if &self.pending[at + size..at + size + 2] != b"\r\n" {
                return Err(format!(
                    "{status_line}: a chunk of {size} bytes is not followed by CRLF"
                ));
            }
            at += size + 2;
            // Keep the buffer small on long bodies: drop what is decoded.
            if at > 1 << 20 {
                self.pending.drain(..at);
                at = 0;
            }
        }
    }

    /// Reads until `pending` holds a CRLF at or after `from`; returns where it starts.
    fn need_line(
        &mut self,
        from: usize,
        deadline: Instant,
        status_line: &str,
    ) -> Result<usize, String> {
        loop {
            if let Some(end) = self.pending[from..].windows(2).position(|w| w == b"\r\n") {
                return Ok(from + end);
            }
            if self.pending.len() - from > 1024 {
                return Err(format!("{status_line}: a chunk size line over 1024 bytes"));
            }
            let len = self.pending.len() + 1;
            self.need(len, deadline, status_line)?;
        }
    }

    /// Reads until `pending` holds at least `len` bytes.
    fn need(&mut self, len: usize, deadline: Instant, status_line: &str) -> Result<(), String> {
        while self.pending.len() < len {
            let left = deadline.saturating_duration_since(Instant::now());
            let (more, end) = read_upto(&mut self.stream, len - self.pending.len(), left);
            self.pending.extend_from_slice(&more);
            if self.pending.len() < len && more.is_empty() {
                return Err(format!(
                    "{status_line}: the chunked body stopped before its last chunk ({})",
                    end.describe()
                ));
            }
        }
        Ok(())
    }

    /// How the connection ends after the responses read so far: bytes already received beyond
    /// them count as extra; otherwise waits up to [`CLOSE_TIMEOUT`] for the server to close.
    pub fn closing(&mut self) -> Closing {
        if !self.pending.is_empty() {
            return Closing::Extra(std::mem::take(&mut self.pending));
        }
        match self.ended.take() {
            Some(closing) => closing,
            None => wait_for_close(&mut self.stream),
        }
    }

    /// Like [`Connection::closing`], without waiting: `None` if nothing is known yet.
    fn closing_known(&mut self) -> Option<Closing> {
        if !self.pending.is_empty() {
            return Some(Closing::Extra(std::mem::take(&mut self.pending)));
        }
        self.ended.take()
    }
}

/// Sends `request` as raw bytes to 127.0.0.1:`port` and reads one response.
///
/// With `wait_close`, it then waits for the server to close and records how that went; without
/// it, the response is framed by `Content-Length` alone, as a keep-alive client would.
pub fn exchange(
    port: u16,
    request: &[u8],
    body: Body,
    wait_close: bool,
) -> Result<Exchange, String> {
    exchange_on(Connection::open(port)?, request, body, wait_close)
}

/// Like [`exchange`], from the local address `source` (a client at 127.0.0.2, say).
pub fn exchange_from(
    source: IpAddr,
    port: u16,
    request: &[u8],
    body: Body,
    wait_close: bool,
) -> Result<Exchange, String> {
    exchange_on(
        Connection::open_from(source, port)?,
        request,
        body,
        wait_close,
    )
}

/// One request on a new `connection`, and its response (see [`exchange`]).
fn exchange_on(
    mut connection: Connection,
    request: &[u8],
    body: Body,
    wait_close: bool,
) -> Result<Exchange, String> {
    connection.send(request)?;
    let first_chunk = connection.first_chunk(FIRST_BYTE_TIMEOUT)?;
    let response = connection.response(body)?;
    let closing = match connection.closing_known() {
        Some(closing) => Some(closing),
        None if wait_close => Some(connection.closing()),
        None => None,
    };
    Ok(Exchange {
        first_chunk,
        response,
        closing,
    })
}

/// Parses a whole response already read (a head and everything after it as the body), for
/// bytes read to the close.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = head_end(raw).ok_or_else(|| format!("no end of head in {}", show(raw)))?;
    let mut response = parse_head(&raw[..end])?;
    response.body = raw[end..].to_vec();
    Ok(response)
}

/// Sends a request the way Node's `fetch` (undici) does and reads the response framed by
/// `Content-Length`, without following redirects.
pub fn fetch(port: u16, path: &str) -> Result<Response, String> {
    fetch_method(port, "GET", path).map(|e| e.response)
}

/// Like [`fetch`] with any method; HEAD reads no body and waits for the close. A gzip body is
/// gunzipped, as `fetch` does.
pub fn fetch_method(port: u16, method: &str, path: &str) -> Result<Exchange, String> {
    let request = fetch_request(port, method, path);
    let body = if method == "HEAD" {
        Body::None
    } else {
        Body::Read
    };
    let mut exchange = exchange(port, request.as_bytes(), body, method == "HEAD")?;
    if body == Body::Read {
        decode_gzip(&mut exchange.response)?;
    }
    Ok(exchange)
}

/// Gunzips `response`'s body in place if it says `Content-Encoding: gzip`, as Node's `fetch`
/// does, and notes the size it had ([`Response::gzipped_len`]).
pub fn decode_gzip(response: &mut Response) -> Result<(), String> {
    let gzip = response
        .header("content-encoding")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if gzip {
        let plain = gunzip(&response.body).map_err(|e| {
            format!(
                "{}: the gzip body does not gunzip: {e}",
                response.status_line
            )
        })?;
        response.gzipped_len = Some(response.body.len());
        response.body = plain;
    }
    Ok(())
}

/// Undoes gzip strictly: exactly one gzip member (RFC 1952, its CRC and length checked) and no
/// byte after it.
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use flate2::bufread::GzDecoder;
    let mut decoder = GzDecoder::new(bytes);
    let mut plain = Vec::new();
    decoder.read_to_end(&mut plain).map_err(|e| {
        format!(
            "{e} (after {} bytes out of {} in)",
            plain.len(),
            bytes.len()
        )
    })?;
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes after the end of the gzip stream",
            rest.len()
        ));
    }
    Ok(plain)
}

/// The request head Node's `fetch` sends (lower-case names, keep-alive).
pub fn fetch_request(port: u16, method: &str, path: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost:{port}\r\nconnection: keep-alive\r\naccept: */*\r\n\
         accept-language: *\r\nsec-fetch-mode: cors\r\nuser-agent: node\r\naccept-encoding: gzip, deflate\r\n\r\n"
    )
}

impl Response {
    /// The body is sent with `Transfer-Encoding: chunked` (the last coding listed).
    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| {
            v.rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
        })
    }
}

/// Waits for the server to close the connection after a complete response.
fn wait_for_close(stream: &mut TcpStream) -> Closing {
    let (extra, end) = read_upto(stream, 1 << 20, CLOSE_TIMEOUT);
    if !extra.is_empty() {
        return Closing::Extra(extra);
    }
    closing_from(end)
}

/// Turns the way a read ended into how the connection closed.
fn closing_from(end: End) -> Closing {
    match end {
        End::Closed => Closing::Closed,
        End::Failed(e) if e.kind() == ErrorKind::ConnectionReset => Closing::Reset,
        End::Failed(e) => Closing::Failed(e.to_string()),
        End::TimedOut | End::Complete => Closing::StillOpen,
    }
}

/// The index just past the blank line that ends the head (CRLF or bare LF lines).
pub fn head_end(raw: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' {
            let line = &raw[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parses a head (status line, headers, blank line) the way the grader's parser does: lines split
/// on LF with a trailing CR dropped, names compared case-insensitively, values trimmed.
pub fn parse_head(head: &[u8]) -> Result<Response, String> {
    let text = std::str::from_utf8(head)
        .map_err(|_| format!("the head is not valid text: {}", show(head)))?;
    let mut crlf = true;
    let mut lines = Vec::new();
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = match line.strip_suffix('\r') {
            Some(l) => l,
            None => {
                crlf = false;
                line
            }
        };
        lines.push(line);
    }
    while lines.last() == Some(&"") {
        lines.pop();
    }
    let status_line = lines.first().copied().unwrap_or_default().to_string();
    let status = parse_status_line(&status_line).ok_or_else(|| {
        format!(
            "not an HTTP status line: {:?} (in {})",
            status_line,
            show(head)
        )
    })?;
    let mut headers = Vec::new();
    for line in lines.iter().skip(1) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("a header line without ':': {line:?} (in {})", show(head)))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Response {
        status_line,
        status,
        headers,
        crlf,
        body: Vec::new(),
        chunked: false,
        gzipped_len: None,
    })
}

/// The status code of `HTTP/d.d ddd[ reason]`, the only shape the grader's parser accepts.
fn parse_status_line(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/")?;
    let bytes = rest.as_bytes();
    let version_ok = bytes.len() >= 3
        && bytes[0].is_ascii_digit()
        && bytes[1] == b'.'
        && bytes[2].is_ascii_digit();
    if !version_ok {
        return None;
    }
    let rest = rest[3..].strip_prefix(' ')?;
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = &rest[3..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    code.parse().ok()
}

/// One `read` (as one `data` event in Node): the first chunk the grader's raw client parses.
fn read_once(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut chunk = vec![0u8; CHUNK];
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    loop {
        return match stream.read(&mut chunk) {
            Ok(0) => Err("no response: the server closed the connection without a byte".into()),
            Ok(n) => {
                chunk.truncate(n);
                Ok(chunk)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => Err(format!("no response within {} s", timeout.as_secs())),
            Err(e) => Err(format!("no response: {e}")),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 404"), Some(404));
        assert_eq!(parse_status_line("HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line("HTTX/1.1 200 OK"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2000"), None);
    }

    #[test]
    fn heads_with_crlf_and_lf() {
        let r = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nServer: eXpServer\r\n\r\n",
        )
        .unwrap();
        assert!(r.crlf);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
        let r = parse_head(b"HTTP/1.1 400 Bad Request\nServer: eXpServer\n\n").unwrap();
        assert!(!r.crlf);
        assert_eq!(r.last_header("SERVER"), Some("eXpServer"));
    }

    #[test]
    fn duplicate_headers() {
        let r = parse_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nA: 2\r\n\r\n").unwrap();
        assert_eq!(r.header("a").as_deref(), Some("1, 2"));
        assert_eq!(r.last_header("a"), Some("2"));
    }

    /// A one-connection server that writes `bytes` and closes.
    fn serve(bytes: &'static [u8]) -> u16 {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(bytes).unwrap();
        });
        port
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn chunked_bodies_are_decoded_and_the_next_response_kept() {
        let port = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\n\r\n\
              HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        );
        let mut connection = Connection::open(port).unwrap();
        let first = connection.response(Body::Read).unwrap();
        assert!(first.chunked);
        assert_eq!(first.body, b"hello!");
        let second = connection.response(Body::Read).unwrap();
        assert_eq!(second.status, 204);
    }

    #[test]
    fn bad_chunked_framing_fails() {
        for bytes in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ] {
            let port = serve(bytes);
            let error = Connection::open(port)
                .unwrap()
                .response(Body::Read)
                .unwrap_err();
            assert!(error.contains("chunk"), "{error}");
        }
    }

    #[test]
    fn gunzip_is_strict() {
        let data = b"some text some text some text".repeat(10);
        assert_eq!(gunzip(&gzip(&data)).unwrap(), data);
        let mut trailing = gzip(&data);
        trailing.push(b'x');
        assert!(gunzip(&trailing).unwrap_err().contains("after the end"));
        let mut cut = gzip(&data);
        cut.truncate(cut.len() - 4);
        assert!(gunzip(&cut).is_err());
        assert!(gunzip(b"plain text").is_err());
    }

    #[test]
    fn end_of_head() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\n\nbody"), Some(17));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
    }
}
