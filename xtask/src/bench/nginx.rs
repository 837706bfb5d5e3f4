//! nginx as the yardstick: its config, and how to find the process that does the work.
//!
//! The comparison is only fair if nginx runs like expserver: one worker (`worker_processes 1`),
//! no access log (expserver keeps none), the same keep-alive limits (1000 requests per connection,
//! expserver's fixed maximum and nginx's default; idle connections kept as long as the bench
//! runs), and room for the idle connections of row e. Started as root, nginx's worker drops to
//! `nobody`, which must be able to read the files: [`super::make_world_readable`] sees to that,
//! and the probe before the runs checks the answer is a 200, not a fast 403.
//!
//! Under callgrind nginx runs with `master_process off`, so the one process valgrind watches is
//! the one that answers.

use std::fs;
use std::path::Path;
use std::process::Command;

/// How the nginx process is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A master and this many workers (the benchmark: 1; rows g-j: 2).
    Workers(usize),
    /// One process, no master (under callgrind).
    Single,
}

/// The whole `nginx.conf`: everything under `prefix`, `servers` inside `http { }`.
pub fn config(prefix: &Path, servers: &str, mode: Mode, connections: usize) -> String {
    let p = prefix.display();
    let (workers, single) = match mode {
        Mode::Workers(n) => (n, ""),
        Mode::Single => (1, "master_process off;\n"),
    };
    // One descriptor per connection, two for a proxied one, plus files and logs.
    let rlimit = connections * 2 + 64;
    format!(
        "worker_processes {workers};\ndaemon off;\n{single}pid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         worker_rlimit_nofile {rlimit};\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n\
         \x20 keepalive_requests 1000;\n  keepalive_timeout 300s;\n  client_header_timeout 300s;\n\
         \x20 client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
         \x20 uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
         \x20 types {{ text/plain txt; application/octet-stream bin; }}\n  default_type application/octet-stream;\n\
         {servers}}}\n"
    )
}

/// The command line that runs nginx with the config at `conf`, everything else under `prefix`.
pub fn argv(nginx: &Path, prefix: &Path, conf: &Path) -> Vec<String> {
    [
        nginx.as_os_str(),
        "-p".as_ref(),
        prefix.as_os_str(),
        "-c".as_ref(),
        conf.as_os_str(),
        "-e".as_ref(),
        prefix.join("error.log").as_os_str(),
    ]
    .iter()
    .map(|s| s.to_string_lossy().into_owned())
    .collect()
}

/// The parent pid of `pid`, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; ppid is the 2nd field after.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The worker of the nginx master `master`: its only child process.
pub fn worker_pid(master: u32) -> Option<u32> {
    worker_pids(master).into_iter().next()
}

/// Every worker of the nginx master `master`: its child processes, in pid order.
pub fn worker_pids(master: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(master))
        .collect();
    pids.sort_unstable();
    pids
}

/// nginx's version, as `nginx -v` prints it.
pub fn version(nginx: &Path) -> String {
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
    fn config_has_one_worker_no_log_and_room() {
        let text = config(
            Path::new("/x"),
            "  server { listen 1; }\n",
            Mode::Workers(1),
            6000,
        );
        assert!(text.contains("worker_processes 1;"));
        assert!(text.contains("access_log off;"));
        assert!(text.contains("worker_connections 6000;"));
        assert!(text.contains("worker_rlimit_nofile 12064;"));
        assert!(!text.contains("master_process off"));
        assert!(text.ends_with("  server { listen 1; }\n}\n"));
        let single = config(Path::new("/x"), "", Mode::Single, 100);
        assert!(single.contains("master_process off;"));
        let two = config(Path::new("/x"), "", Mode::Workers(2), 100);
        assert!(two.contains("worker_processes 2;"));
    }

    #[test]
    fn finds_our_own_parent() {
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }
}
