//! Stage 17: directory listings, checked the way the grader reads them.
//!
//! The grader fetches a folder, requires `Content-Type: text/html` exactly, collects the `href`
//! of every `table tr td a` and requires every expected link to be there (extra links are fine).
//! Its "full directory walk" then visits each link: folders must list their own entries, files
//! must carry their exact MIME type. The grader's expected links are a fixed model of its public
//! folder; the checker derives the same model from the layout's `public/` folder, so the two agree
//! on the repository's sample files and the check keeps working if files are added.

use std::fs;
use std::path::{Path, PathBuf};

use super::client::{fetch, Response};
use super::html::table_links;
use super::Problems;
use crate::checks::Verdict;
use crate::runner::StageRun;

/// How many redirects the walk follows, as `fetch` does (it allows 20; a listing needs at most 1).
const MAX_REDIRECTS: usize = 5;

/// The links a listing of `url` (a folder's URL path, "/" or "/test") must contain: one per
/// visible entry of `dir`, `<url without trailing slash>/<name>`.
pub fn expected_links(dir: &Path, url: &str) -> Result<Vec<String>, String> {
    let base = url.trim_end_matches('/');
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| format!("{base}/{name}"))
        .collect())
}

/// The MIME type the grader requires for a file, from its extension.
pub fn mime_for(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        "txt" | "text" => "text/plain",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "png" => "image/png",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// Fetches `path`, following redirects within the server as `fetch` does.
fn fetch_following(port: u16, path: &str) -> Result<(Response, String), String> {
    let mut path = path.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = fetch(port, &path)?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok((response, path));
        }
        let location = response
            .header("location")
            .ok_or_else(|| format!("{path}: a redirect without Location"))?;
        path = same_server_path(&location, port)
            .ok_or_else(|| format!("{path}: redirected off the server, to {location}"))?;
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// The path of `location` if it points back at this server.
fn same_server_path(location: &str, port: u16) -> Option<String> {
    if location.starts_with('/') {
        return Some(location.to_string());
    }
    for host in ["localhost", "127.0.0.1"] {
        if let Some(rest) = location.strip_prefix(&format!("http://{host}:{port}")) {
            return Some(if rest.is_empty() {
                "/".into()
            } else {
                rest.to_string()
            });
        }
    }
    None
}

/// Verify Headers (`//`) and Verify file serving (`//sample.pdf`): status and exact type.
pub fn status_and_type(port: u16, path: &str, content_type: &str) -> Verdict {
    let response = fetch(port, path)?;
    let mut problems = Problems::default();
    problems.expect_status(&response, 200);
    problems.expect_header(
        "content-type",
        response.header("content-type").as_deref(),
        content_type,
    );
    problems.expect_crlf(&response);
    problems.verdict(response.summary())
}

/// Verify population of content: `/` is text/html and lists every entry of `public/`.
pub fn root_listing(run: &StageRun, port: u16) -> Verdict {
    let want = expected_links(&run.layout.public(), "/")?;
    let response = fetch(port, "/")?;
    let mut problems = Problems::default();
    problems.expect_header(
        "content-type",
        response.header("content-type").as_deref(),
        "text/html",
    );
    problems.expect_crlf(&response);
    let links = check_links(&response, &want, &mut problems);
    problems.verdict(format!("{}; links {links:?}", response.summary()))
}

/// Compares a listing's links with the expected ones; returns the links found.
fn check_links(response: &Response, want: &[String], problems: &mut Problems) -> Vec<String> {
    let html = String::from_utf8_lossy(&response.body);
    let links = table_links(&html);
    let missing: Vec<&String> = want.iter().filter(|w| !links.contains(w)).collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing links {missing:?} (found {links:?} in `table tr td a`)"
        ));
    }
    links
}

/// Full Directory walk: every folder under `public/` lists its entries as text/html; every
/// file comes back (200, exact bytes) with its exact MIME type.
pub fn walk(run: &StageRun, port: u16) -> Verdict {
    let mut problems = Problems::default();
    let mut visited = Vec::new();
    let mut queue: Vec<(String, PathBuf)> = vec![("/".into(), run.layout.public())];
    while let Some((url, path)) = queue.pop() {
        let (response, landed) = match fetch_following(port, &url) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{url}: {e}"));
                continue;
            }
        };
        visited.push(url.clone());
        let content_type = response.header("content-type").unwrap_or_default();
        if path.is_dir() {
            let want = expected_links(&path, &url)?;
            if content_type != "text/html" {
                problems.push(format!(
                    "{url}: content-type \"{content_type}\", expected \"text/html\""
                ));
            }
            let mut local = Problems::default();
            check_links(&response, &want, &mut local);
            problems.extend_prefixed(&url, local);
            for link in want {
                let name = link.rsplit('/').next().unwrap_or_default().to_string();
                queue.push((link, path.join(name)));
            }
        } else {
            let mime = mime_for(&url);
            if content_type != mime {
                problems.push(format!(
                    "{url}: content-type \"{content_type}\", expected \"{mime}\""
                ));
            }
            if response.status != 200 {
                problems.push(format!(
                    "{url} (landed on {landed}): status {}, expected 200",
                    response.status
                ));
            }
            let want =
                fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if response.body != want {
                problems.push(format!(
                    "{url}: the body ({} bytes) is not the file ({} bytes)",
                    response.body.len(),
                    want.len()
                ));
            }
        }
    }
    visited.sort();
    problems.verdict(format!(
        "visited {} URLs: {}",
        visited.len(),
        visited.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types() {
        assert_eq!(mime_for("/test/cat.JPG"), "image/jpeg");
        assert_eq!(mime_for("/xps_config.json"), "application/json");
        assert_eq!(mime_for("/README"), "application/octet-stream");
    }

    #[test]
    fn redirects_back_to_the_server() {
        assert_eq!(same_server_path("/test/", 9), Some("/test/".into()));
        assert_eq!(
            same_server_path("http://localhost:9/test/", 9),
            Some("/test/".into())
        );
        assert_eq!(same_server_path("http://127.0.0.1:9", 9), Some("/".into()));
        assert_eq!(same_server_path("https://expserver.github.io", 9), None);
    }

    #[test]
    fn links_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.txt"), "b").unwrap();
        fs::write(dir.path().join(".hidden"), "h").unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        assert_eq!(expected_links(dir.path(), "/").unwrap(), ["/a", "/b.txt"]);
        assert_eq!(
            expected_links(dir.path(), "/test/").unwrap(),
            ["/test/a", "/test/b.txt"]
        );
    }
}
