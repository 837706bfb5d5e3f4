//! The parsed request (the course's `xps_http_req_s`).
//!
//! The C struct keeps pointers into the read buffer and then copies each part out into a string.
//! In Rust the request simply owns its strings, so it can outlive the buffer it was parsed from
//! (the session drops the read bytes as soon as the head is parsed).

use super::{Headers, Method};

/// One HTTP request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The whole first line without its line ending, e.g. `GET /a?b=1 HTTP/1.1`.
    pub request_line: String,
    /// The request target exactly as sent: `/a?b=1` or `http://example.com:81/a?b=1`.
    pub uri: String,
    /// Absolute form only: the scheme, lower-cased (`http`).
    pub schema: Option<String>,
    /// Absolute form only: the host, lower-cased (`example.com`).
    pub host: Option<String>,
    /// Absolute form only: the explicit port, or 80 for `http` and 443 for `https`.
    /// `None` for the usual origin form (`/path`), where the course is inconsistent (-1 or 0).
    pub port: Option<u16>,
    /// The target path including the query: `/api/problems?key=val`.
    pub path: String,
    /// The target path without the query: `/api/problems`. Still percent-encoded.
    pub pathname: String,
    /// `1.0` or `1.1`.
    pub http_version: String,
    pub headers: Headers,
    /// How many bytes the head took (request line, headers and the blank line). Bytes after this
    /// in the input belong to the body.
    pub header_len: usize,
    /// The value of `Content-Length`, or 0 without one.
    pub body_len: u64,
}

impl Request {
    /// The first value of a header, whatever the case of its name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The host the client asked for, for choosing a virtual server: the host of an absolute-form
    /// target if there is one (RFC 9112 §3.2.2 says it wins over `Host`), otherwise the `Host`
    /// header. Lower-cased and without `:port`; `[::1]:80` gives `[::1]`.
    pub fn authority_host(&self) -> Option<String> {
        if let Some(host) = &self.host {
            return Some(host.clone());
        }
        self.header("Host").map(host_without_port)
    }

    /// True for `HEAD`, which gets the same head as `GET` and no body.
    pub fn is_head(&self) -> bool {
        self.method == Method::Head
    }

    /// Rebuild the head: request line, every header as `Name: value` and a blank line, all with
    /// CRLF (the course's `xps_http_req_serialize`). This is what a reverse proxy sends upstream.
    pub fn serialize_head(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/{}\r\n",
            self.method, self.uri, self.http_version
        );
        self.headers.serialize_into(&mut out);
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// The head [`serialize_head`](Self::serialize_head) would give after
    /// `headers.set(name, value)`: the first `name` field (any case) written with `value` in its
    /// place, later ones left out, or the field added at the end if there was none. What a
    /// reverse proxy sends with `Connection: close`, written straight into one buffer instead of
    /// copying the whole request to change one field. `value` must be a clean value (no control
    /// characters), as the callers' constants are.
    pub fn serialize_head_with(&self, name: &str, value: &str) -> Vec<u8> {
        let method = self.method.as_str();
        let fields: usize = self
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum();
        let mut out = String::with_capacity(
            method.len() + self.uri.len() + fields + name.len() + value.len() + 24,
        );
        out.push_str(method);
        out.push(' ');
        out.push_str(&self.uri);
        out.push_str(" HTTP/");
        out.push_str(&self.http_version);
        out.push_str("\r\n");
        let mut written = false;
        for h in self.headers.iter() {
            if h.name.eq_ignore_ascii_case(name) {
                if written {
                    continue;
                }
                written = true;
                out.push_str(name);
                out.push_str(": ");
                out.push_str(value);
            } else {
                out.push_str(&h.name);
                out.push_str(": ");
                out.push_str(&h.value);
            }
            out.push_str("\r\n");
        }
        if !written {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// `Example.COM:8001` → `example.com`; `[::1]:8001` → `[::1]`; surrounding spaces are dropped.
pub fn host_without_port(host: &str) -> String {
    let host = host.trim();
    let bare = if host.starts_with('[') {
        // IPv6 literal: the port, if any, follows the closing bracket.
        match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        host.split(':').next().unwrap_or(host)
    };
    bare.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port_cases() {
        assert_eq!(host_without_port("Example.COM:8001"), "example.com");
        assert_eq!(host_without_port("localhost"), "localhost");
        assert_eq!(host_without_port(" a.b "), "a.b");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port(""), "");
    }

    #[test]
    fn head_with_a_field_set_is_the_head_after_set() {
        use crate::http::RequestParser;
        let heads: [&[u8]; 4] = [
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
            b"POST /p HTTP/1.1\r\nconnection: keep-alive\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: a\r\nX: 1\r\nCONNECTION: b\r\n\r\n",
            b"GET http://e.com:81/z HTTP/1.1\r\nHost: e.com\r\n\r\n",
        ];
        for head in heads {
            let mut parser = RequestParser::new();
            let request = match parser.feed(head) {
                Ok(crate::http::Parse::Complete { request, .. }) => request,
                other => panic!("{other:?}"),
            };
            let mut set = request.clone();
            set.headers.set("Connection", "close");
            assert_eq!(
                String::from_utf8(request.serialize_head_with("Connection", "close")).unwrap(),
                String::from_utf8(set.serialize_head()).unwrap()
            );
        }
    }
}
