//! Measuring the flaws that early stages keep on purpose, so students can watch them happen.
//!
//! The course asks students to observe, not just read about, why each stage exists:
//! stage 7 freezes when one client stops reading (a blocking `send` holds the only thread);
//! stage 8 burns a core on an idle connection (level-triggered EPOLLOUT fires forever) and, like
//! stage 9, buffers without bound for a client that does not read; stage 10's pipes bound that
//! memory. `cargo xtask demo N` prints these numbers, and `phase1/tests/flaws.rs` asserts them.

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::checks::cpu::idle_cpu_percent;
use crate::checks::flood::{probe_while_flooding, Flood, Probe};
use crate::checks::wire::connect;
use crate::plot::Sampler;
use crate::procstat::{mb, rss_bytes};
use crate::runner::{Options, StageRun};
use crate::stages::{self, Stage};
use crate::target::Target;

/// How much the freeze demo sends without reading: several times what the kernel buffers hold.
pub const FREEZE_FLOOD: u64 = 32_000_000;

/// Stage 7's flaw: does a second client get an answer while a non-reading client floods?
pub fn freeze(port: u16, answer_timeout: Duration) -> io::Result<Probe> {
    probe_while_flooding(port, FREEZE_FLOOD, answer_timeout)
}

/// Stage 8's flaw: CPU use (% of one core) with one idle client over `window`.
pub fn idle_cpu(pid: u32, port: u16, window: Duration) -> Result<f64, String> {
    idle_cpu_percent(pid, port, window)
}

/// How a server's memory changed while a client sent data and never read.
#[derive(Clone, Copy, Debug)]
pub struct Growth {
    /// Bytes the server accepted from the flooding client.
    pub flooded: u64,
    /// Resident memory before the flood.
    pub before: u64,
    /// Highest resident memory seen during the flood.
    pub peak: u64,
}

impl Growth {
    /// Peak minus starting memory.
    pub fn grown(&self) -> u64 {
        self.peak.saturating_sub(self.before)
    }
}

/// Sends `flood_bytes` to `port` without reading and records the server's RSS until the flood
/// is written or stalls for 2 s.
pub fn rss_growth(pid: u32, port: u16, flood_bytes: u64, progress: bool) -> Result<Growth> {
    let before = rss_bytes(pid)?;
    let flood = Flood::start(port, flood_bytes)?;
    let mut peak = before;
    let mut last = 0;
    let mut last_change = Instant::now();
    let mut last_report = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !flood.finished()
        && last_change.elapsed() < Duration::from_secs(2)
        && Instant::now() < deadline
    {
        peak = peak.max(rss_bytes(pid)?);
        let sent = flood.sent();
        if sent != last {
            last = sent;
            last_change = Instant::now();
        }
        if progress && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!("    ... sent {}, server RSS {}", mb(sent), mb(peak));
        }
        thread::sleep(Duration::from_millis(50));
    }
    // The server may still be copying the last bytes it read; give it a moment.
    thread::sleep(Duration::from_millis(300));
    peak = peak.max(rss_bytes(pid)?);
    let flooded = flood.sent();
    flood.stop();
    Ok(Growth {
        flooded,
        before,
        peak,
    })
}

/// The course's `sender`: copies stdin to 127.0.0.1:`port` and never reads a byte back.
pub fn sender(port: u16) -> Result<u64> {
    let mut stream =
        connect(port).with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = stdin.read(&mut buf)?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok(total)
}

/// How much the memory demos send without reading.
pub const MEMORY_FLOOD: u64 = 300_000_000;

