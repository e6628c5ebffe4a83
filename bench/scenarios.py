"""The measurements: each starts tools on a workload and returns one figure per run.

All figures come from outside the tools: pids, CPU ticks and memory from
/proc, time from time.monotonic_ns(), and the cat baseline's resource use
from /usr/bin/time -v.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from procfs import CLOCK_TICKS_PER_SECOND, Stat, read_kib, read_schedstat_ns, read_stat
from runner import Started
from tools import Tool, Workload

SLEEP = ["sleep", "3600"]
IDLE_CHILDREN = 10
MANY_CHILDREN = 100
START_CHILDREN = 50
SHUTDOWN_CHILDREN = 20
SCRAPE_INSTANCES = 1000

LOG_LINES = 1_000_000
LOG_LINE_BYTES = 100
# Every input line contains this tag once, so counting it in the output
# counts the lines that arrived, whatever the tool wrapped around them.
LOG_TAG = b" bench-log-line "
# The last input line starts with its number and the tag, which no earlier
# line does, so seeing it at the end of the output means all lines arrived.
LOG_END = f"{LOG_LINES - 1:07d}".encode() + LOG_TAG
# Bytes read from the end of the output file when looking for LOG_END.
TAIL_BYTES = 65536

# Poll period while waiting for a restarted child. Finer than the default
# --interval because the goal is 10 ms; polling one child is cheap.
RESTART_POLL_SECONDS = 0.0002


@dataclass
class Settings:
    """Options shared by every measurement."""

    runs: int
    interval: float
    settle: float
    idle_seconds: float
    timeout: float
    root: Path
    log_input: Path | None = None
    # Extra figures reported under the table, by name.
    notes: dict[str, list[float]] = field(default_factory=dict)
    # Values seen, such as exit statuses, reported under the table by name.
    seen: dict[str, set[str]] = field(default_factory=dict)

    def note(self, name: str, value: float) -> None:
        """Record an extra figure that is reported as a median under the table."""
        self.notes.setdefault(name, []).append(value)

    def saw(self, name: str, value: str) -> None:
        """Record a value that is reported, with the others seen, under the table."""
        self.seen.setdefault(name, set()).add(value)


@dataclass
class Variant:
    """A tool plus the workload options one column of the table needs."""

    column: str
    tool: Tool
    metrics: bool = False


class Workdirs:
    """Hands out a fresh directory per measurement and removes it afterwards."""

    def __init__(self, root: Path):
        self.root = root
        self.count = 0

    def new(self, label: str) -> Path:
        self.count += 1
        return self.root / f"{self.count:04d}-{label}"


def remove(path: Path) -> None:
    """Remove a measurement directory with everything the tool wrote into it."""
    shutil.rmtree(path, ignore_errors=True)


def measure_start(tool: Tool, settings: Settings, workdir: Path) -> float:
    """Return milliseconds from just before the fork of the tool until 50 sleeps run.

    The end is the exec time stamp of the 50th sleep, or, when polling
    /proc, up to one poll interval later. For s6 and tini the figure also
    includes the exec of the /bin/sh that runs each sleep. The supervisor
    processes' time on a CPU and time waiting for one, up to that moment,
    go to the notes: on a busy machine the wait explains most of the figure.
    """
    workload = Workload(SLEEP, START_CHILDREN)
    try:
        with Started(tool, workload, workdir) as started:
            started_ns = started.start()
            ready_ns, _ = started.wait_for(
                "sleep", START_CHILDREN, settings.timeout, settings.interval
            )
            running_ns = waiting_ns = 0
            for stat in started.supervisor_processes():
                running, waiting = read_schedstat_ns(stat.pid)
                running_ns += running
                waiting_ns += waiting
            name = f"{tool.name} until {START_CHILDREN} children run"
            settings.note(f"{name}: time on a CPU, ms", running_ns / 1e6)
            settings.note(f"{name}: time waiting for a CPU, ms", waiting_ns / 1e6)
    finally:
        remove(workdir)
    return (ready_ns - started_ns) / 1e6


def measure_restart(tool: Tool, settings: Settings, workdir: Path) -> float:
    """Return milliseconds from SIGKILL of the only child until a new one runs sleep.

    The child has run for the settle time (at least 1.5 s) before it is
    killed, so s6-supervise's minimum of 1 s between two spawns is not the
    cause of any delay measured.
    """
    workload = Workload(SLEEP, fast_restart=True)
    try:
        with Started(tool, workload, workdir) as started:
            started.start()
            _, (victim,) = started.wait_for("sleep", 1, settings.timeout, settings.interval)
            time.sleep(max(settings.settle, 1.5))
            killed_ns = time.monotonic_ns()
            os.kill(victim.pid, signal.SIGKILL)
            running_ns, _ = started.wait_for(
                "sleep", 1, settings.timeout, RESTART_POLL_SECONDS, exclude={victim.pid}
            )
    finally:
        remove(workdir)
    return (running_ns - killed_ns) / 1e6


def measure_shutdown(tool: Tool, settings: Settings, workdir: Path) -> float:
    """Return milliseconds from SIGTERM until the tool exits, with 20 sleeps running."""
    workload = Workload(SLEEP, SHUTDOWN_CHILDREN)
    try:
        with Started(tool, workload, workdir) as started:
            started.start()
            _, sleeps = started.wait_for(
                "sleep", SHUTDOWN_CHILDREN, settings.timeout, settings.interval
            )
            time.sleep(settings.settle)
            elapsed_ns, status = started.stop(settings.timeout)
            survivors = [stat.pid for stat in sleeps if still_runs(stat)]
            if survivors:
                print(
                    f"note: {len(survivors)} sleeps of {tool.name} still ran after it exited",
                    file=sys.stderr,
                )
            settings.saw(f"{tool.name} exit status after SIGTERM", str(status))
    finally:
        remove(workdir)
    return elapsed_ns / 1e6


def still_runs(stat: Stat) -> bool:
    """Return whether the process recorded in `stat` still runs (same pid and start time)."""
    current = read_stat(stat.pid)
    return current is not None and current.alive and current.start_ticks == stat.start_ticks


def write_log_input(path: Path) -> None:
    """Write LOG_LINES lines of exactly LOG_LINE_BYTES bytes each, numbered from 0."""
    filler = b"x" * (LOG_LINE_BYTES - 7 - len(LOG_TAG) - 1)
    with open(path, "wb") as file:
        for block_start in range(0, LOG_LINES, 100_000):
            block = b"".join(
                f"{index:07d}".encode() + LOG_TAG + filler + b"\n"
                for index in range(block_start, min(block_start + 100_000, LOG_LINES))
            )
            file.write(block)


def measure_log(tool: Tool, settings: Settings, workdir: Path) -> float:
    """Return lines per second from one child, through the tool, into a file.

    The child is an sh that blocks on a FIFO, runs `cat` of the input, then
    execs a sleep, so that no tool restarts or exits before it is measured.
    The clock starts when the harness writes to the FIFO and stops when the
    last input line is seen at the end of the output file. Every line is
    then counted in the output: a lost or doubled line is an error.
    """
    assert settings.log_input is not None
    workdir.mkdir(parents=True)
    fifo = workdir / "go.fifo"
    os.mkfifo(fifo)
    script = 'read go < "$1" && cat "$2" && exec sleep 3600'
    child = ["sh", "-c", script, "sh", str(fifo), str(settings.log_input)]
    workload = Workload(child, capture_output=True)
    try:
        with Started(tool, workload, workdir / "tool") as started:
            started.start()
            fifo_fd = open_fifo_for_writing(fifo, started, settings.timeout)
            go_ns = time.monotonic_ns()
            os.write(fifo_fd, b"go\n")
            os.close(fifo_fd)
            done_ns = wait_for_tail(started, LOG_END, settings)

            peak_kib = sum(
                read_kib(stat.pid, "VmHWM") or 0 for stat in log_processes(started)
            )
            settings.note(f"{tool.name} peak RSS during the log run, MiB", peak_kib / 1024)
            output = started.launch.output_path
            lines = count_tag(output_files(output))
            if lines != LOG_LINES:
                raise RuntimeError(
                    f"{tool.name} wrote {lines} of {LOG_LINES} lines to {output}\n"
                    f"{started.output_tail()}"
                )
    finally:
        remove(workdir)
    return LOG_LINES / ((done_ns - go_ns) / 1e9)


def log_processes(started: Started) -> list[Stat]:
    """List the supervisor processes plus s6-log, which writes s6's log files."""
    processes = started.supervisor_processes()
    counted = {stat.pid for stat in processes}
    loggers = [
        stat
        for stat in started.tree.refresh().values()
        if stat.command == "s6-log" and stat.pid not in counted
    ]
    return processes + loggers


