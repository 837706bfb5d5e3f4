//! The request methods the course knows.
//!
//! The course's `xps_http_method_t` lists exactly eight methods. Anything else in the request line
//! (for example `GOT` or `PATCH`) is a parse failure and the client gets `400 Bad Request`, which is
//! what the official grader expects.

use std::fmt;

/// One of the eight methods of the course (there is no `PATCH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Connect,
}

impl Method {
    /// Every method, in the order of the course's enum.
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Trace,
        Method::Connect,
    ];

    /// The longest method name (`OPTIONS`, `CONNECT`), so the parser can give up early on junk.
    pub const MAX_LEN: usize = 7;

    /// Recognise a method from its exact (upper-case) bytes. Methods are case-sensitive.
    pub fn from_bytes(bytes: &[u8]) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().as_bytes() == bytes)
    }

    /// The method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips() {
        for m in Method::ALL {
            assert_eq!(Method::from_bytes(m.as_str().as_bytes()), Some(m));
            assert!(m.as_str().len() <= Method::MAX_LEN);
        }
    }

    #[test]
    fn unknown_and_lower_case_methods_are_rejected() {
        for bad in ["GOT", "PATCH", "get", "Get", "", "GETT", "GE"] {
            assert_eq!(Method::from_bytes(bad.as_bytes()), None, "{bad}");
        }
    }
}
