//! The idle-CPU check: one connected client that sends nothing must cost the server (almost)
//! nothing.
//!
//! The grader samples `ps`'s lifetime-average `%cpu` and only fails a rising trend, which a
//! server that was busy from the start can pass. The checker measures the CPU time the server
//! really used while the client sat idle and bounds it.

use std::thread;
use std::time::Duration;

use super::wire::connect;
use super::Verdict;
use crate::procstat::cpu_percent_over;
use crate::runner::StageRun;

/// The most CPU an idle server may use, in percent of one core.
pub const IDLE_CPU_LIMIT: f64 = 10.0;

/// Measures the server's CPU use over `window` while one client is connected and idle.
pub fn idle_cpu_percent(pid: u32, port: u16, window: Duration) -> Result<f64, String> {
    let client = connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
    // Let the server accept and register the connection before measuring.
    thread::sleep(Duration::from_millis(200));
    let percent = cpu_percent_over(pid, window)
        .map_err(|e| format!("cannot read the server's CPU time: {e}"))?;
    drop(client);
    Ok(percent)
}

/// checkCpuUsage with a real bound: under [`IDLE_CPU_LIMIT`] % of a core.
pub fn idle(run: &mut StageRun, port: u16) -> Verdict {
    let pid = run.server_pid().ok_or("the server is not running")?;
    let window = run.options.cpu_window;
    if run.options.progress {
        eprintln!(
            "    ... measuring CPU for {} s with one idle client",
            window.as_secs()
        );
    }
    let percent = idle_cpu_percent(pid, port, window)?;
    let text = format!(
        "the server used {percent:.1} % of one core over {:.0} s",
        window.as_secs_f64()
    );
    if percent < IDLE_CPU_LIMIT {
        Ok(text)
    } else {
        Err(text)
    }
}
