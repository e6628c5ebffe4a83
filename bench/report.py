"""Turn the measured runs into markdown: the table, the goals and the BENCHMARKS.md section."""

import statistics
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ["phpeek-pm", "supervisord", "s6", "tini"]
PEERS = COLUMNS[1:]


@dataclass
class Row:
    """One scenario: the runs of each column, or why a column has none."""

    key: str
    label: str
    unit: str
    digits: int = 1
    # Runs per column, or the reason the column was not measured.
    cells: dict[str, list[float] | str] = field(default_factory=dict)

    def add(self, column: str, value: float) -> None:
        """Append one run to a column."""
        runs = self.cells.setdefault(column, [])
        if isinstance(runs, list):
            runs.append(value)

    def skip(self, column: str, reason: str) -> None:
        """Mark a column as not measured, with the reason shown in its cell."""
        self.cells[column] = reason

    def median(self, column: str) -> float | None:
        """Return the median of a column's runs, or None when it has none."""
        runs = self.cells.get(column)
        if isinstance(runs, list) and runs:
            return statistics.median(runs)
        return None

    def cell(self, column: str) -> str:
        """Format a column's median, or its reason, for the table."""
        runs = self.cells.get(column)
        if isinstance(runs, str):
            return runs
        value = self.median(column)
        return "not run" if value is None else f"{value:,.{self.digits}f}"

    def ratio(self, peer: str) -> str:
        """Format the peer's median divided by phpeek-pm's, or a dash."""
        own = self.median("phpeek-pm")
        other = self.median(peer)
        if own is None or other is None or own == 0:
            return "—"
        return format_ratio(other / own)


def format_figure(value: float) -> str:
    """Format a figure with about three significant digits and no exponent."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    # Two significant digits below 1: 0.021, 0.0042.
    decimals = 1
    while abs(value) * 10**decimals < 10:
        decimals += 1
    return f"{value:.{decimals}f}"


def format_ratio(ratio: float) -> str:
    """Format a ratio with two or three significant digits and a multiplication sign."""
    if ratio >= 100:
        return f"{ratio:,.0f}×"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×"


def render_table(rows: list[Row]) -> str:
    """Render the medians and the ratios peer / phpeek-pm as a markdown table."""
    header = ["scenario", "unit", *COLUMNS, *(f"{peer} / phpeek-pm" for peer in PEERS)]
    lines = [table_line(header), table_line(["---"] * 2 + ["---:"] * (len(header) - 2))]
    for row in rows:
        cells = [row.label, row.unit, *(row.cell(column) for column in COLUMNS)]
        cells += [row.ratio(peer) for peer in PEERS]
        lines.append(table_line(cells))
    return "\n".join(lines)


def render_runs(rows: list[Row]) -> str:
    """Render every run of every column, to show the spread behind each median."""
    lines = [table_line(["scenario", "tool", "runs", "min", "max"]), table_line(["---"] * 5)]
    for row in rows:
        for column in COLUMNS:
            runs = row.cells.get(column)
            if not isinstance(runs, list) or not runs:
                continue
            shown = " ".join(f"{value:.{row.digits}f}" for value in runs)
            lines.append(
                table_line(
                    [
                        f"{row.label} ({row.unit})",
                        column,
                        shown,
                        f"{min(runs):.{row.digits}f}",
                        f"{max(runs):.{row.digits}f}",
                    ]
                )
            )
    return "\n".join(lines)


def table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


@dataclass(frozen=True)
class Goal:
    """A target for phpeek-pm's median in one row."""

    row_key: str
    text: str
    limit: float
    # "below": strictly less than the limit; "at most" and "at least" include it.
    comparison: str

    def check(self, value: float) -> bool:
        """Return whether `value` meets the goal."""
        if self.comparison == "below":
            return value < self.limit
        if self.comparison == "at most":
            return value <= self.limit
        return value >= self.limit


GOALS = [
    Goal("rss_10", "idle RSS under 5 MiB with 10 children", 5.0, "below"),
    Goal("start_50", "all 50 children running within 100 ms", 100.0, "at most"),
    Goal("restart", "a replacement running within 10 ms of the SIGKILL", 10.0, "at most"),
    Goal("shutdown", "exit within 50 ms of SIGTERM", 50.0, "at most"),
    Goal("cpu_10", "under 0.1% of one core when idle", 0.1, "below"),
    Goal("log", "at least 1 million lines per second of logs", 1.0, "at least"),
    Goal("scrape", "a /metrics scrape under 20 ms", 20.0, "below"),
]


def evaluate_goals(rows: list[Row]) -> list[str]:
    """Return one markdown list item per goal: met, missed or not measured, with the figure."""
    by_key = {row.key: row for row in rows}
    items = []
    for goal in GOALS:
        row = by_key.get(goal.row_key)
        value = row.median("phpeek-pm") if row else None
        if row is None or value is None:
            reason = row.cell("phpeek-pm") if row else "not run"
            items.append(f"- not measured: {goal.text} ({reason})")
            continue
        verdict = "met" if goal.check(value) else "missed"
        items.append(f"- {verdict}: {goal.text} (median {row.cell('phpeek-pm')} {row.unit})")
    return items


