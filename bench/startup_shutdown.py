#!/usr/bin/env python3
"""Measure phpeek-pm's idle memory, start-up time and shutdown time.

The benchmark treats phpeek-pm as a black box. It writes a config with N
`sleep 3600` processes, starts the binary with `-c CONFIG`, and watches it
through /proc:

- idle RSS: VmRSS of the phpeek-pm process, read once all 10 children run
  and a settle time has passed;
- start-up: time from just before the fork of phpeek-pm until 50 children
  of it run `sleep`, polled at a fixed interval;
- shutdown: time from SIGTERM until phpeek-pm has exited (waitpid returns),
  with 20 children running.

Each measurement is repeated (5 runs by default) and the median, minimum
and maximum are printed. Times come from time.monotonic_ns(). The start-up
figure includes up to one poll interval plus the cost of one poll, and the
idle RSS depends on the settle time, so both are approximate.
"""

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

IDLE_PROCESSES = 10
STARTUP_PROCESSES = 50
SHUTDOWN_PROCESSES = 20


@dataclass
class Child:
    """A process whose parent is phpeek-pm, as read from /proc/PID/stat."""

    pid: int
    command: str
    state: str
    start_ticks: int


def write_config(path: Path, count: int) -> None:
    """Write a phpeek-pm config that runs `count` separate sleep processes."""
    lines = ["global:", "  log_format: json", "processes:"]
    for index in range(1, count + 1):
        lines.append(f"  sleep-{index}:")
        lines.append('    command: ["sleep", "3600"]')
    path.write_text("\n".join(lines) + "\n")


