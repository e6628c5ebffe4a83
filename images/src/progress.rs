//! Build progress on stderr: bars on a terminal, plain lines otherwise.
//!
//! On a terminal each stage gets an indicatif bar. When stderr is a pipe or
//! file (CI logs), each stage prints a line when it starts, at every
//! quarter, and when it ends, so logs stay short and readable.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Unit of a stage's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Percent, 0 to 100.
    Percent,
    /// A count of items, such as packages.
    Items,
    /// Bytes.
    Bytes,
}

/// The progress display of one build.
#[derive(Debug)]
pub struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn detect() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::with_bars()
        } else {
            Progress::plain()
        }
    }

    /// Always plain lines.
    pub fn plain() -> Progress {
        Progress { bars: None }
    }

    fn with_bars() -> Progress {
        Progress {
            bars: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Starts a stage called `name` that ends at `total` in `unit`.
    pub fn stage(&self, name: &str, total: u64, unit: Unit) -> Stage {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new(total));
            bar.set_style(style(unit));
            bar.set_message(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if bar.is_none() {
            eprintln!("phpeek-image: {name}...");
        }
        Stage {
            name: name.to_string(),
            total: total.max(1),
            unit,
            bar,
            reported_quarter: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

fn style(unit: Unit) -> ProgressStyle {
    let template = match unit {
        Unit::Percent => "{msg:32} [{bar:30}] {pos:>3}%",
        Unit::Items => "{msg:32} [{bar:30}] {pos}/{len}",
        Unit::Bytes => "{msg:32} [{bar:30}] {bytes}/{total_bytes}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// One stage of the build. It is `Sync`, so threads can share it.
#[derive(Debug)]
pub struct Stage {
    name: String,
    total: u64,
    unit: Unit,
    bar: Option<ProgressBar>,
    reported_quarter: AtomicU64,
    started: Instant,
}

impl Stage {
    /// Moves the stage to `position` (in its unit).
    pub fn set(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            return;
        }
        let quarter = (position.min(self.total) * 4 / self.total).min(3);
        let previous = self.reported_quarter.fetch_max(quarter, Ordering::Relaxed);
        if quarter > previous {
            eprintln!("phpeek-image: {}: {}%", self.name, quarter * 25);
        }
    }

    /// Changes the end point, for stages whose size is known late.
    pub fn set_total(&mut self, total: u64) {
        self.total = total.max(1);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Ends the stage with a short result, such as `143 packages`.
    pub fn finish(&self, result: &str) {
        let seconds = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(bar) => {
                bar.set_position(if self.unit == Unit::Percent {
                    100
                } else {
                    self.total
                });
                bar.finish_with_message(format!("{}: {result} ({seconds:.1} s)", self.name));
            }
            None => eprintln!("phpeek-image: {}: {result} ({seconds:.1} s)", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_stage_reports_each_quarter_once() {
        let progress = Progress::plain();
        let stage = progress.stage("test", 100, Unit::Percent);
        for position in [10, 30, 30, 60, 99, 100, 100] {
            stage.set(position);
        }
        assert_eq!(stage.reported_quarter.load(Ordering::Relaxed), 3);
        stage.finish("done");
    }

    #[test]
    fn zero_total_does_not_divide_by_zero() {
        let progress = Progress::plain();
        let stage = progress.stage("empty", 0, Unit::Items);
        stage.set(0);
        stage.set(5);
        stage.finish("nothing");
    }
}
