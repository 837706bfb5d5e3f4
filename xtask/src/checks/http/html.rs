//! Reading the links out of a directory listing, the way the grader's `cheerio` query
//! `table tr td a` sees them.
//!
//! The listing is generated HTML with a known shape, so a full HTML parser is not needed: a scan
//! over the tags that tracks whether we are inside a `<table>` and a `<td>` finds every `<a>` the
//! grader would find, and reads its `href` the way a browser does (quoted or not, entities such as
//! `&amp;` decoded).

/// The `href` of every `<a>` inside a `<td>` inside a `<table>`, in document order.
pub fn table_links(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut table_depth = 0usize;
    let mut cell_depth = 0usize;
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after.find("-->").map(|end| &after[end + 3..]).unwrap_or("");
            continue;
        }
        let Some(close) = tag_end(rest) else {
            break;
        };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name_len = body
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .unwrap_or(body.len());
        let name = body[..name_len].to_ascii_lowercase();
        let attributes = &body[name_len..];
        match (name.as_str(), closing) {
            ("table", false) => table_depth += 1,
            ("table", true) => {
                table_depth = table_depth.saturating_sub(1);
                if table_depth == 0 {
                    cell_depth = 0;
                }
            }
            ("td", false) => cell_depth += 1,
            ("td", true) => cell_depth = cell_depth.saturating_sub(1),
            // A new row or cell ends an unclosed cell, as HTML's implied end tags do.
            ("tr", _) => cell_depth = 0,
            ("a", false) if table_depth > 0 && cell_depth > 0 => {
                if let Some(href) = attribute(attributes, "href") {
                    links.push(href);
                }
            }
            _ => {}
        }
    }
    links
}

/// The index of the `>` that ends a tag, skipping `>` inside quoted attribute values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The value of attribute `wanted` in a tag's attribute text, entities decoded.
fn attribute(attributes: &str, wanted: &str) -> Option<String> {
    let mut rest = attributes;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return None;
        }
        let name_len = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        rest = rest[name_len..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, next) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let end = inner.find(q).unwrap_or(inner.len());
                    (&inner[..end], inner.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            rest = next;
            value
        } else {
            ""
        };
        if name == wanted {
            return Some(decode_entities(value));
        }
    }
}

/// Decodes the character references a listing may use in an attribute.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let number = if let Some(hex) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                number.and_then(char::from_u32)
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_cells_only() {
        let html = "<html><body><a href='/outside'>x</a><table>\
            <tr><td><a href='/cat.jpg'>cat.jpg</a></td></tr>\
            <tr><td><a href=\"/test\">test/</a></td><td></td></tr>\
            <tr><th><a href='/header'>h</a></th></tr>\
            <tr><td><A HREF=/a&amp;b.txt>a&amp;b.txt</A></td></tr>\
            </table><a href='/after'>y</a></body></html>";
        assert_eq!(table_links(html), vec!["/cat.jpg", "/test", "/a&b.txt"]);
    }

    #[test]
    fn quoted_angle_brackets_and_comments() {
        let html =
            "<table><!-- <td><a href='/no'> --><tr><td title='a>b'><a class=x href='/yes'>y</a>";
        assert_eq!(table_links(html), vec!["/yes"]);
    }

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a&amp;b&#47;c&#x41;&bogus"), "a&b/cA&bogus");
    }
}
