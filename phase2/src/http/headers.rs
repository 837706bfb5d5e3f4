//! An ordered list of header fields with case-insensitive names.
//!
//! HTTP header names are case-insensitive: a browser sends `Host`, Node's `fetch` sends `host`,
//! and both must be found by `get("Host")`. The course keeps headers as a list of key/value pairs
//! in arrival order (`xps_keyval_t`); we do the same, because order matters when a request head is
//! re-serialised for an upstream, and a list of a dozen entries is faster to scan than a map.

/// One `Name: value` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// Header fields in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<Header>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// The value of the first field called `name` (any case), like `xps_http_get_header`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of the fields called `name`, in order (a request may repeat a header).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// True if a field called `name` (any case) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Add a field at the end, even if one with the same name exists (request parsing keeps
    /// every field it was sent).
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push(Header {
            name: name.into(),
            value: clean_value(value.into()),
        });
    }

    /// Set a field: the first field with that name (any case) gets the new name and value in
    /// place and any later duplicates are removed; otherwise the field is added at the end.
    /// Responses use this so they never carry two `Content-Type`s.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = clean_value(value.into());
        match self
            .fields
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                let mut index = 0;
                self.fields.retain(|h| {
                    let keep = index <= first || !h.name.eq_ignore_ascii_case(&name);
                    index += 1;
                    keep
                });
                self.fields[first] = Header { name, value };
            }
            None => self.fields.push(Header { name, value }),
        }
    }

    /// Remove every field called `name` (any case).
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.fields.iter()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Append `Name: value\r\n` for every field to `out` (the course's
    /// `xps_http_serialize_headers`, with CRLF instead of LF because strict clients need it).
    pub fn serialize_into(&self, out: &mut String) {
        for h in &self.fields {
            out.push_str(&h.name);
            out.push_str(": ");
            out.push_str(&h.value);
            out.push_str("\r\n");
        }
    }
}

/// A value must never break the head apart: a CR or LF inside it would let whoever controls the
/// value (a config file, an upstream) inject headers. Control characters become spaces.
fn clean_value(value: String) -> String {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        value
            .chars()
            .map(|c| {
                if c.is_ascii_control() && c != '\t' {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case() {
        let mut h = Headers::new();
        h.append("host", "example.com");
        assert_eq!(h.get("Host"), Some("example.com"));
        assert_eq!(h.get("HOST"), Some("example.com"));
        assert_eq!(h.get("hosts"), None);
        assert!(h.contains("hOsT"));
    }

    #[test]
    fn get_returns_the_first_and_get_all_every_value() {
        let mut h = Headers::new();
        h.append("Accept", "a");
        h.append("X", "1");
        h.append("accept", "b");
        assert_eq!(h.get("accept"), Some("a"));
        assert_eq!(h.get_all("ACCEPT").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn set_replaces_in_place_and_removes_duplicates() {
        let mut h = Headers::new();
        h.append("Content-Type", "text/plain");
        h.append("Server", "eXpServer");
        h.append("content-type", "text/html");
        h.set("CONTENT-TYPE", "image/png");
        let fields: Vec<_> = h
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            fields,
            [("CONTENT-TYPE", "image/png"), ("Server", "eXpServer")]
        );
        h.set("Location", "/x");
        assert_eq!(h.iter().last().unwrap().name, "Location");
    }

    #[test]
    fn remove_drops_every_copy() {
        let mut h = Headers::new();
        h.append("A", "1");
        h.append("a", "2");
        h.append("B", "3");
        h.remove("A");
        assert_eq!(h.len(), 1);
        assert!(!h.is_empty());
        assert_eq!(h.get("b"), Some("3"));
    }

    #[test]
    fn serialize_uses_crlf() {
        let mut h = Headers::new();
        h.append("Host", "x");
        h.append("Accept", "*/*");
        let mut out = String::new();
        h.serialize_into(&mut out);
        assert_eq!(out, "Host: x\r\nAccept: */*\r\n");
    }

    #[test]
    fn values_cannot_inject_lines() {
        let mut h = Headers::new();
        h.set("Location", "http://a/\r\nSet-Cookie: x=1");
        assert_eq!(h.get("location"), Some("http://a/  Set-Cookie: x=1"));
        h.append("X", "a\tb\0c");
        assert_eq!(h.get("x"), Some("a\tb c"));
    }
}
