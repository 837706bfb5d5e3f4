//! Status codes and their reason phrases.
//!
//! A status is a plain number wrapped in a type, because a redirect route may carry any code the
//! config gives (301, 302, 307, 308, ...). The phrases are the course's table (`xps_http.h`) plus
//! a few the server itself needs (405, 431); an unknown code gets a generic phrase for its class
//! instead of an error, so a config with an unusual code still produces a valid status line.

use std::fmt;

/// An HTTP status code (three digits, 100-999).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    pub const OK: StatusCode = StatusCode(200);
    pub const CREATED: StatusCode = StatusCode(201);
    pub const MOVED_PERMANENTLY: StatusCode = StatusCode(301);
    pub const FOUND: StatusCode = StatusCode(302);
    pub const NOT_MODIFIED: StatusCode = StatusCode(304);
    pub const TEMPORARY_REDIRECT: StatusCode = StatusCode(307);
    pub const PERMANENT_REDIRECT: StatusCode = StatusCode(308);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    pub const TOO_MANY_REQUESTS: StatusCode = StatusCode(429);
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: StatusCode = StatusCode(431);
    pub const INTERNAL_SERVER_ERROR: StatusCode = StatusCode(500);
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    pub const BAD_GATEWAY: StatusCode = StatusCode(502);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const GATEWAY_TIMEOUT: StatusCode = StatusCode(504);
    pub const HTTP_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);

    /// A status from a number, if it has the three digits a status line needs.
    pub fn new(code: u16) -> Option<StatusCode> {
        (100..=999).contains(&code).then_some(StatusCode(code))
    }

    /// The number, e.g. `404`.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// True for 3xx codes (the ones a redirect route may use).
    pub fn is_redirection(self) -> bool {
        (300..400).contains(&self.0)
    }

    /// The reason phrase: the course's table, otherwise a generic phrase for the class.
    pub fn reason(self) -> &'static str {
        let known = match self.0 {
            200 => "OK",
            201 => "Created",
            301 => "Moved Permanently",
            302 => "Found",
            304 => "Not Modified",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            505 => "HTTP Version Not Supported",
            _ => "",
        };
        if !known.is_empty() {
            return known;
        }
        match self.0 / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        }
    }
}

impl fmt::Display for StatusCode {
    /// `404 Not Found`, the way it appears in a status line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_table_phrases() {
        let table = [
            (200, "OK"),
            (201, "Created"),
            (301, "Moved Permanently"),
            (302, "Found"),
            (304, "Not Modified"),
            (307, "Temporary Redirect"),
            (308, "Permanent Redirect"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (408, "Request Timeout"),
            (429, "Too Many Requests"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (502, "Bad Gateway"),
            (503, "Service Unavailable"),
            (504, "Gateway Timeout"),
            (505, "HTTP Version Not Supported"),
        ];
        for (code, phrase) in table {
            assert_eq!(StatusCode::new(code).unwrap().reason(), phrase);
        }
    }

    #[test]
    fn unknown_codes_get_a_generic_phrase() {
        assert_eq!(StatusCode::new(303).unwrap().reason(), "Redirection");
        assert_eq!(StatusCode::new(418).unwrap().reason(), "Client Error");
        assert_eq!(StatusCode::new(299).unwrap().reason(), "Success");
        assert_eq!(StatusCode::new(599).unwrap().reason(), "Server Error");
        assert_eq!(StatusCode::new(103).unwrap().reason(), "Informational");
    }

    #[test]
    fn only_three_digit_codes_exist() {
        assert_eq!(StatusCode::new(99), None);
        assert_eq!(StatusCode::new(1000), None);
        assert_eq!(StatusCode::new(0), None);
        assert_eq!(StatusCode::NOT_FOUND.to_string(), "404 Not Found");
        assert!(StatusCode::FOUND.is_redirection());
        assert!(!StatusCode::OK.is_redirection());
    }
}