def read_stat(pid: int) -> Child | None:
    """Read one process's /proc/PID/stat, or None when it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None

    # The command name sits in parentheses and may itself contain spaces or
    # parentheses, so split at the last ")". The fields after it start at
    # field 3, the state, and the start time is field 22 (see proc(5)).
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    rest = text[close_paren + 2 :].split()
    return Child(
        pid=pid,
        command=text[open_paren + 1 : close_paren],
        state=rest[0],
        start_ticks=int(rest[19]),
    )


def child_pids(parent: int) -> list[int]:
    """List the pids whose parent is `parent`.

    Reads /proc/PARENT/task/*/children, which lists the children of each
    thread, and falls back to scanning every /proc/PID/stat on kernels
    built without CONFIG_PROC_CHILDREN.
    """
    tasks = Path(f"/proc/{parent}/task")
    try:
        task_dirs = list(tasks.iterdir())
    except FileNotFoundError:
        return []

    pids = []
    for task in task_dirs:
        try:
            pids.extend(int(pid) for pid in (task / "children").read_text().split())
        except FileNotFoundError:
            if not (task / "stat").exists():
                continue  # The thread exited between listing and reading.
            return scan_for_children(parent)
    return pids


def scan_for_children(parent: int) -> list[int]:
    """List the pids whose parent is `parent` by reading every /proc/PID/stat."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parent_field = text[text.rindex(")") + 2 :].split()[1]
        if int(parent_field) == parent:
            pids.append(int(entry))
    return pids


def running_sleeps(parent: int) -> list[Child]:
    """List the children of `parent` that have executed sleep and not exited."""
    children = []
    for pid in child_pids(parent):
        child = read_stat(pid)
        if child and child.command == "sleep" and child.state not in ("Z", "X"):
            children.append(child)
    return children


def read_rss_kib(pid: int) -> int:
    """Return VmRSS of `pid` in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"VmRSS missing from /proc/{pid}/status")


class Run:
    """One started phpeek-pm with its own config and log file.

    Use it as a context manager: leaving the block kills phpeek-pm with
    SIGKILL if it still runs, along with any sleep child it left behind.
    """

    def __init__(self, binary: Path, workdir: Path, count: int):
        self.config = workdir / f"phpeek-pm-{count}.yaml"
        self.log_path = workdir / f"phpeek-pm-{count}.log"
        write_config(self.config, count)
        self.count = count
        self.binary = binary
        self.process: subprocess.Popen | None = None
        self.seen: dict[int, int] = {}  # pid -> start ticks of sleeps seen

    def __enter__(self) -> "Run":
        return self

    def start(self) -> int:
        """Start phpeek-pm and return time.monotonic_ns() just before the fork."""
        env = dict(os.environ)
        env.pop("PHPEEK_PM_CONFIG", None)
        with open(self.log_path, "wb") as log:
            started_ns = time.monotonic_ns()
            self.process = subprocess.Popen(
                [str(self.binary), "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return started_ns

    def wait_for_sleeps(self, timeout: float, interval: float) -> int:
        """Poll until all `count` sleeps run and return time.monotonic_ns() then.

        Raises RuntimeError when phpeek-pm exits or the timeout passes first.
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            sleeps = running_sleeps(self.process.pid)
            now_ns = time.monotonic_ns()
            for child in sleeps:
                self.seen[child.pid] = child.start_ticks
            if len(sleeps) >= self.count:
                return now_ns

            if self.process.poll() is not None:
                raise RuntimeError(
                    f"phpeek-pm exited with status {self.process.returncode} before "
                    f"{self.count} sleep processes ran\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out after {timeout} s with {len(sleeps)} of {self.count} "
                    f"sleep processes running\n{self.log_tail()}"
                )
            time.sleep(interval)

    def stop(self, timeout: float) -> tuple[int, int]:
        """Send SIGTERM, wait for the exit and return (elapsed ns, exit status)."""
        assert self.process is not None
        started_ns = time.monotonic_ns()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(
                f"phpeek-pm still running {timeout} s after SIGTERM\n{self.log_tail()}"
            ) from error
        return time.monotonic_ns() - started_ns, status

    def leftover_sleeps(self) -> list[int]:
        """List the sleeps seen earlier that still run, matched by start time."""
        leftovers = []
        for pid, start_ticks in self.seen.items():
            child = read_stat(pid)
            if child and child.start_ticks == start_ticks and child.state not in ("Z", "X"):
                leftovers.append(pid)
        return leftovers

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of phpeek-pm's output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        tail = text.splitlines()[-lines:]
        if not tail:
            return "(no output)"
        return "phpeek-pm output, last lines:\n" + "\n".join(tail)

    def __exit__(self, *exc_info) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.leftover_sleeps():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def measure_idle_rss(args: argparse.Namespace, workdir: Path) -> float:
    """Return phpeek-pm's VmRSS in MiB with 10 sleeps running after settling."""
    with Run(args.binary, workdir, IDLE_PROCESSES) as run:
        run.start()
        run.wait_for_sleeps(args.timeout, args.interval)
        time.sleep(args.settle)
        rss_kib = read_rss_kib(run.process.pid)
        run.stop(args.timeout)
        warn_about_leftovers(run)
    return rss_kib / 1024


def measure_startup(args: argparse.Namespace, workdir: Path) -> float:
    """Return milliseconds from the start of phpeek-pm until 50 sleeps run."""
    with Run(args.binary, workdir, STARTUP_PROCESSES) as run:
        started_ns = run.start()
        ready_ns = run.wait_for_sleeps(args.timeout, args.interval)
        run.stop(args.timeout)
        warn_about_leftovers(run)
    return (ready_ns - started_ns) / 1e6


def measure_shutdown(args: argparse.Namespace, workdir: Path) -> float:
    """Return milliseconds from SIGTERM until phpeek-pm exits, with 20 sleeps."""
    with Run(args.binary, workdir, SHUTDOWN_PROCESSES) as run:
        run.start()
        run.wait_for_sleeps(args.timeout, args.interval)
        time.sleep(args.settle)
        elapsed_ns, status = run.stop(args.timeout)
        if status != 0:
            print(f"note: phpeek-pm exited with status {status} after SIGTERM", file=sys.stderr)
        warn_about_leftovers(run)
    return elapsed_ns / 1e6


def warn_about_leftovers(run: Run) -> None:
    """Warn about sleeps that outlived phpeek-pm. Leaving the Run kills them."""
    leftovers = run.leftover_sleeps()
    if leftovers:
        print(
            f"warning: {len(leftovers)} sleep processes outlived phpeek-pm "
            f"(pids {leftovers[:5]}...); killing them",
            file=sys.stderr,
        )


def print_table(rows: list[tuple[str, str, list[float]]]) -> None:
    """Print one line per metric with the median, minimum, maximum and runs."""
    header = f"{'metric':<36} {'unit':<5} {'median':>9} {'min':>9} {'max':>9}  runs"
    print(header)
    print("-" * len(header))
    for name, unit, values in rows:
        runs = " ".join(f"{value:.1f}" for value in values)
        print(
            f"{name:<36} {unit:<5} {statistics.median(values):>9.1f} "
            f"{min(values):>9.1f} {max(values):>9.1f}  {runs}"
        )


def parse_args() -> argparse.Namespace:
    repo_dir = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])

    parser.add_argument(
        "--binary",
        type=Path,
        default=repo_dir / "target" / "release" / "phpeek-pm",
        help="phpeek-pm binary to measure (default: target/release/phpeek-pm)",
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per measurement (default 5, minimum 1)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.001,
        help="seconds between two polls of /proc (default 0.001)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait after all sleeps run, before reading RSS or "
        "sending SIGTERM (default 2)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the sleeps to start or for the exit (default 60)",
    )

    args = parser.parse_args()
    args.binary = args.binary.absolute()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not os.access(args.binary, os.X_OK):
        parser.error(
            f"{args.binary} not found or not executable. "
            "Build it with: scripts/build-release.sh"
        )
    return args


def main() -> int:
    args = parse_args()
    measurements = [
        (f"idle RSS, {IDLE_PROCESSES} processes", "MiB", measure_idle_rss),
        (f"start until {STARTUP_PROCESSES} running", "ms", measure_startup),
        (f"SIGTERM to exit, {SHUTDOWN_PROCESSES} processes", "ms", measure_shutdown),
    ]

    print(
        f"phpeek-pm: {args.binary}\n"
        f"host: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs, "
        f"{args.runs} runs each, poll interval {args.interval * 1000:g} ms\n"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="phpeek-bench-") as workdir:
        for name, unit, measure in measurements:
            values = []
            for _ in range(args.runs):
                values.append(measure(args, Path(workdir)))
            rows.append((name, unit, values))
    print_table(rows)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as error:
        print(f"startup_shutdown.py: error: {error}", file=sys.stderr)
        sys.exit(1)