def open_fifo_for_writing(fifo: Path, started: Started, timeout: float) -> int:
    """Open the FIFO for writing once the child has opened it for reading.

    A non-blocking open fails with ENXIO while no reader exists, so the
    harness retries instead of blocking forever on a tool that failed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != 6:  # ENXIO: no reader yet
                raise
        if started.process.poll() is not None:
            raise RuntimeError(
                f"{started.tool.name} exited with status {started.process.returncode} "
                f"before its child opened the FIFO\n{started.output_tail()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"the child of {started.tool.name} never opened {fifo}")
        time.sleep(0.001)


def wait_for_tail(started: Started, needle: bytes, settings: Settings) -> int:
    """Poll the end of the output file until it contains `needle`; return the time then."""
    path = started.launch.output_path
    deadline = time.monotonic() + settings.timeout * 5
    while True:
        now_ns = time.monotonic_ns()
        if needle in read_tail(path, TAIL_BYTES):
            return now_ns
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the last log line never reached {path} within {settings.timeout * 5:g} s\n"
                f"{started.output_tail()}"
            )
        time.sleep(settings.interval)


def read_tail(path: Path, size: int) -> bytes:
    """Return the last `size` bytes of a file, or nothing when it does not exist yet."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return b""
    try:
        length = os.fstat(fd).st_size
        return os.pread(fd, size, max(0, length - size))
    finally:
        os.close(fd)


