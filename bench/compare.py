#!/usr/bin/env python3
"""Compare phpeek-pm with supervisord, s6 and tini, side by side.

Runs each scenario for phpeek-pm and for every peer that can do it,
alternating between the tools run by run, and prints a markdown table of
the medians with the ratios peer / phpeek-pm. The table, with the machine,
the versions and the method, is written to bench/results/DATE-HOST.md, and
--update-benchmarks also inserts it into BENCHMARKS.md.

Scenarios: idle RSS with 10 and 100 children, start of 50 children,
restart after SIGKILL, shutdown after SIGTERM, idle CPU, log throughput and
a /metrics scrape (phpeek-pm only). See report.METHOD for what each figure
counts. Missing Debian packages (supervisor, s6, tini, time) are installed
with apt-get when running as root.
"""

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report
import scenarios
from events import ProcessEvents
from procfs import become_subreaper
from report import Row
from runner import Started
from scenarios import Settings, Variant, Workdirs
from tools import PhpeekPm, S6, Supervisord, Tini, Tool, install_missing

REPO_DIR = Path(__file__).resolve().parent.parent
METRICS_COLUMN = "phpeek-pm, metrics and API on"
SCENARIOS = ["idle", "rss100", "start", "restart", "shutdown", "log", "scrape"]


def make_rows(settings: Settings, backoff: str) -> dict[str, Row]:
    """Create the table's rows, in the order they are printed."""
    idle = f"{settings.idle_seconds:g} s"
    restart = f"SIGKILL of a child until its replacement runs (phpeek-pm backoff {backoff})"
    metrics_cpu = f"idle CPU, 10 children, metrics and API on, {idle}"
    rows = [
        Row("rss_10", "idle RSS, 10 children", "MiB", 2),
        Row("rss_100", "idle RSS, 100 children", "MiB", 2),
        Row("pss_10", "idle PSS, 10 children", "MiB", 2),
        Row("pss_100", "idle PSS, 100 children", "MiB", 2),
        Row("rss_10_metrics", "idle RSS, 10 children, metrics and API on", "MiB", 2),
        Row("rss_100_metrics", "idle RSS, 100 children, metrics and API on", "MiB", 2),
        Row("start_50", "exec until 50 children run", "ms", 1),
        Row("restart", restart, "ms", 2),
        Row("shutdown", "SIGTERM to exit, 20 children", "ms", 1),
        Row("cpu_10", f"idle CPU, 10 children, {idle}", "% of a core", 3),
        Row("cpu_10_metrics", metrics_cpu, "% of a core", 3),
        Row("log", "log throughput, 1,000,000 lines of 100 bytes", "M lines/s", 2),
        Row("scrape", f"GET /metrics, {scenarios.SCRAPE_INSTANCES:,} instances", "ms", 1),
    ]
    return {row.key: row for row in rows}