/// `cargo xtask demo N`: starts stage N and runs the demo its entry in `stages::STAGES` names;
/// with `plot`, also draws the server's memory and CPU during the demo into that SVG file.
pub fn demo(
    stage: &'static Stage,
    target: Target,
    options: Options,
    plot: Option<&std::path::Path>,
) -> Result<()> {
    let Some(show) = stage.demo else {
        bail!(
            "stage {} has no demo; demos exist for stages {}",
            stage.id,
            stages::list(|s| s.demo.is_some())
        );
    };
    let mut run = StageRun::new(stage, target, options)?;
    run.restart()?;
    let pid = server_pid(&run)?;
    println!(
        "stage {} ({}) is running as pid {pid}: {}",
        stage.id,
        stage.title,
        run.command_line()
    );
    let Some(path) = plot else {
        return show(&mut run);
    };
    let sampler = Sampler::start(pid);
    show(&mut run)?;
    let timeline = sampler.finish();
    timeline.to_svg(
        path,
        &format!(
            "stage {} ({}): cargo xtask demo {}",
            stage.id, stage.title, stage.id
        ),
    )?;
    println!(
        "memory and CPU over {:.0} s drawn in {}",
        timeline.samples.last().map_or(0.0, |s| s.seconds),
        path.display()
    );
    Ok(())
}

fn server_pid(run: &StageRun) -> Result<u32> {
    run.server_pid().context("the server is not running")
}

/// Stage 7's demo: one client that never reads freezes everybody.
pub fn freeze_demo(run: &mut StageRun) -> Result<()> {
    let port = run.ports.role(1);
    println!(
        "a client sends {} to port {port} and never reads; then a second client says hello",
        mb(FREEZE_FLOOD)
    );
    let probe = freeze(port, Duration::from_secs(3))?;
    println!(
        "the flooding client got {} into the server before it stopped taking data",
        mb(probe.flooded)
    );
    match probe.answer {
        Ok((_, after)) => println!("the second client was answered after {:.0} ms: no freeze", after.as_secs_f64() * 1e3),
        Err(why) => println!(
            "the second client: {why}. The server is stuck in a blocking send to the client that does not read."
        ),
    }
    Ok(())
}

/// Stage 8's demo: an idle client costs a core, and a non-reading one grows memory.
pub fn level_triggered_demo(run: &mut StageRun) -> Result<()> {
    cpu_demo(
        run,
        "level-triggered EPOLLOUT reports the idle socket writable on every epoll_wait",
    )?;
    memory_demo(run, UNBOUNDED)
}

/// Stage 9's demo: the idle client is free now, but memory still grows.
pub fn edge_triggered_demo(run: &mut StageRun) -> Result<()> {
    cpu_demo(
        run,
        "edge-triggered epoll reports writability once; the loop sleeps",
    )?;
    memory_demo(run, UNBOUNDED)
}

/// Stage 10's demo: pipes bound the memory.
pub fn pipes_demo(run: &mut StageRun) -> Result<()> {
    memory_demo(
        run,
        "memory stays flat: once a pipe holds 1 MB the server stops reading, and the sender has to wait",
    )
}

const UNBOUNDED: &str = "memory grows with every byte: the replies pile up in an unbounded buffer (fixed by pipes in stage 10)";

/// Measures the CPU the server uses with one idle client; `why` explains the number.
fn cpu_demo(run: &mut StageRun, why: &str) -> Result<()> {
    let (pid, port) = (server_pid(run)?, run.ports.role(1));
    let window = Duration::from_secs(5);
    println!(
        "one client connects to port {port} and stays idle; measuring CPU for {} s",
        window.as_secs()
    );
    let percent = idle_cpu(pid, port, window).map_err(anyhow::Error::msg)?;
    println!("the server used {percent:.1} % of one core ({why})");
    Ok(())
}

/// Measures the server's memory while a client floods it and never reads; `conclusion` says
/// what the numbers mean.
fn memory_demo(run: &mut StageRun, conclusion: &str) -> Result<()> {
    let (pid, port) = (server_pid(run)?, run.ports.role(1));
    println!(
        "a client sends {} to port {port} and never reads",
        mb(MEMORY_FLOOD)
    );
    let growth = rss_growth(pid, port, MEMORY_FLOOD, run.options.progress)?;
    println!(
        "the server took {}; its memory went from {} to {} (+{})",
        mb(growth.flooded),
        mb(growth.before),
        mb(growth.peak),
        mb(growth.grown())
    );
    println!("{conclusion}");
    Ok(())
}
