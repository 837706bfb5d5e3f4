//! Memory and CPU over time, drawn as an SVG chart (`cargo xtask demo N --plot FILE.svg`).
//!
//! The numbers a demo prints say how much memory grew; the curve shows how: stage 8 and 9 climb
//! for as long as the client sends, stage 10 rises by about one pipe and stays flat, and stage 8
//! sits at a full core while stage 9 and 10 idle near zero. A [`Sampler`] reads the server's
//! `/proc` counters in the background while the demo runs; [`Timeline::to_svg`] draws them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::procstat::{cpu_time, rss_bytes};

/// How often the sampler reads `/proc`: fine enough for the curves, coarse enough that the CPU
/// time (counted in 10 ms ticks) gives a usable percentage per interval.
const PERIOD: Duration = Duration::from_millis(250);

/// One reading: seconds since the start, resident memory in MB, CPU use in % of one core over
/// the interval that ended here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub rss_mb: f64,
    pub cpu_percent: f64,
}

/// Every sample of one run.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub samples: Vec<Sample>,
}

/// Reads a process's memory and CPU every [`PERIOD`] on a thread of its own until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Timeline>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut timeline = Timeline::default();
            let started = Instant::now();
            let (mut last_wall, mut last_cpu) = (started, cpu_time(pid).unwrap_or_default());
            while !flag.load(Ordering::Relaxed) {
                thread::sleep(PERIOD);
                let (Ok(rss), Ok(cpu)) = (rss_bytes(pid), cpu_time(pid)) else {
                    break; // the server is gone
                };
                let now = Instant::now();
                let wall = now.duration_since(last_wall).as_secs_f64();
                timeline.samples.push(Sample {
                    seconds: now.duration_since(started).as_secs_f64(),
                    rss_mb: rss as f64 / 1e6,
                    cpu_percent: (cpu.saturating_sub(last_cpu)).as_secs_f64() * 100.0 / wall,
                });
                (last_wall, last_cpu) = (now, cpu);
            }
            timeline
        });
        Sampler { stop, thread }
    }

    /// Stops sampling and returns what was read.
    pub fn finish(self) -> Timeline {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

impl Timeline {
    /// Draws memory (top) and CPU (bottom) over time into an SVG file at `path`.
    pub fn to_svg(&self, path: &Path, title: &str) -> Result<()> {
        let last = self
            .samples
            .last()
            .ok_or_else(|| anyhow!("no samples to plot"))?;
        let end = last.seconds.max(1.0);
        let rss_top = self
            .samples
            .iter()
            .map(|s| s.rss_mb)
            .fold(1.0, f64::max)
            .mul_add(1.15, 0.0);
        let cpu_top = self
            .samples
            .iter()
            .map(|s| s.cpu_percent)
            .fold(100.0, f64::max)
            .mul_add(1.1, 0.0);
        let root = SVGBackend::new(path, (760, 520)).into_drawing_area();
        let draw = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let root = root
            .titled(title, ("sans-serif", 18))
            .map_err(|e| draw(&e))?;
        let (upper, lower) = root.split_vertically(250);
        let mut memory = ChartBuilder::on(&upper)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..end, 0.0..rss_top)
            .map_err(|e| draw(&e))?;
        memory
            .configure_mesh()
            .y_desc("server RSS (MB)")
            .x_desc("seconds")
            .draw()
            .map_err(|e| draw(&e))?;
        memory
            .draw_series(LineSeries::new(
                self.samples.iter().map(|s| (s.seconds, s.rss_mb)),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| draw(&e))?;
        let mut cpu = ChartBuilder::on(&lower)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..end, 0.0..cpu_top)
            .map_err(|e| draw(&e))?;
        cpu.configure_mesh()
            .y_desc("server CPU (% of a core)")
            .x_desc("seconds")
            .draw()
            .map_err(|e| draw(&e))?;
        cpu.draw_series(LineSeries::new(
            self.samples.iter().map(|s| (s.seconds, s.cpu_percent)),
            RED.stroke_width(2),
        ))
        .map_err(|e| draw(&e))?;
        root.present().map_err(|e| draw(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_svg_with_both_curves() {
        let timeline = Timeline {
            samples: (0..40)
                .map(|i| Sample {
                    seconds: i as f64 * 0.25,
                    rss_mb: 2.0 + i as f64,
                    cpu_percent: if i < 20 { 100.0 } else { 0.5 },
                })
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        timeline.to_svg(&path, "stage 8 <test>").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("server RSS (MB)") && svg.contains("server CPU (% of a core)"));
        // The memory curve is blue, the CPU curve red (the grid lines are grey).
        assert!(svg.contains("stroke=\"#0000FF\""), "no memory curve");
        assert!(svg.contains("stroke=\"#FF0000\""), "no CPU curve");
        assert!(Timeline::default().to_svg(&path, "empty").is_err());
    }

    #[test]
    fn the_sampler_reads_a_live_process() {
        let sampler = Sampler::start(std::process::id());
        thread::sleep(Duration::from_millis(600));
        let timeline = sampler.finish();
        assert!(timeline.samples.len() >= 2, "{timeline:?}");
        assert!(timeline.samples.iter().all(|s| s.rss_mb > 0.0));
    }
}