class Harness:
    """Runs the chosen scenarios and collects rows, notes and failures."""

    def __init__(self, args: argparse.Namespace, settings: Settings):
        self.args = args
        self.settings = settings
        self.workdirs = Workdirs(settings.root)
        self.phpeek = PhpeekPm(args.binary, REPO_DIR)
        self.tools: list[Tool] = [self.phpeek, Supervisord(), S6(), Tini()]
        self.failures: list[str] = []
        self.backoff = self.phpeek.probe_backoff(settings.root)
        self.metrics_missing = self.phpeek.probe_metrics(settings.root)
        self.rows = make_rows(settings, self.backoff)

    def run(self) -> None:
        chosen = self.args.only
        if "idle" in chosen:
            self.run_idle(scenarios.IDLE_CHILDREN, self.settings.idle_seconds, "10")
        if "rss100" in chosen:
            self.run_idle(scenarios.MANY_CHILDREN, 0, "100")
        if "start" in chosen:
            self.run_each("start_50", scenarios.measure_start)
        if "restart" in chosen:
            self.run_each("restart", scenarios.measure_restart)
        if "shutdown" in chosen:
            self.run_each("shutdown", scenarios.measure_shutdown)
        if "log" in chosen:
            self.run_log()
        if "scrape" in chosen:
            self.run_scrape()
        for key in ("rss_10_metrics", "rss_100_metrics", "cpu_10_metrics", "scrape"):
            self.mark_metrics_row(self.rows[key])

    def mark_metrics_row(self, row: Row) -> None:
        """Give the peers of a metrics row their reason, and phpeek-pm its own if unsupported."""
        for peer in report.PEERS:
            row.skip(peer, "no metrics endpoint")
        if self.metrics_missing and "phpeek-pm" not in row.cells:
            row.skip("phpeek-pm", "not supported by this build")

    def run_idle(self, children: int, idle_seconds: float, suffix: str) -> None:
        """Measure all tools idle at the same time, `runs` times.

        Fills the rows rss_SUFFIX and pss_SUFFIX, and cpu_SUFFIX when
        `idle_seconds` is not zero.
        """
        variants = [Variant(tool.name, tool) for tool in self.tools]
        if self.metrics_missing is None:
            variants.insert(1, Variant(METRICS_COLUMN, self.phpeek, metrics=True))
        for run in range(self.settings.runs):
            figures = scenarios.measure_idle(
                variants, children, idle_seconds, self.settings, self.workdirs
            )
            for column, figure in figures.items():
                metrics = "_metrics" if column == METRICS_COLUMN else ""
                tool = "phpeek-pm" if metrics else column
                rss_key = f"rss_{suffix}{metrics}"
                if isinstance(figure, str):
                    self.fail(rss_key, tool, figure)
                    continue
                self.rows[rss_key].add(tool, figure.rss_mib)
                if not metrics:
                    self.rows[f"pss_{suffix}"].add(tool, figure.pss_mib)
                shown = f"RSS {figure.rss_mib:.2f} MiB, PSS {figure.pss_mib:.2f} MiB"
                if idle_seconds:
                    self.rows[f"cpu_{suffix}{metrics}"].add(tool, figure.cpu_percent)
                    name = f"{column}: idle CPU by schedstat with {children} children, % of a core"
                    self.settings.note(name, figure.schedstat_cpu_percent)
                    shown += f", CPU {figure.cpu_percent:.3f}%"
                if figure.helper_rss_mib:
                    name = f"{column}: RSS of its sh with {children} children, MiB"
                    self.settings.note(name, figure.helper_rss_mib)
                progress(rss_key, run, self.settings.runs, column, shown)

    def run_each(self, key: str, measure) -> None:
        """Run one measurement per tool per run, alternating between the tools."""
        row = self.rows[key]
        for tool in self.tools:
            if key in tool.cannot:
                row.skip(tool.name, tool.cannot[key])
        for run in range(self.settings.runs):
            for tool in self.tools:
                if isinstance(row.cells.get(tool.name), str):
                    continue
                try:
                    value = measure(tool, self.settings, self.workdirs.new(f"{key}-{tool.name}"))
                except (RuntimeError, OSError) as error:
                    self.fail(key, tool.name, str(error))
                    continue
                row.add(tool.name, value)
                shown = f"{value:.{row.digits}f} {row.unit}"
                progress(key, run, self.settings.runs, tool.name, shown)

    def run_log(self) -> None:
        """Measure log throughput per tool, with a cat baseline in each round."""
        self.settings.log_input = self.settings.root / "log-input.txt"
        scenarios.write_log_input(self.settings.log_input)

        def measure(tool: Tool, settings: Settings, workdir: Path) -> float:
            return scenarios.measure_log(tool, settings, workdir) / 1e6

        self.run_each("log", measure)
        for run in range(self.settings.runs):
            rate = scenarios.measure_cat(self.settings, self.workdirs.new("cat")) / 1e6
            self.settings.note("cat of the same input to a file, M lines/s", rate)
            progress("log", run, self.settings.runs, "cat", f"{rate:.2f} M lines/s")
        self.settings.log_input.unlink()

    def run_scrape(self) -> None:
        """Scrape phpeek-pm's /metrics with 1,000 instances, when the build has metrics."""
        if self.metrics_missing is not None:
            return
        row = self.rows["scrape"]
        try:
            workdir = self.workdirs.new("scrape")
            timings = scenarios.measure_scrapes(self.phpeek, self.settings, workdir)
        except (RuntimeError, OSError) as error:
            self.fail("scrape", "phpeek-pm", str(error))
            return
        for run, value in enumerate(timings):
            row.add("phpeek-pm", value)
            progress("scrape", run, len(timings), "phpeek-pm", f"{value:.1f} ms")

    def fail(self, key: str, column: str, error: str) -> None:
        """Mark a cell failed, keep the first line of the error and print all of it."""
        self.rows[key].skip(column, "failed")
        first_line = error.strip().splitlines()[0] if error.strip() else "unknown error"
        self.failures.append(f"{column}, {self.rows[key].label}: {first_line}")
        print(f"error: {column}, {key}: {error}", file=sys.stderr)


def progress(key: str, run: int, runs: int, column: str, figure: str) -> None:
    print(f"[{key} {run + 1}/{runs}] {column}: {figure}", file=sys.stderr, flush=True)


def machine_lines() -> list[str]:
    """Describe the machine: cores, CPU model, memory, kernel and OS."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    os_name = "unknown OS"
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return [
        f"{os.cpu_count()} CPUs ({model})",
        f"{memory_kib / 1024 / 1024:.0f} GiB RAM",
        f"Linux {platform.release()}",
        os_name,
        f"host {platform.node()}",
    ]


def version_lines(harness: Harness) -> list[str]:
    """Return each tool's version, or the error of a failed version query."""
    lines = []
    for tool in harness.tools:
        try:
            lines.append(f"{tool.name}: {tool.version()}")
        except (OSError, subprocess.SubprocessError) as error:
            lines.append(f"{tool.name}: version unknown ({error})")
    lines.append(f"python {platform.python_version()} (the harness)")
    return lines


