//! Measures lines per second through the whole log pipeline.
//!
//! It spawns `cat FILE` as a child, captures the child's stdout the way
//! phpeek-pm does, and writes the records to /dev/null through the output's
//! writer thread. `bench/log-throughput.sh` prepares the input and runs it.
//!
//! Usage: `log_throughput FILE [json|text] [full|plain]`. `full` (the
//! default) runs every step with its default settings: multiline, JSON
//! parsing, level detection and redaction. `plain` switches them all off,
//! leaving line splitting and the record envelope.

use std::fs::File;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::sys::resource::{getrusage, Usage, UsageWho};

use phpeek::config::{LogFormat, ProcessLogging};
use phpeek::output::{Output, OutputSettings, OutputTarget, Pipeline, Source, Stream};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: log_throughput FILE [json|text] [full|plain]")?;
    let format = match args.next().as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(other) => anyhow::bail!("unknown format `{other}`, expected json or text"),
    };
    let plain = match args.next().as_deref() {
        None | Some("full") => false,
        Some("plain") => true,
        Some(other) => anyhow::bail!("unknown mode `{other}`, expected full or plain"),
    };

    let input = std::fs::read(&path).with_context(|| format!("failed to read {path}"))?;
    let lines = memchr::memchr_iter(b'\n', &input).count();
    drop(input);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (elapsed, cpu) = runtime.block_on(run(&path, format, plain))?;

    let seconds = elapsed.as_secs_f64();
    let cpu_seconds = cpu.as_secs_f64();
    println!(
        "{lines} lines in {seconds:.3} s: {:.0} lines/s wall, {:.0} lines per CPU second \
         (CPU {cpu_seconds:.3} s, capture and writer threads, child excluded)",
        lines as f64 / seconds,
        lines as f64 / cpu_seconds,
    );
    Ok(())
}

/// Captures `cat path` into /dev/null and returns the wall time and the CPU
/// time this process used.
async fn run(path: &str, format: LogFormat, plain: bool) -> anyhow::Result<(Duration, Duration)> {
    let null = File::options().write(true).open("/dev/null")?;
    let output = Output::start(OutputSettings {
        format,
        target: OutputTarget::Fd(null.into()),
        ..OutputSettings::default()
    })?;
    let mut logging = ProcessLogging {
        format,
        ..ProcessLogging::default()
    };
    if plain {
        logging.multiline.enabled = false;
        logging.redaction.enabled = false;
        logging.level_detection.enabled = false;
        logging.json = false;
    }
    let pipeline = Arc::new(Pipeline::new(&logging));

    let cpu_before = cpu_time(getrusage(UsageWho::RUSAGE_SELF)?);
    let started = Instant::now();
    let mut child = Command::new("cat")
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to spawn cat")?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let source = Source::new("bench", "bench-0").with_pipeline(pipeline);
    output
        .handle()
        .capture(source, Stream::Stdout, stdout.into())
        .await?;
    output.shutdown().await;
    let elapsed = started.elapsed();
    let cpu = cpu_time(getrusage(UsageWho::RUSAGE_SELF)?) - cpu_before;
    child.wait()?;
    Ok((elapsed, cpu))
}

fn cpu_time(usage: Usage) -> Duration {
    let to_duration = |time: nix::sys::time::TimeVal| {
        let seconds = u64::try_from(time.tv_sec()).unwrap_or_default();
        let micros = u32::try_from(time.tv_usec()).unwrap_or_default();
        Duration::new(seconds, micros * 1000)
    };
    to_duration(usage.user_time()) + to_duration(usage.system_time())
}
