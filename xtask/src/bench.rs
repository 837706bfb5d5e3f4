//! `cargo xtask bench`: the finished server next to nginx, on the same files and the same machine.
//!
//! The course promises a server "fast enough to stand next to nginx"; this puts a number on it.
//! Both servers get one worker, no access log, the same generated files and the same upstream, and
//! `wrk` drives them one after the other with the same flags. Three rows are measured:
//!
//! - requests/s for a 1 KiB file (small responses: per-request overhead),
//! - MiB/s for a 100 MiB file (large responses: how bytes move from disk to socket),
//! - requests/s through the reverse proxy to a fixed upstream (a separate nginx answering a small
//!   fixed body, shared by both proxies so neither proxy's upstream is faster).
//!
//! The course's stages close the connection after every response; `expserver` keeps it alive
//! for files (not through its reverse proxy, which closes when the upstream does). Before each
//! row the bench asks `expserver` twice on one connection: if the connection survives, both
//! servers are measured with keep-alive (wrk's default), otherwise wrk sends `Connection: close`
//! to both, so both pay for a new connection per request and the comparison stays fair. The
//! table says which mode each row used ("kept" or "new").
//! The numbers depend on the machine and on whatever else runs on it; nothing here asserts on
//! them.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cargo_build::{build, Profile};
use crate::checks::http::client::{head_end, parse_head};
use crate::checks::wire::{connect, read_upto, send};
use crate::ports::{free_tcp_ports, wait_bound, Proto};
use crate::process::Proc;

/// The size of the small file.
const SMALL_BYTES: usize = 1024;
/// The size of the large file.
const LARGE_BYTES: usize = 100 << 20;
/// The body the upstream answers every proxied request with.
const UPSTREAM_BODY: &str = "hello from the upstream: a small fixed body for the proxy benchmark\n";
/// How long the servers may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The knobs of `cargo xtask bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchOptions {
    /// Seconds each wrk run lasts.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Open connections (wrk -c).
    #[arg(long, default_value_t = 10)]
    pub connections: u32,
    /// Open connections for the 100 MiB file (each one holds a long transfer).
    #[arg(long, default_value_t = 4)]
    pub large_connections: u32,
    /// wrk threads (wrk -t); keep it at or below the connections.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Build expserver in debug mode (much slower; for trying the bench out only).
    #[arg(long)]
    pub debug: bool,
}

/// One wrk run's numbers.
#[derive(Clone, Debug, Default)]
struct WrkResult {
    requests_per_sec: f64,
    bytes_per_sec: f64,
    /// Socket errors and non-2xx/3xx answers, as wrk reports them ("" when none).
    errors: String,
}

/// Finds a program on the PATH, or in the sbin folders a non-root PATH often lacks.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/sbin",
                "/usr/local/nginx/sbin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Generates the served files: a 1 KiB text file and a 100 MiB binary file.
fn write_files(public: &Path) -> Result<()> {
    fs::create_dir_all(public)?;
    let small: Vec<u8> = (0..SMALL_BYTES)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37])
        .collect();
    fs::write(public.join("small.txt"), small)?;
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut large = fs::File::create(public.join("large.bin"))?;
    for _ in 0..LARGE_BYTES / block.len() {
        large.write_all(&block)?;
    }
    Ok(())
}

/// An nginx config with one worker, no access log, no daemon, everything under `prefix`.
fn nginx_config(prefix: &Path, servers: &str) -> String {
    let p = prefix.display();
    format!(
        "worker_processes 1;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  keepalive_requests 1000000;\n\
         \x20 client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
         \x20 uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         \x20 types {{ text/plain txt; application/octet-stream bin; }}\n  default_type application/octet-stream;\n\
         {servers}}}\n"
    )
}

/// Starts nginx with `config` written under `prefix`, and waits for `ports`.
fn start_nginx(nginx: &Path, prefix: &Path, config: &str, ports: &[u16]) -> Result<Proc> {
    fs::create_dir_all(prefix)?;
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, config)?;
    let argv: Vec<String> = [
        nginx.to_string_lossy().as_ref(),
        "-p",
        &prefix.to_string_lossy(),
        "-c",
        &conf.to_string_lossy(),
        "-e",
        &prefix.join("error.log").to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut proc = Proc::spawn(&argv, prefix, &[], &prefix.join("stdout.log"))?;
    wait_bound(&mut proc, ports, Proto::Tcp, START_TIMEOUT).context("nginx did not start")?;
    Ok(proc)
}