def output_files(output: Path) -> list[Path]:
    """List the output file plus the archives s6-log rotated out of it (named @...)."""
    return [output, *sorted(output.parent.glob("@*"))]


def count_tag(paths: list[Path]) -> int:
    """Count LOG_TAG in the files, reading them in chunks."""
    total = 0
    overlap = len(LOG_TAG) - 1
    for path in paths:
        with open(path, "rb") as file:
            carry = b""
            while chunk := file.read(1 << 22):
                data = carry + chunk
                total += data.count(LOG_TAG)
                # The carried bytes are too short to hold a whole tag, so no
                # tag is counted twice, and a tag split across two chunks is
                # counted once.
                carry = data[-overlap:]
    return total


def measure_cat(settings: Settings, workdir: Path) -> float:
    """Return lines per second for `cat` of the log input into a file.

    cat runs under /usr/bin/time -v, whose report gives its CPU time and
    maximum RSS. The wall clock covers the fork and exec of /usr/bin/time
    too, about a millisecond here.
    """
    assert settings.log_input is not None
    workdir.mkdir(parents=True)
    report = workdir / "time.txt"
    try:
        with open(workdir / "out.log", "wb") as output:
            started_ns = time.monotonic_ns()
            subprocess.run(
                ["/usr/bin/time", "-v", "-o", str(report), "cat", str(settings.log_input)],
                stdout=output,
                check=True,
            )
            elapsed_ns = time.monotonic_ns() - started_ns
        usage = parse_time_report(report.read_text())
        settings.note("cat CPU time (user + system), ms", usage["cpu_seconds"] * 1000)
        settings.note("cat maximum RSS, MiB", usage["max_rss_kib"] / 1024)
    finally:
        remove(workdir)
    return LOG_LINES / (elapsed_ns / 1e9)


def parse_time_report(text: str) -> dict[str, float]:
    """Read CPU seconds and maximum RSS from GNU time's -v report."""
    values = {}
    for line in text.splitlines():
        name, _, value = line.strip().rpartition(": ")
        values[name] = value
    cpu_seconds = float(values["User time (seconds)"]) + float(values["System time (seconds)"])
    return {
        "cpu_seconds": cpu_seconds,
        "max_rss_kib": float(values["Maximum resident set size (kbytes)"]),
    }


@dataclass
class IdleFigures:
    """Figures of one variant from one concurrent idle run."""

    rss_mib: float
    pss_mib: float
    # From utime + stime, in clock ticks of 10 ms.
    cpu_percent: float
    # From schedstat, in ns, but missing threads that exited in the window.
    schedstat_cpu_percent: float
    helper_rss_mib: float


