//! The stage: the files, the three servers (expserver, nginx, the upstream), and the check that
//! each one answers right before anything is measured.
//!
//! Both measured servers run on [`SERVER_CPU`], the upstream on [`CLIENT_CPU`] next to wrk, so
//! the upstream's work is not charged to the proxy being measured. Every process is a [`Proc`],
//! killed with its process group when [`Servers`] is dropped, on every exit path.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{nginx, pin, probe, Tools, CLIENT_CPU, SERVER_CPU, START_TIMEOUT};
use crate::ports::{free_tcp_ports, wait_bound, Proto};
use crate::process::Proc;

/// The size of the small file.
pub const SMALL_BYTES: usize = 1024;
/// The size of the large file.
pub const LARGE_BYTES: usize = 100 << 20;
/// The small file's URL path.
pub const SMALL_PATH: &str = "/small.txt";
/// The large file's URL path.
pub const LARGE_PATH: &str = "/large.bin";
/// The size of the text file gzipped in row g.
pub const TEXT_BYTES: usize = 1 << 20;
/// The text file's URL path.
pub const TEXT_PATH: &str = "/text.txt";
/// The body the upstream answers every proxied request with.
pub const UPSTREAM_BODY: &str =
    "hello from the upstream: a small fixed body for the proxy benchmark\n";

/// Generates the served files, a 1 KiB text file and a 100 MiB binary file, readable by everyone.
pub fn write_files(public: &Path) -> Result<()> {
    fs::create_dir_all(public)?;
    let small: Vec<u8> = (0..SMALL_BYTES)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37])
        .collect();
    fs::write(public.join("small.txt"), small)?;
    fs::write(public.join("text.txt"), prose(TEXT_BYTES))?;
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut large = fs::File::create(public.join("large.bin"))?;
    for _ in 0..LARGE_BYTES / block.len() {
        large.write_all(&block)?;
    }
    make_world_readable(public)
}

/// `len` bytes of English-like prose: words drawn from a small vocabulary by a fixed
/// pseudo-random sequence, in sentences and lines. It compresses about as well as real text
/// (around 3x at level 6), so gzipping it costs what gzipping a real page costs; a file of one
/// repeated line would compress almost for free.
pub fn prose(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "server",
        "accepts",
        "a",
        "connection",
        "and",
        "reads",
        "request",
        "from",
        "client",
        "every",
        "worker",
        "has",
        "its",
        "own",
        "event",
        "loop",
        "with",
        "listener",
        "pipe",
        "session",
        "upstream",
        "file",
        "when",
        "socket",
        "is",
        "ready",
        "kernel",
        "wakes",
        "one",
        "thread",
        "that",
        "waits",
        "in",
        "epoll",
        "buffer",
        "holds",
        "bytes",
        "until",
        "sink",
        "can",
        "take",
        "them",
        "response",
        "header",
        "body",
        "sent",
        "over",
        "network",
        "to",
        "browser",
        "which",
        "shows",
        "page",
        "students",
        "build",
        "this",
        "stage",
        "by",
        "stage",
        "timer",
        "closes",
        "idle",
        "connections",
        "after",
        "timeout",
        "metrics",
        "count",
        "requests",
        "gzip",
        "compresses",
        "text",
        "before",
        "it",
        "leaves",
        "machine",
        "load",
        "balancer",
        "picks",
        "next",
        "healthy",
        "address",
        "filter",
        "denies",
        "unknown",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut line = 0;
    let mut sentence = 0;
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word = WORDS[(state % WORDS.len() as u64) as usize];
        if sentence == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase().to_string().bytes());
                out.extend(chars.as_str().bytes());
            }
        } else {
            out.extend_from_slice(word.as_bytes());
        }
        sentence += 1;
        line += word.len() + 1;
        if sentence > 6 && (state >> 20).is_multiple_of(5) {
            out.push(b'.');
            sentence = 0;
        }
        if line > 72 {
            out.push(b'\n');
            line = 0;
        } else {
            out.push(b' ');
        }
    }
    out.truncate(len);
    out
}

/// nginx's worker runs as `nobody`: it needs every file readable by others and every folder on
/// the way to them searchable (o+x). Sets the bits in `public` and on its ancestors.
fn make_world_readable(public: &Path) -> Result<()> {
    fs::set_permissions(public, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(public)? {
        let path = entry?.path();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    }
    for dir in public.ancestors().skip(1) {
        let mode = fs::metadata(dir)?.permissions().mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o005))
                .with_context(|| format!("cannot open {} to nginx's worker", dir.display()))?;
        }
    }
    Ok(())
}

/// Starts `argv` in `dir` with its output in `dir/<name>.log`, and waits until it listens on
/// `ports`.
pub fn start(name: &str, argv: Vec<String>, dir: &Path, ports: &[u16]) -> Result<Proc> {
    let mut proc = Proc::spawn(&argv, dir, &[], &dir.join(format!("{name}.log")))?;
    wait_bound(&mut proc, ports, Proto::Tcp, START_TIMEOUT)
        .with_context(|| format!("{name} did not start"))?;
    Ok(proc)
}

/// Writes an nginx config under `prefix` and returns the command line that runs it.
pub fn nginx_argv(
    nginx: &Path,
    prefix: &Path,
    servers: &str,
    mode: nginx::Mode,
    connections: usize,
) -> Result<Vec<String>> {
    fs::create_dir_all(prefix)?;
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, nginx::config(prefix, servers, mode, connections))?;
    Ok(nginx::argv(nginx, prefix, &conf))
}

