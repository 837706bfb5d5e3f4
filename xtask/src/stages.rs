//! The registry: every stage of the course as the checker knows it, one entry per stage.
//!
//! An entry says everything the checker needs about a stage, so nothing else in `xtask` asks
//! "which stage is this?": the binary, the shape of its command line ([`ServerKind`]), the
//! programs it needs beside it ([`Helper`]), the config it starts with, the grader's checks
//! ([`Checks`]) and the demo of its flaw, if it has one.
//!
//! Adding a stage (18-23) is adding one entry to [`STAGES`]: write its check list as a
//! `fn(&Ctx) -> Vec<Check>` (next to the checks it uses, in `checks/`), a config writer if it
//! needs a config of its own, and name them here. A stage whose entry says
//! [`Checks::Grader`] must produce at least one check: an empty list fails the run instead of
//! passing it silently. Stages the grader does not test say so with [`Checks::None`].

use std::path::PathBuf;

use anyhow::Result;

use crate::checks::{self, http, Check, Ctx};
use crate::flaws;
use crate::layout::Layout;
use crate::runner::StageRun;
use crate::target::Ports;

/// The shape of a stage's server, which decides its ports and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// One TCP port (`--port`, 8080).
    Tcp,
    /// One UDP port (`--port`, 8080).
    Udp,
    /// The phase-1 server: four ports (`--ports`, 8001-8004).
    Core,
    /// A config-driven server (stage 16 on): its config names its four ports and the upstream;
    /// the config path is its one argument.
    Config,
}

/// A program the checker starts next to the server, before every (re)start of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    /// Python's `http.server` on the upstream port (3000), serving `public/`, like the grader's
    /// container. Our binaries that take flags get `--upstream 127.0.0.1:<port>`.
    PythonUpstream,
}

/// What the official grader checks for a stage.
#[derive(Clone, Copy, Debug)]
pub enum Checks {
    /// The grader has no checks for this stage (0, 2, 5-b); the end-to-end tests cover it.
    None,
    /// The grader's checks, in its order, built for the run's ports and options.
    Grader(fn(&Ctx) -> Vec<Check>),
}

/// Writes the config a stage starts with for `ports` into the layout and returns its path (the
/// argument the server gets).
pub type ConfigWriter = fn(&Layout, &Ports) -> Result<PathBuf>;

/// Starts a stage's demo on a running server and prints what it shows.
pub type Demo = fn(&mut StageRun) -> Result<()>;

/// One stage of the course.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// The stage's name on the command line: "1" ... "17", "5b".
    pub id: &'static str,
    /// What the stage teaches, for headings.
    pub title: &'static str,
    /// The binary `run-stage` starts and the checks drive (None for stage 0).
    pub binary: Option<&'static str>,
    pub kind: ServerKind,
    /// What must run beside the server.
    pub helpers: &'static [Helper],
    /// The config the server starts with; `None` means the grader's `public/xps_config.json`
    /// as it is (stages before 16 ignore it, as under the grader).
    pub config: Option<ConfigWriter>,
    pub checks: Checks,
    /// `cargo xtask demo N`: measures the flaw the stage keeps on purpose (or its fix).
    pub demo: Option<Demo>,
}

impl Stage {
    /// True if `helper` must run beside the server.
    pub fn needs(&self, helper: Helper) -> bool {
        self.helpers.contains(&helper)
    }

    /// True if the grader has checks for this stage.
    pub fn has_checks(&self) -> bool {
        matches!(self.checks, Checks::Grader(_))
    }
}

const UPSTREAM: &[Helper] = &[Helper::PythonUpstream];