/// True if the server answers a second request on the same connection.
fn keeps_alive(port: u16, path: &str) -> bool {
    let Ok(mut stream) = connect(port) else {
        return false;
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n\r\n");
    for _ in 0..2 {
        if send(&mut stream, request.as_bytes()).is_err() {
            return false;
        }
        let mut raw = Vec::new();
        let end = loop {
            if let Some(end) = head_end(&raw) {
                break end;
            }
            let (more, _) = read_upto(&mut stream, 1, Duration::from_secs(2));
            if more.is_empty() {
                return false;
            }
            raw.extend_from_slice(&more);
        };
        let Ok(head) = parse_head(&raw[..end]) else {
            return false;
        };
        let Some(length) = head.content_length() else {
            return false;
        };
        let have = raw.len() - end;
        if have < length {
            let (more, _) = read_upto(&mut stream, length - have, Duration::from_secs(5));
            if more.len() < length - have {
                return false;
            }
        }
    }
    true
}

/// Parses wrk's `Transfer/sec` value, such as `1.23GB` (wrk's units are powers of 1024).
fn parse_rate(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let number: f64 = text[..split].parse().ok()?;
    let scale = match &text[split..] {
        "" | "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number * scale)
}

/// Reads the numbers out of wrk's report.
fn parse_wrk(output: &str) -> Option<WrkResult> {
    let mut result = WrkResult::default();
    let mut seen = (false, false);
    let mut errors = Vec::new();
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            result.requests_per_sec = value.trim().parse().ok()?;
            seen.0 = true;
        } else if let Some(value) = line.strip_prefix("Transfer/sec:") {
            result.bytes_per_sec = parse_rate(value)?;
            seen.1 = true;
        } else if line.starts_with("Socket errors:")
            || line.starts_with("Non-2xx or 3xx responses:")
        {
            errors.push(line.to_string());
        }
    }
    result.errors = errors.join("; ");
    (seen.0 && seen.1).then_some(result)
}

/// Runs wrk against `url`.
fn wrk(
    wrk: &Path,
    options: &BenchOptions,
    connections: u32,
    close: bool,
    url: &str,
) -> Result<WrkResult> {
    let mut command = Command::new(wrk);
    command.args([
        format!("-t{}", options.threads.min(connections).max(1)),
        format!("-c{connections}"),
        format!("-d{}s", options.duration),
        "--timeout".into(),
        "30s".into(),
    ]);
    if close {
        command.args(["-H", "Connection: close"]);
    }
    command.arg(url);
    let output = command.output().context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed on {url}: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk's report for {url}:\n{text}"))
}

/// One row of the table: what is measured, and how.
struct Row {
    name: &'static str,
    unit: &'static str,
    path: &'static str,
    /// Which port of each server: (expserver, nginx).
    ports: (u16, u16),
    connections: u32,
    /// Requests/s (false) or MiB/s (true).
    throughput: bool,
}