/// expserver's config: a file server on `public` and, given `(port, upstream)`, a reverse proxy.
pub fn expserver_config(public: &Path, file: u16, proxy: Option<(u16, u16)>) -> serde_json::Value {
    let mut servers = vec![serde_json::json!({
        "listeners": [{ "host": "127.0.0.1", "port": file }],
        "routes": [{ "req_path": "/", "type": "file_serve", "dir_path": public, "index": ["index.html"] }]
    })];
    if let Some((port, upstream)) = proxy {
        servers.push(serde_json::json!({
            "listeners": [{ "host": "127.0.0.1", "port": port }],
            "routes": [{ "req_path": "/", "type": "reverse_proxy", "upstreams": [format!("127.0.0.1:{upstream}")] }]
        }));
    }
    serde_json::json!({
        "server_name": "eXpServer",
        "workers": 1,
        // As long as the bench runs, like nginx's keepalive_timeout and client_header_timeout:
        // the idle connections of row e (which never send a request) must stay open.
        "keep_alive_timeout_ms": 300_000,
        "client_header_timeout_ms": 300_000,
        "servers": servers
    })
}

/// Which port of each server does what; index 0 is expserver, 1 nginx (as in
/// [`super::report::SERVERS`]).
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub file: [u16; 2],
    pub proxy: [u16; 2],
    pub upstream: u16,
}

/// The running servers. Dropping it kills them all.
pub struct Servers {
    pub expserver: Proc,
    pub nginx: Proc,
    _upstream: Proc,
    pub ports: Ports,
    /// The processes that do the work, for RSS: expserver itself and nginx's worker.
    pub workers: [u32; 2],
    pub dir: PathBuf,
}

impl Servers {
    /// Starts the upstream, nginx (with room for `nginx_connections`) and expserver, serving
    /// `public`, with their configs and logs in `dir`.
    pub fn start(
        tools: &Tools,
        expserver: &Path,
        dir: &Path,
        public: &Path,
        nginx_connections: usize,
    ) -> Result<Servers> {
        let free = free_tcp_ports(5)?;
        let ports = Ports {
            file: [free[0], free[1]],
            proxy: [free[2], free[3]],
            upstream: free[4],
        };

        // The upstream: its own nginx, on the client CPU, shared by both proxies.
        let upstream_servers = format!(
            "  server {{ listen 127.0.0.1:{}; location / {{ default_type text/plain; return 200 \"{}\"; }} }}\n",
            ports.upstream,
            UPSTREAM_BODY.escape_default()
        );
        let mut argv = pin(&tools.taskset, CLIENT_CPU);
        argv.extend(nginx_argv(
            &tools.nginx,
            &dir.join("upstream"),
            &upstream_servers,
            nginx::Mode::Workers(1),
            4096,
        )?);
        let upstream = start("upstream", argv, dir, &[ports.upstream])?;

        let nginx_servers = format!(
            "  server {{ listen 127.0.0.1:{}; root {}; }}\n  server {{ listen 127.0.0.1:{}; \
             location / {{ proxy_pass http://127.0.0.1:{}; }} }}\n",
            ports.file[1],
            public.display(),
            ports.proxy[1],
            ports.upstream
        );
        let mut argv = pin(&tools.taskset, SERVER_CPU);
        argv.extend(nginx_argv(
            &tools.nginx,
            &dir.join("nginx"),
            &nginx_servers,
            nginx::Mode::Workers(1),
            nginx_connections,
        )?);
        let nginx = start("nginx", argv, dir, &[ports.file[1], ports.proxy[1]])?;

        let config = dir.join("expserver.json");
        let json = expserver_config(
            public,
            ports.file[0],
            Some((ports.proxy[0], ports.upstream)),
        );
        fs::write(&config, serde_json::to_string_pretty(&json)?)?;
        let mut argv = pin(&tools.taskset, SERVER_CPU);
        argv.extend([
            expserver.to_string_lossy().into_owned(),
            config.to_string_lossy().into_owned(),
        ]);
        let exp = start("expserver", argv, dir, &[ports.file[0], ports.proxy[0]])?;

        let nginx_worker =
            nginx::worker_pid(nginx.pid()).context("cannot find nginx's worker process")?;
        let workers = [exp.pid(), nginx_worker];
        // taskset runs the server in its own process (exec): make sure the RSS read is the
        // server's.
        for (pid, name) in workers.iter().zip(super::report::SERVERS) {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() != name {
                bail!(
                    "process {pid} should be {name}'s worker but is {:?}",
                    comm.trim()
                );
            }
        }
        Ok(Servers {
            expserver: exp,
            nginx,
            _upstream: upstream,
            ports,
            workers,
            dir: dir.to_path_buf(),
        })
    }

    /// One request per server and URL: a 200 with the right length, or an error that says what
    /// came back.
    pub fn probe(&self) -> Result<()> {
        for (s, server) in super::report::SERVERS.iter().enumerate() {
            let (file, proxy) = (self.ports.file[s], self.ports.proxy[s]);
            probe::expect_ok(server, file, SMALL_PATH, SMALL_BYTES as u64)?;
            probe::expect_ok(server, file, LARGE_PATH, LARGE_BYTES as u64)?;
            probe::expect_ok(server, proxy, "/", UPSTREAM_BODY.len() as u64)?;
        }
        Ok(())
    }

    /// Fails with the server's output if either measured server has stopped.
    pub fn check_running(&mut self, during: &str) -> Result<()> {
        for (name, proc) in [
            ("expserver", &mut self.expserver),
            ("nginx", &mut self.nginx),
        ] {
            if !proc.is_running() {
                bail!(
                    "{name} stopped during {during}; its output:\n{}",
                    proc.log_tail(2000)
                );
            }
        }
        Ok(())
    }

    /// How much expserver has logged so far, in bytes.
    pub fn expserver_log_size(&self) -> u64 {
        fs::metadata(self.dir.join("expserver.log")).map_or(0, |m| m.len())
    }
}