/// Every stage the checker knows, in course order.
pub const STAGES: &[Stage] = &[
    Stage {
        id: "0",
        title: "setup",
        binary: None,
        kind: ServerKind::Tcp,
        helpers: &[],
        config: None,
        checks: Checks::None,
        demo: None,
    },
    Stage {
        id: "1",
        title: "TCP server",
        binary: Some("stage01_tcp_server"),
        kind: ServerKind::Tcp,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage1),
        demo: None,
    },
    Stage {
        id: "2",
        title: "TCP client and iterative server",
        binary: Some("stage02_iterative_server"),
        kind: ServerKind::Tcp,
        helpers: &[],
        config: None,
        checks: Checks::None,
        demo: None,
    },
    Stage {
        id: "3",
        title: "UDP server with threads",
        binary: Some("stage03_udp_server"),
        kind: ServerKind::Udp,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage3),
        demo: None,
    },
    Stage {
        id: "4",
        title: "epoll server",
        binary: Some("stage04_epoll_server"),
        kind: ServerKind::Tcp,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage4),
        demo: None,
    },
    Stage {
        id: "5",
        title: "TCP proxy",
        binary: Some("stage05_proxy"),
        kind: ServerKind::Tcp,
        helpers: UPSTREAM,
        config: None,
        checks: Checks::Grader(checks::stage5),
        demo: None,
    },
    Stage {
        id: "5b",
        title: "file transfer",
        binary: Some("stage05b_file_server"),
        kind: ServerKind::Tcp,
        helpers: &[],
        config: None,
        checks: Checks::None,
        demo: None,
    },
    Stage {
        id: "6",
        title: "listener and connection",
        binary: Some("stage06_listener"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage6),
        demo: None,
    },
    Stage {
        id: "7",
        title: "core and loop",
        binary: Some("stage07_core_loop"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage7),
        demo: Some(flaws::freeze_demo),
    },
    Stage {
        id: "8",
        title: "non-blocking sockets",
        binary: Some("stage08_nonblocking"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage8),
        demo: Some(flaws::level_triggered_demo),
    },
    Stage {
        id: "9",
        title: "edge-triggered epoll",
        binary: Some("stage09_edge_triggered"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage9),
        demo: Some(flaws::edge_triggered_demo),
    },
    Stage {
        id: "10",
        title: "pipes",
        binary: Some("stage10_pipe"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(checks::stage10),
        demo: Some(flaws::pipes_demo),
    },
    Stage {
        id: "11",
        title: "upstream",
        binary: Some("stage11_upstream"),
        kind: ServerKind::Core,
        helpers: UPSTREAM,
        config: None,
        checks: Checks::Grader(checks::stage11),
        demo: None,
    },
    Stage {
        id: "12",
        title: "file",
        binary: Some("stage12_file"),
        kind: ServerKind::Core,
        helpers: UPSTREAM,
        config: None,
        checks: Checks::Grader(checks::stage12),
        demo: None,
    },
    Stage {
        id: "13",
        title: "session",
        binary: Some("stage13_session"),
        kind: ServerKind::Core,
        helpers: UPSTREAM,
        config: None,
        checks: Checks::Grader(checks::stage13),
        demo: None,
    },
    Stage {
        id: "14",
        title: "HTTP request",
        binary: Some("stage14_http_request"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(http::stage14),
        demo: None,
    },
    Stage {
        id: "15",
        title: "HTTP response",
        binary: Some("stage15_http_response"),
        kind: ServerKind::Core,
        helpers: &[],
        config: None,
        checks: Checks::Grader(http::stage15),
        demo: None,
    },
    Stage {
        id: "16",
        title: "config",
        binary: Some("stage16_config"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(http::config::graders),
        checks: Checks::Grader(http::stage16),
        demo: None,
    },
    Stage {
        id: "17",
        title: "directory browsing",
        binary: Some("stage17_directory"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(http::config::graders),
        checks: Checks::Grader(http::stage17),
        demo: None,
    },
    Stage {
        id: "18",
        title: "IP allow and deny lists",
        binary: Some("stage18_ip_filter"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(http::ip_filter::config),
        checks: Checks::Grader(http::stage18),
        demo: None,
    },
    Stage {
        id: "19",
        title: "gzip",
        binary: Some("stage19_gzip"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(http::gzip::config),
        checks: Checks::Grader(http::stage19),
        demo: None,
    },
    Stage {
        id: "20",
        title: "load balancing",
        binary: Some("stage20_load_balancing"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(checks::balance::config),
        checks: Checks::Grader(checks::balance::stage20),
        demo: None,
    },
    Stage {
        id: "21",
        title: "timeouts",
        binary: Some("stage21_timeouts"),
        kind: ServerKind::Config,
        // Python for the checks of stages 17-18; the timeout checks then stop it and put their
        // own upstream (silent, or unreachable) on the upstream port.
        helpers: UPSTREAM,
        config: Some(checks::timeouts::config),
        checks: Checks::Grader(checks::timeouts::stage21),
        demo: None,
    },
    Stage {
        id: "22",
        title: "metrics and the access log",
        binary: Some("stage22_metrics"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(http::metrics::config),
        checks: Checks::Grader(http::stage22),
        demo: None,
    },
    Stage {
        id: "23",
        title: "worker threads",
        binary: Some("stage23_multithreading"),
        kind: ServerKind::Config,
        helpers: UPSTREAM,
        config: Some(checks::workers::config),
        checks: Checks::Grader(checks::workers::stage23),
        demo: None,
    },
];

/// Finds a stage by its name ("5b" and "5-b" both work).
pub fn find(id: &str) -> Option<&'static Stage> {
    let id = id.trim().to_ascii_lowercase().replace('-', "");
    let id = id
        .strip_prefix("stage")
        .unwrap_or(&id)
        .trim_start_matches('0');
    let id = if id.is_empty() { "0" } else { id };
    STAGES.iter().find(|s| s.id == id)
}

/// The ids of the stages that match `keep`, for messages: consecutive numbers written as ranges,
/// then the others ("1, 3-17" for the stages with checks, "0-17, 5b" for all).
pub fn list(keep: impl Fn(&Stage) -> bool) -> String {
    let kept: Vec<&Stage> = STAGES.iter().filter(|s| keep(s)).collect();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for number in kept.iter().filter_map(|s| s.id.parse::<u32>().ok()) {
        match ranges.last_mut() {
            Some(range) if range.1 + 1 == number => range.1 = number,
            _ => ranges.push((number, number)),
        }
    }
    let numbered = ranges.into_iter().map(|(first, last)| {
        if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        }
    });
    let others = kept
        .iter()
        .filter(|s| s.id.parse::<u32>().is_err())
        .map(|s| s.id.to_string());
    numbered.chain(others).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_lists_are_written_as_ranges() {
        assert_eq!(list(Stage::has_checks), "1, 3-23");
        assert_eq!(list(|s| s.demo.is_some()), "7-10");
        assert_eq!(list(|s| !s.has_checks()), "0, 2, 5b");
        assert_eq!(list(|_| true), "0-23, 5b");
    }
}
