//! The MIME type of a file, from its extension (stage 12's `xps_mime`).
//!
//! Phase 1 only needs the lookup to exist (stage 12 does not send types); phase 2 owns the full
//! table used in HTTP responses. The rule is the course's: the extension is what follows the
//! last `.` after the last `/`.

/// The extension of `path`, without the dot, if it has one.
pub fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rfind('.').map(|dot| &name[dot + 1..])
}

/// A few common types; `None` for an unknown or missing extension.
pub fn lookup(path: &str) -> Option<&'static str> {
    let ext = extension(path)?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "text" => "text/plain",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "c" | "h" | "cc" | "cpp" => "text/x-c",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_after_last_slash() {
        assert_eq!(extension("../public/sample.txt"), Some("txt"));
        assert_eq!(extension("dir.d/README"), None);
        assert_eq!(lookup("a/b/cat.JPG"), Some("image/jpeg"));
        assert_eq!(lookup("noext"), None);
    }
}