def note_lines(harness: Harness) -> list[str]:
    """Format the extra figures, the probes' findings and the failures for the report."""
    lines = []
    for name, values in harness.settings.notes.items():
        lines.append(f"{name}: {report.format_figure(report.statistics.median(values))}")
    for name, values in harness.settings.seen.items():
        lines.append(f"{name}: {', '.join(sorted(values))}")
    if harness.metrics_missing:
        lines.append(f"phpeek-pm metrics and API: {harness.metrics_missing}")
    lines += [f"failed: {failure}" for failure in harness.failures]
    return lines


def parse_args() -> argparse.Namespace:
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO_DIR / "target"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--binary",
        type=Path,
        default=target_dir / "release" / "phpeek-pm",
        help="phpeek-pm binary (default: $CARGO_TARGET_DIR/release/phpeek-pm, "
        "else target/release/phpeek-pm)",
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per cell; the median is shown (default 5)"
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=60.0,
        help="length of the idle CPU window in seconds (default 60)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait after the children run, before an idle window or a signal "
        "(default 2)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.001,
        help="seconds between two polls of /proc (default 0.001)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for a start or an exit (default 60)",
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll /proc for started children even when kernel process events are available",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 run, 5 s idle window, 1 s settle; nothing is written to bench/results",
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run, from {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--update-benchmarks",
        action="store_true",
        help="also insert the section into BENCHMARKS.md, above the older results",
    )

    args = parser.parse_args()
    if args.quick:
        args.runs, args.idle_seconds, args.settle = 1, 5.0, 1.0
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.idle_seconds <= 0:
        parser.error("--idle-seconds must be greater than 0")
    if args.quick and args.update_benchmarks:
        parser.error("--update-benchmarks needs a full run; drop --quick")
    args.binary = args.binary.absolute()
    if not os.access(args.binary, os.X_OK):
        parser.error(
            f"{args.binary} not found or not executable. "
            "Build it with: scripts/build-release.sh"
        )
    return args


def write_results(harness: Harness, section: str) -> Path:
    """Write the section plus every run to bench/results/DATE-HOST.md and return the path."""
    results_dir = REPO_DIR / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    path = report.unique_path(results_dir, f"{time.strftime('%Y-%m-%d')}-{platform.node()}")
    rows = list(harness.rows.values())
    path.write_text(section + "\n## All runs\n\n" + report.render_runs(rows) + "\n")
    return path


def main() -> int:
    args = parse_args()
    install_missing()
    become_subreaper()
    if not args.poll:
        Started.events = ProcessEvents.open()
    # Turn SIGTERM into an exception, so the cleanup below still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="phpeek-compare-") as root:
        settings = Settings(
            runs=args.runs,
            interval=args.interval,
            settle=args.settle,
            idle_seconds=args.idle_seconds,
            timeout=args.timeout,
            root=Path(root),
        )
        try:
            harness = Harness(args, settings)
            harness.run()
        finally:
            Started.cleanup_all()
            if Started.events is not None:
                Started.events.close()

    load_after = os.getloadavg()[0]
    if Started.events is not None:
        timing = "children's start times from kernel exec events"
    else:
        timing = f"children's start times from polling /proc every {args.interval * 1000:g} ms"
    settings_line = (
        f"Settings: {args.runs} run(s) per cell, idle window {args.idle_seconds:g} s, settle "
        f"{args.settle:g} s, {timing}. Load average (1 min): "
        f"{load_before:.2f} at the start, {load_after:.2f} at the end; the whole run took "
        f"{(time.monotonic() - began) / 60:.1f} min."
    )
    rerun = (
        "scripts/build-release.sh\n"
        "bench/compare.sh     # --runs N, --idle-seconds S, --quick, --only LIST,\n"
        "                     # --update-benchmarks"
    )
    section = report.render_section(
        time.strftime("%Y-%m-%d"),
        machine_lines(),
        version_lines(harness),
        settings_line,
        list(harness.rows.values()),
        note_lines(harness),
        rerun,
    )
    print(section)
    if not args.quick:
        path = write_results(harness, section)
        print(f"wrote {path.relative_to(REPO_DIR)}", file=sys.stderr)
        if args.update_benchmarks:
            report.insert_section(REPO_DIR / "BENCHMARKS.md", section)
            print("inserted the section into BENCHMARKS.md", file=sys.stderr)
    return 1 if harness.failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as error:
        print(f"compare.py: error: {error}", file=sys.stderr)
        sys.exit(1)
