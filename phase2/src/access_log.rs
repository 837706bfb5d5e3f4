//! Stage 22 (extension): the access log, one line per request in nginx's `combined` format.
//!
//! ```text
//! 127.0.0.1 - - [02/Dec/2026:01:42:22 +0000] "GET /index.html HTTP/1.1" 200 1234 "-" "curl/8.5.0"
//! ```
//!
//! The fields are the client's address, two dashes (the ident and user nginx rarely knows
//! either), the time, the request line, the status, the body bytes sent, the `Referer` and the
//! `User-Agent`. Every log reader (GoAccess, awstats, `awk '{print $9}'`) understands it.
//!
//! # Never a write per request
//!
//! A `write(2)` per request would cost a system call on the hot path. Lines go into a memory
//! buffer instead; the core's tick ([`phase1::Core::set_tick`]) writes the buffer out once a
//! second, and once more when the server stops (SIGINT, SIGTERM). A buffer that grows past
//! [`FLUSH_AT`] bytes between ticks is written at once, so memory stays bounded under load. The
//! buffer sits behind a mutex so that several workers can share one log, taken only for the
//! copy of a line: no system call is ever made while a request waits for it.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// Where the lines go (the config's top-level `access_log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

/// A buffered access log.
#[derive(Debug)]
pub struct AccessLog {
    buffer: Mutex<Vec<u8>>,
    /// `None`: standard output.
    file: Option<Mutex<File>>,
}

/// Write the buffer out early once it holds this much (64 KiB).
pub const FLUSH_AT: usize = 64 * 1024;

/// What one line says about a request.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub client: IpAddr,
    pub at: SystemTime,
    pub request_line: &'a str,
    pub status: u16,
    pub body_bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl AccessLog {
    /// Open the log (a file is opened for appending, created if missing).
    pub fn open(target: &Target) -> std::io::Result<AccessLog> {
        let file = match target {
            Target::Stdout => None,
            Target::File(path) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
        };
        Ok(AccessLog {
            buffer: Mutex::new(Vec::with_capacity(FLUSH_AT)),
            file,
        })
    }

    /// Add one request's line to the buffer.
    pub fn record(&self, entry: &Entry<'_>) {
        let line = format_line(entry);
        let full = {
            let Ok(mut buffer) = self.buffer.lock() else {
                return;
            };
            buffer.extend_from_slice(line.as_bytes());
            buffer.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    /// Write out what is buffered (the tick, shutdown, or a full buffer).
    pub fn flush(&self) {
        let bytes = match self.buffer.lock() {
            Ok(mut buffer) if !buffer.is_empty() => std::mem::take(&mut *buffer),
            _ => return,
        };
        let written = match &self.file {
            Some(file) => match file.lock() {
                Ok(mut file) => file.write_all(&bytes),
                Err(_) => return,
            },
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes).and_then(|()| out.flush())
            }
        };
        if let Err(error) = written {
            phase1::error!("cannot write the access log: {error}");
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One line of the `combined` format, with its newline.
pub fn format_line(entry: &Entry<'_>) -> String {
    let quoted = |value: Option<&str>| match value {
        None | Some("") => "-".to_string(),
        Some(value) => escape(value),
    };
    format!(
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\"\n",
        entry.client,
        local_time(entry.at),
        escape(entry.request_line),
        entry.status,
        entry.body_bytes,
        quoted(entry.referer),
        quoted(entry.user_agent),
    )
}

/// A value inside double quotes: `"` and `\` escaped, control bytes as `\xHH`, as nginx does.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// nginx's `$time_local`, in UTC: `02/Dec/2026:01:42:22 +0000`.
fn local_time(at: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_line_in_the_combined_format() {
        let entry = Entry {
            client: "127.0.0.1".parse().expect("address"),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_175_742),
            request_line: "GET /a\"b HTTP/1.1",
            status: 200,
            body_bytes: 1234,
            referer: None,
            user_agent: Some("curl/8.5.0"),
        };
        assert_eq!(
            format_line(&entry),
            "127.0.0.1 - - [02/Dec/2026:01:42:22 +0000] \"GET /a\\\"b HTTP/1.1\" 200 1234 \"-\" \"curl/8.5.0\"\n"
        );
    }

    #[test]
    fn dates_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