METHOD = """\
Method: `bench/compare.sh` runs `bench/compare.py` (python3, standard
library only), which starts each tool as a black box with
`start_new_session=True` and measures it from outside: processes, CPU
ticks and memory from /proc, time from `time.monotonic_ns()`, exec times
from the kernel's process events (the netlink process connector, which
stamps each event with the same monotonic clock), and the cat baseline's
CPU time and maximum RSS from `/usr/bin/time -v`. Each child
is `sleep 3600`. The runs alternate between the tools (phpeek-pm,
supervisord, s6, tini, phpeek-pm, ...) and each cell is the median of the
runs. The harness is a child subreaper, so it reaps whatever the tools
orphan, and after each run it kills the tool's process group and every
descendant it saw, by pid.

How each tool runs N identical children, in its usual form for several
copies of one program:

- phpeek-pm: one YAML process with `scale: N`, JSON logs on stdout.
- supervisord (`-n`): one `[program:child]` with `numprocs=N`,
  `startsecs=0`, `autorestart=true`, `stdout_logfile=/dev/stdout` and
  `stdout_logfile_maxbytes=0`, so child output goes to supervisord's
  stdout as with phpeek-pm. With one `[program]` section per child
  instead, supervisord stops the programs one after another: in a first
  version of this harness it took about 10 s to exit with 20 children.
- s6: `s6-svscan` on a scan directory with one service per child (s6 has
  no instance count), whose `run` is `#!/bin/sh` plus `exec sleep 3600`.
  The time figures include that sh exec.
- tini (`tini -s -g --`): tini runs one child. With several children it
  runs one `sh -c` loop that starts the N children in the background and
  `wait`s, which is how tini runs more than one process. `-g` forwards
  SIGTERM to that sh's whole process group, and `-s` makes tini a
  subreaper as it would be as PID 1.

What each figure counts:

- idle RSS: sum of VmRSS of the supervisor processes at the end of the
  idle window (10 children) or of the settle time (100 children). These
  are phpeek-pm's process, supervisord's python process, s6-svscan plus
  every s6-supervise (one per service, part of s6's supervision tree),
  and tini's process only (the sh it runs is reported under the table).
  The children are never counted. Shared library pages count once per
  process.
- idle PSS: the same processes' `Pss` from /proc/PID/smaps_rollup, which
  divides each shared page among the processes that map it.
- idle CPU: user plus system clock ticks of the same processes, read from
  /proc/PID/stat before and after the idle window, as a percentage of one
  core. Ticks are 1/100 s, so one tick in 60 s is 0.017%. Under the table,
  the same from schedstat, in ns, which misses threads that exit during
  the window.
- All idle variants run at the same time in each run, because an idle
  supervisor barely competes with the others.
- start: from just before the fork of the tool until the 50th child
  execs `sleep`, by the time stamp of that exec event. Without process
  events (not root, or `--poll`) the harness polls /proc instead, and the
  figure includes up to one poll interval.
  The supervisor processes' time on a CPU and time waiting for a CPU up
  to that moment, from /proc/PID/task/TID/schedstat, are listed under the
  table: the wait shows how much of the figure is the machine's load.
- restart: the only child has run for at least 1.5 s, gets SIGKILL, and
  the clock stops at the exec of the new `sleep` (or when a poll of /proc
  every 0.2 ms finds it). phpeek-pm uses the smallest
  `restart_backoff_initial` its check-config accepts.
  s6-supervise waits 1 s before respawning a service that never signalled
  readiness, and `sleep` cannot signal it.
- shutdown: from SIGTERM until `waitpid` returns for the tool, with 20
  children that exit on SIGTERM.
- log throughput: one child, an sh that waits on a FIFO, then `cat`s
  1,000,000 lines of 100 bytes and stays alive. The clock starts when the
  harness writes to the FIFO and stops when the last line appears at the
  end of the output file. Then every line is counted, and a lost line
  fails the run. phpeek-pm wraps each line in a JSON record on its
  stdout, a file. supervisord copies the lines to its stdout, a file. s6
  pipes them to its logger, `s6-log s200000000 DIR`, which writes
  DIR/current (one file for the whole run). tini handles no output: the
  child writes straight to tini's stdout, a file, so tini's figure is a
  second cat baseline.
- peak RSS during the log run (under the table): VmHWM of the supervisor
  processes, plus s6-log for s6.
- /metrics scrape: phpeek-pm with one process of scale 1,000; each figure
  is one GET, from before the connection opens until the body is read.
"""


def render_section(
    date: str,
    machine: list[str],
    versions: list[str],
    settings_line: str,
    rows: list[Row],
    notes: list[str],
    rerun: str,
) -> str:
    """Render the section for BENCHMARKS.md, which the results file also contains."""
    parts = [
        f"## Side by side with supervisord, s6 and tini ({date})",
        "Machine: " + ", ".join(machine) + ".",
        "Versions:\n\n" + "\n".join(f"- {version}" for version in versions),
        METHOD.rstrip(),
        settings_line,
        render_table(rows),
        "Ratios are peer / phpeek-pm, so above 1 means the peer needs more, except for "
        "lines per second, where above 1 means the peer is faster.",
    ]
    if notes:
        parts.append("Other figures (medians):\n\n" + "\n".join(f"- {note}" for note in notes))
    parts.append("Goals for phpeek-pm on this machine:\n\n" + "\n".join(evaluate_goals(rows)))
    parts.append(f"Rerun with:\n\n```\n{rerun}\n```")
    return "\n\n".join(parts) + "\n"


def insert_section(benchmarks: Path, section: str) -> None:
    """Insert `section` above the first dated section, so newer results come first."""
    text = benchmarks.read_text()
    marker = "\n## "
    at = text.find(marker)
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        text = text[: at + 1] + section + "\n" + text[at + 1 :]
    benchmarks.write_text(text)


def unique_path(directory: Path, stem: str) -> Path:
    """Return directory/stem.md, or stem-2.md and so on when it exists.

    No earlier result file is ever overwritten.
    """
    path = directory / f"{stem}.md"
    number = 2
    while path.exists():
        path = directory / f"{stem}-{number}.md"
        number += 1
    return path
