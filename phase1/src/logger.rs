//! The course logger, over the `log` crate.
//!
//! The C course prints ` INFO  function() : message` to stdout, flushes every line, and shows
//! DEBUG lines only when `XPS_DEBUG=1`. We keep that format so the course's milestone logs look
//! the same, but go through the `log` facade: libraries log with the usual macros, and the
//! binary decides where lines go. The macros below add what `log` lacks, the name of the
//! calling function, by passing it as the log *target*.
//!
//! Colours are used only when stdout is a terminal; under the grader stdout is a file.
//!
//! From stage 23 several worker threads log at once. A line names its worker with a prefix
//! (`[w2] INFO  ...`) that each worker thread sets once for itself with [`set_worker`]; the main
//! thread's lines, and every line of a single-threaded stage, have none. Each line is written
//! with one locked write, so lines of different workers never interleave.

use std::cell::Cell;
use std::io::{IsTerminal, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The full path of the function this macro is used in, e.g. `phase1::connection::close`.
#[doc(hidden)]
#[macro_export]
macro_rules! function_path {
    () => {{
        fn here() {}
        fn name_of<T>(_: T) -> &'static str {
            ::std::any::type_name::<T>()
        }
        let name = name_of(here);
        name.strip_suffix("::here").unwrap_or(name)
    }};
}

/// Log at INFO level, naming the calling function.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { ::log::info!(target: $crate::function_path!(), $($arg)+) };
}

/// Log at DEBUG level (shown only with `XPS_DEBUG=1`), naming the calling function.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { ::log::debug!(target: $crate::function_path!(), $($arg)+) };
}

/// Log at WARNING level, naming the calling function.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { ::log::warn!(target: $crate::function_path!(), $($arg)+) };
}

/// Log at ERROR level, naming the calling function.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { ::log::error!(target: $crate::function_path!(), $($arg)+) };
}

thread_local! {
    /// The worker this thread runs (stage 23), numbered from 1; 0 for every other thread.
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Name this thread's log lines after worker `number` (from 1): they start with `[wN]`.
pub fn set_worker(number: usize) {
    WORKER.with(|w| w.set(number));
}

/// The worker number [`set_worker`] gave this thread (0: not a worker thread). Stage 22 counts
/// each worker's accepts under it.
pub fn worker() -> usize {
    WORKER.with(Cell::get)
}

/// The `[wN]` prefix of this thread's lines, or nothing outside a worker.
fn worker_prefix() -> String {
    match WORKER.with(Cell::get) {
        0 => String::new(),
        n => format!("[w{n}]"),
    }
}

/// The logger installed by [`init`].
struct CourseLogger {
    colour: bool,
}

/// Install the course logger. DEBUG lines appear only when the environment variable
/// `XPS_DEBUG` is exactly `1`. Calling it twice is harmless.
pub fn init() {
    let debug = std::env::var("XPS_DEBUG").is_ok_and(|v| v == "1");
    let logger = CourseLogger {
        colour: std::io::stdout().is_terminal(),
    };
    // Leaked once: the logger lives as long as the process.
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(if debug {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        });
    }
}

/// `phase1::connection::close` becomes `connection::close`: the module and the function,
/// which is what a reader needs to find the line. Closures add `::{{closure}}`, dropped here.
/// A trait method implemented elsewhere (`<phase2::session::HttpSession as
/// phase1::session::SessionHandler>::on_client_data`) is named after its type:
/// `HttpSession::on_client_data`.
pub fn short_function_name(path: &str) -> String {
    let unqualified;
    let path = match qualified_parts(path) {
        Some((type_path, rest)) => {
            let type_name = type_path.rsplit("::").next().unwrap_or(type_path);
            unqualified = format!("{type_name}::{rest}");
            unqualified.as_str()
        }
        None => path,
    };
    let parts: Vec<&str> = path.split("::").filter(|p| !p.starts_with('{')).collect();
    let start = parts.len().saturating_sub(2);
    parts[start..].join("::")
}

/// Splits `<Type as Trait>::rest` into `("Type", "rest")`; `None` for a plain path.
fn qualified_parts(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_prefix('<')?;
    let (type_path, after_as) = inner.split_once(" as ")?;
    let (_trait_path, rest) = after_as.split_once(">::")?;
    Some((type_path, rest))
}

/// One formatted line, without colours: ` INFO  connection::close() : peer closed connection`.
pub fn format_line(level: Level, target: &str, message: &str) -> String {
    format!(
        " {}  {}() : {}",
        label(level),
        short_function_name(target),
        message
    )
}

fn label(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug | Level::Trace => "DEBUG",
    }
}

impl Log for CourseLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let worker = worker_prefix();
        let line = if self.colour {
            // The course's colours: red, blue and yellow backgrounds, magenta text for DEBUG;
            // the function name in green.
            let colour = match record.level() {
                Level::Error => "\x1b[41m",
                Level::Warn => "\x1b[43m",
                Level::Info => "\x1b[44m",
                Level::Debug | Level::Trace => "\x1b[35m",
            };
            format!(
                "{worker}{colour}\x1b[1m {} \x1b[0m \x1b[32m{}()\x1b[0m : {}",
                label(record.level()),
                short_function_name(record.target()),
                record.args()
            )
        } else {
            let line = format_line(record.level(), record.target(), &record.args().to_string());
            format!("{worker}{line}")
        };
        // A full disk or a closed stdout must not take the server down: ignore write errors.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_module_and_function() {
        assert_eq!(
            short_function_name("phase1::connection::close"),
            "connection::close"
        );
        assert_eq!(short_function_name("main"), "main");
        assert_eq!(
            short_function_name(
                "<phase2::session::HttpSession as phase1::session::SessionHandler>::on_client_data"
            ),
            "HttpSession::on_client_data"
        );
        assert_eq!(
            short_function_name("phase1::listener::accept::{{closure}}"),
            "listener::accept"
        );
    }

    #[test]
    fn line_has_course_layout() {
        assert_eq!(
            format_line(Level::Info, "main", "Server listening on port 8001"),
            " INFO  main() : Server listening on port 8001"
        );
        assert_eq!(
            format_line(Level::Warn, "phase1::core::run", "SIGINT received"),
            " WARNING  core::run() : SIGINT received"
        );
    }

    #[test]
    fn function_path_names_the_caller() {
        let name = crate::function_path!();
        assert!(name.ends_with("function_path_names_the_caller"), "{name}");
    }
}