/// Builds and starts everything, runs wrk, prints the table.
pub fn run(options: &BenchOptions) -> Result<()> {
    let missing: Vec<&str> = ["wrk", "nginx"]
        .into_iter()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "cargo xtask bench needs {} installed (Debian: apt-get install {}); nothing was measured",
            missing.join(" and "),
            missing.join(" ")
        );
    }
    let (wrk_path, nginx) = (
        find_tool("wrk").unwrap_or_default(),
        find_tool("nginx").unwrap_or_default(),
    );
    let profile = if options.debug {
        Profile::Debug
    } else {
        Profile::Release
    };
    let expserver = build("expserver", profile)?;

    let dir = tempfile::Builder::new().prefix("xps-bench-").tempdir()?;
    // nginx's worker runs as `nobody` when started as root; it must be able to reach the files.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    let public = dir.path().join("public");
    eprintln!("generating the files in {} ...", public.display());
    write_files(&public)?;

    let ports = free_tcp_ports(5)?;
    let (exp_file, exp_proxy, nginx_file, nginx_proxy, upstream) =
        (ports[0], ports[1], ports[2], ports[3], ports[4]);

    let upstream_servers = format!(
        "  server {{ listen 127.0.0.1:{upstream}; location / {{ default_type text/plain; return 200 \"{}\"; }} }}\n",
        UPSTREAM_BODY.escape_default()
    );
    let _upstream = start_nginx(
        &nginx,
        &dir.path().join("upstream"),
        &nginx_config(&dir.path().join("upstream"), &upstream_servers),
        &[upstream],
    )?;
    let servers = format!(
        "  server {{ listen 127.0.0.1:{nginx_file}; root {}; }}\n  server {{ listen 127.0.0.1:{nginx_proxy}; \
         location / {{ proxy_pass http://127.0.0.1:{upstream}; }} }}\n",
        public.display()
    );
    let nginx_prefix = dir.path().join("nginx");
    let _nginx = start_nginx(
        &nginx,
        &nginx_prefix,
        &nginx_config(&nginx_prefix, &servers),
        &[nginx_file, nginx_proxy],
    )?;

    let config = serde_json::json!({
        "server_name": "eXpServer",
        "workers": 1,
        "servers": [
            {
                "listeners": [{ "host": "127.0.0.1", "port": exp_file }],
                "routes": [{ "req_path": "/", "type": "file_serve", "dir_path": public, "index": ["index.html"] }]
            },
            {
                "listeners": [{ "host": "127.0.0.1", "port": exp_proxy }],
                "routes": [{ "req_path": "/", "type": "reverse_proxy", "upstreams": [format!("127.0.0.1:{upstream}")] }]
            }
        ]
    });
    let config_path = dir.path().join("expserver.json");
    fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
    let argv = vec![
        expserver.to_string_lossy().into_owned(),
        config_path.to_string_lossy().into_owned(),
    ];
    let mut exp = Proc::spawn(&argv, dir.path(), &[], &dir.path().join("expserver.log"))?;
    wait_bound(&mut exp, &[exp_file, exp_proxy], Proto::Tcp, START_TIMEOUT)
        .context("expserver did not start")?;

    let rows = [
        Row {
            name: "1 KiB file",
            unit: "req/s",
            path: "/small.txt",
            ports: (exp_file, nginx_file),
            connections: options.connections,
            throughput: false,
        },
        Row {
            name: "100 MiB file",
            unit: "MiB/s",
            path: "/large.bin",
            ports: (exp_file, nginx_file),
            connections: options.large_connections,
            throughput: true,
        },
        Row {
            name: "reverse proxy",
            unit: "req/s",
            path: "/",
            ports: (exp_proxy, nginx_proxy),
            connections: options.connections,
            throughput: false,
        },
    ];

    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<15} {:<6} {:<16} {:>12} {:>12} {:>7}",
        "benchmark", "unit", "connections", "expserver", "nginx", "ratio"
    );
    let mut notes = Vec::new();
    for row in &rows {
        let keep_alive = keeps_alive(row.ports.0, row.path);
        let mode = if keep_alive {
            "keep-alive"
        } else {
            "new per request"
        };
        let mut values = [0.0f64; 2];
        for (i, (server, port)) in [("expserver", row.ports.0), ("nginx", row.ports.1)]
            .into_iter()
            .enumerate()
        {
            let url = format!("http://127.0.0.1:{port}{}", row.path);
            eprintln!(
                "wrk {server} {url} ({} connections, {mode}, {} s) ...",
                row.connections, options.duration
            );
            let result = wrk(&wrk_path, options, row.connections, !keep_alive, &url)?;
            values[i] = if row.throughput {
                result.bytes_per_sec / (1024.0 * 1024.0)
            } else {
                result.requests_per_sec
            };
            if !result.errors.is_empty() {
                notes.push(format!("{} on {server}: {}", row.name, result.errors));
            }
        }
        if exp.exit_status().is_some() {
            bail!(
                "expserver stopped during the {} benchmark; its output:\n{}",
                row.name,
                exp.log_tail(2000)
            );
        }
        let ratio = if values[1] > 0.0 {
            format!("{:.2}", values[0] / values[1])
        } else {
            "-".into()
        };
        let _ = writeln!(
            table,
            "{:<15} {:<6} {:<16} {:>12.1} {:>12.1} {:>7}",
            row.name,
            row.unit,
            format!(
                "{} {}",
                row.connections,
                if keep_alive { "kept" } else { "new" }
            ),
            values[0],
            values[1],
            ratio
        );
    }
    println!();
    println!(
        "expserver ({}) vs {} — 1 worker each, access log off, wrk -t{} -d{}s, {} CPUs shared by wrk and the servers",
        if options.debug { "debug build" } else { "release build" },
        nginx_version(&nginx),
        options.threads,
        options.duration,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    print!("{table}");
    println!("ratio = expserver / nginx (above 1 means expserver is faster)");
    println!(
        "connections: \"kept\" = keep-alive; \"new\" = Connection: close to both servers, a new"
    );
    println!("connection per request (used where expserver does not keep the connection alive)");
    println!("nginx serves files with sendfile on; the proxy rows share one upstream nginx returning a fixed body");
    for note in notes {
        println!("note: {note}");
    }
    Ok(())
}

/// nginx's version, as `nginx -v` prints it.
fn nginx_version(nginx: &Path) -> String {
    Command::new(nginx)
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let report = "Running 5s test @ http://127.0.0.1:1/small.txt\n  1 threads and 10 connections\n\
            \x20 61200 requests in 5.00s, 70.10MB read\n  Socket errors: connect 0, read 3, write 0, timeout 0\n\
            Requests/sec:  12240.50\nTransfer/sec:     14.02MB\n";
        let result = parse_wrk(report).unwrap();
        assert_eq!(result.requests_per_sec, 12240.5);
        assert!((result.bytes_per_sec - 14.02 * 1024.0 * 1024.0).abs() < 1.0);
        assert!(result.errors.contains("read 3"));
        assert!(parse_wrk("garbage").is_none());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("512.00B"), Some(512.0));
        assert_eq!(parse_rate("1.50KB"), Some(1536.0));
        assert_eq!(parse_rate("2GB"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_rate("1.0XB"), None);
    }
}
