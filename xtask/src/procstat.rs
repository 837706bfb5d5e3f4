//! Memory and CPU time of a process, read from `/proc`.
//!
//! The grader samples `ps` percentages and only looks at their slope. The checker reads the
//! kernel's own counters instead, so its bounds are real ones: resident memory in bytes
//! (`VmRSS` in `/proc/PID/status`) and CPU time in clock ticks (`utime` + `stime` in
//! `/proc/PID/stat`).

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

/// Resident set size of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow!("no VmRSS for process {pid}"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow!("malformed VmRSS line"))?
        .parse()?;
    Ok(kb * 1024)
}

/// CPU time (user + system) used so far by `pid`.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The command name (field 2) is in parentheses and may hold spaces; count after the ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ')' come field 3 (state) onwards; utime is field 14 and stime field 15.
    let utime: u64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: u64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as u64 } else { 100 };
    Ok(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

/// CPU use of `pid` over `window`, as a percentage of one core.
pub fn cpu_percent_over(pid: u32, window: Duration) -> Result<f64> {
    let cpu_start = cpu_time(pid)?;
    let wall_start = Instant::now();
    std::thread::sleep(window);
    let cpu_end = cpu_time(pid)?;
    let wall = wall_start.elapsed();
    Ok((cpu_end - cpu_start).as_secs_f64() * 100.0 / wall.as_secs_f64())
}

/// Formats a byte count in MB (10^6 bytes), the unit the course uses.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
