//! The course's stages as the checker knows them: which binary, which kind of server, which
//! ports, and whether it needs the Python upstream.

/// The shape of a stage's server, which decides its ports and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// One TCP port (`--port`, 8080).
    Tcp,
    /// One UDP port (`--port`, 8080).
    Udp,
    /// The stage-5 proxy: one TCP port plus the upstream (`--port`, `--upstream`).
    Proxy,
    /// The phase-1 server: four ports (`--ports`), plus `--upstream` from stage 11.
    Core { upstream: bool },
    /// A config-driven server (stage 16 on): the grader's JSON config names its four ports and
    /// the Python upstream; the config path is its one argument.
    Config,
}

/// One stage of the course.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// The stage's name on the command line: "1" ... "13", "5b".
    pub id: &'static str,
    /// What the stage teaches, for headings.
    pub title: &'static str,
    /// The binary `run-stage` starts and the checks drive (None for stage 0).
    pub binary: Option<&'static str>,
    pub kind: ServerKind,
    /// True if the grader's checks for this stage exist.
    pub has_checks: bool,
}

impl Stage {
    /// True if the stage talks to the Python upstream.
    pub fn needs_upstream(&self) -> bool {
        matches!(
            self.kind,
            ServerKind::Proxy | ServerKind::Core { upstream: true } | ServerKind::Config
        )
    }
}

const fn stage(
    id: &'static str,
    title: &'static str,
    binary: Option<&'static str>,
    kind: ServerKind,
    has_checks: bool,
) -> Stage {
    Stage {
        id,
        title,
        binary,
        kind,
        has_checks,
    }
}

const CORE: ServerKind = ServerKind::Core { upstream: false };
const CORE_UP: ServerKind = ServerKind::Core { upstream: true };

/// Every stage the checker knows, in course order.
pub const STAGES: &[Stage] = &[
    stage("0", "setup", None, ServerKind::Tcp, false),
    stage(
        "1",
        "TCP server",
        Some("stage01_tcp_server"),
        ServerKind::Tcp,
        true,
    ),
    stage(
        "2",
        "TCP client and iterative server",
        Some("stage02_iterative_server"),
        ServerKind::Tcp,
        false,
    ),
    stage(
        "3",
        "UDP server with threads",
        Some("stage03_udp_server"),
        ServerKind::Udp,
        true,
    ),
    stage(
        "4",
        "epoll server",
        Some("stage04_epoll_server"),
        ServerKind::Tcp,
        true,
    ),
    stage(
        "5",
        "TCP proxy",
        Some("stage05_proxy"),
        ServerKind::Proxy,
        true,
    ),
    stage(
        "5b",
        "file transfer",
        Some("stage05b_file_server"),
        ServerKind::Tcp,
        false,
    ),
    stage(
        "6",
        "listener and connection",
        Some("stage06_listener"),
        CORE,
        true,
    ),
    stage("7", "core and loop", Some("stage07_core_loop"), CORE, true),
    stage(
        "8",
        "non-blocking sockets",
        Some("stage08_nonblocking"),
        CORE,
        true,
    ),
    stage(
        "9",
        "edge-triggered epoll",
        Some("stage09_edge_triggered"),
        CORE,
        true,
    ),
    stage("10", "pipes", Some("stage10_pipe"), CORE, true),
    stage("11", "upstream", Some("stage11_upstream"), CORE_UP, true),
    stage("12", "file", Some("stage12_file"), CORE_UP, true),
    stage("13", "session", Some("stage13_session"), CORE_UP, true),
    stage(
        "14",
        "HTTP request",
        Some("stage14_http_request"),
        CORE,
        true,
    ),
    stage(
        "15",
        "HTTP response",
        Some("stage15_http_response"),
        CORE,
        true,
    ),
    stage(
        "16",
        "config",
        Some("stage16_config"),
        ServerKind::Config,
        true,
    ),
    stage(
        "17",
        "directory browsing",
        Some("stage17_directory"),
        ServerKind::Config,
        true,
    ),
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