def measure_idle(
    variants: list[Variant],
    children: int,
    idle_seconds: float,
    settings: Settings,
    workdirs: Workdirs,
) -> dict[str, IdleFigures | str]:
    """Run every variant at once with `children` sleeps and measure it idle.

    After the settle time, the CPU ticks of each variant's supervisor
    processes are read, then read again `idle_seconds` later, and the RSS
    is read at the end. All variants share the idle window because an idle
    supervisor sleeps in the kernel and barely competes with the others,
    and running them one after another would take five times as long.
    Returns the figures by column, or the error of a variant that failed.
    """
    started_all: list[tuple[Variant, Started]] = []
    results: dict[str, IdleFigures | str] = {}
    try:
        for variant in variants:
            workload = Workload(SLEEP, children)
            if variant.metrics:
                workload.metrics_port, workload.api_port = free_port(), free_port()
            started = Started(variant.tool, workload, workdirs.new(f"idle-{variant.tool.name}"))
            started_all.append((variant, started))
            started.start()

        running = []
        for variant, started in started_all:
            try:
                started.wait_for("sleep", children, settings.timeout, settings.interval)
                running.append((variant, started))
            except RuntimeError as error:
                results[variant.column] = str(error)
                started.cleanup()
        time.sleep(settings.settle)

        before = {variant.column: supervisor_cpu(started) for variant, started in running}
        window_start = time.monotonic()
        time.sleep(idle_seconds)
        after = {variant.column: supervisor_cpu(started) for variant, started in running}
        window = time.monotonic() - window_start

        for variant, started in running:
            ticks = after[variant.column][0] - before[variant.column][0]
            running_ns = after[variant.column][1] - before[variant.column][1]
            results[variant.column] = IdleFigures(
                rss_mib=rss_mib(started.supervisor_processes()),
                pss_mib=pss_mib(started.supervisor_processes()),
                cpu_percent=ticks / CLOCK_TICKS_PER_SECOND / window * 100,
                schedstat_cpu_percent=running_ns / 1e9 / window * 100,
                helper_rss_mib=rss_mib(helper_processes(started)),
            )
        return results
    finally:
        for _, started in started_all:
            started.cleanup()
            remove(started.workdir)


def supervisor_cpu(started: Started) -> tuple[int, int]:
    """Sum the CPU use of the tool's supervisor processes.

    Returns user plus system clock ticks from /proc/PID/stat, and time on a
    CPU in ns from schedstat.
    """
    processes = started.supervisor_processes()
    ticks = sum(stat.cpu_ticks for stat in processes)
    running_ns = sum(read_schedstat_ns(stat.pid)[0] for stat in processes)
    return ticks, running_ns


def rss_mib(processes: list[Stat]) -> float:
    """Sum VmRSS of the processes, in MiB."""
    return sum(read_kib(stat.pid, "VmRSS") or 0 for stat in processes) / 1024


def pss_mib(processes: list[Stat]) -> float:
    """Sum the proportional set size of the processes, in MiB.

    PSS divides each shared page among the processes that map it, so 100
    s6-supervise processes count their shared libraries once in total.
    """
    return sum(read_kib(stat.pid, "Pss", "smaps_rollup") or 0 for stat in processes) / 1024


def helper_processes(started: Started) -> list[Stat]:
    """List descendants that are neither supervisor processes nor sleeps (tini's sh)."""
    counted = {stat.pid for stat in started.supervisor_processes()}
    return [
        stat
        for stat in started.tree.living()
        if stat.pid not in counted and stat.command != "sleep"
    ]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure_scrapes(tool: Tool, settings: Settings, workdir: Path) -> list[float]:
    """Return milliseconds per GET /metrics, one per run, with 1,000 instances running.

    Each figure runs from just before the connection opens until the whole
    body has been read.

    NOTE: not yet run against a build that serves /metrics. The config keys
    (metrics_port, metrics_path, api_port) follow PHPeek PM 1.x and may need
    adjusting once phpeek-pm implements them.
    """
    port = free_port()
    workload = Workload(SLEEP, SCRAPE_INSTANCES, metrics_port=port, api_port=free_port())
    url = f"http://127.0.0.1:{port}/metrics"
    timings = []
    try:
        with Started(tool, workload, workdir) as started:
            started.start()
            # Polling 1,000 children reads 1,000 stat files, so poll less often.
            started.wait_for(
                "sleep", SCRAPE_INSTANCES, settings.timeout * 2, settings.interval * 10
            )
            time.sleep(settings.settle)
            for _ in range(settings.runs):
                started_ns = time.monotonic_ns()
                with urllib.request.urlopen(url, timeout=settings.timeout) as response:
                    body = response.read()
                timings.append((time.monotonic_ns() - started_ns) / 1e6)
            settings.note("phpeek-pm /metrics body size, KiB", len(body) / 1024)
    finally:
        remove(workdir)
    return timings
