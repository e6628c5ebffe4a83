"""Start one tool, watch its process tree and always clean up after it.

Every tool is started with start_new_session=True, so its pid is also the
id of a process group that the harness created. Cleanup kills that group,
then every descendant the harness has seen (they may sit in other groups or
sessions, because phpeek-pm, supervisord and s6-supervise move their
children out), and reaps whatever was reparented to the harness.

Waits for children use kernel process events when the harness can
subscribe to them (see events.py), and poll /proc otherwise.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from events import ProcessEvents, Tracked
from procfs import ProcessTree, Stat, read_stat, reap_children
from tools import Tool, Workload

# How long cleanup waits for killed processes to disappear.
CLEANUP_SECONDS = 5.0


class Started:
    """One tool started on one workload in its own directory.

    Use it as a context manager: leaving the block ends the tool and all
    its descendants with SIGKILL if they still run. Started.live contains every
    instance not yet cleaned up, so the harness can end them all when it is
    interrupted.
    """

    live: set["Started"] = set()
    # The harness's subscription to process events, or None to poll /proc.
    events: ProcessEvents | None = None

    def __init__(self, tool: Tool, workload: Workload, workdir: Path):
        workdir.mkdir(parents=True)
        self.tool = tool
        self.workdir = workdir
        self.launch = tool.launch(workdir, workload)
        self.stderr_path = workdir / "stderr.log"
        self.process: subprocess.Popen | None = None
        self.tree: ProcessTree | None = None
        self.tracked: Tracked | None = None

    def __enter__(self) -> "Started":
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()

    def start(self) -> int:
        """Start the tool and return time.monotonic_ns() taken just before the fork."""
        with open(self.launch.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            Started.live.add(self)
            started_ns = time.monotonic_ns()
            self.process = subprocess.Popen(
                self.launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                env=self.launch.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        self.tree = ProcessTree(self.process.pid)
        if Started.events is not None:
            self.tracked = Started.events.track(self.process.pid)
        return started_ns

    @property
    def pid(self) -> int:
        assert self.process is not None, "start() was not called"
        return self.process.pid

    def wait_for(
        self,
        command: str,
        count: int,
        timeout: float,
        interval: float,
        exclude: set[int] = frozenset(),
    ) -> tuple[int, list[Stat]]:
        """Wait until `count` descendants run `command`, leaving out pids in `exclude`.

        Returns the time.monotonic_ns() at which the last of them started
        running `command`, and them. With process events that time is the
        kernel's exec time stamp. Polling /proc every `interval` seconds
        instead gives the time of the poll that saw them. Raises
        RuntimeError when the tool exits or `timeout` seconds pass first.
        """
        assert self.tree is not None and self.process is not None
        deadline = time.monotonic() + timeout
        if self.tracked is not None:
            found = self._wait_for_events(command, count, deadline, exclude)
            if found is not None:
                # Record the tree in /proc while it is whole, for cleanup.
                self.tree.refresh()
                return found
        while True:
            matching = [stat for stat in self.tree.living(command) if stat.pid not in exclude]
            now_ns = time.monotonic_ns()
            if len(matching) >= count:
                return now_ns, matching

            self._check_progress(command, count, len(matching), deadline)
            time.sleep(interval)

    def _wait_for_events(
        self, command: str, count: int, deadline: float, exclude: set[int]
    ) -> tuple[int, list[Stat]] | None:
        """Wait through process events; return None if events were lost, to poll instead."""
        while not self.tracked.lost:
            Started.events.pump(0.05)
            stamps = self.tracked.exec_times(command, exclude)
            if len(stamps) >= count:
                # The command name is read when the exec event is handled. If
                # the process has exec'd again by then (s6's run script into
                # sleep), that later exec's event arrives within microseconds
                # and updates the time stamp.
                Started.events.pump(0.002)
                stamps = self.tracked.exec_times(command, exclude)
                pids = [
                    pid
                    for pid, (_, name) in self.tracked.execs.items()
                    if name == command and pid not in exclude
                ]
                stats = [stat for stat in map(read_stat, pids) if stat is not None]
                return stamps[count - 1], stats
            self._check_progress(command, count, len(stamps), deadline)
        print(
            f"note: process events were lost; polling /proc for {self.tool.name}",
            file=sys.stderr,
        )
        return None

    def _check_progress(self, command: str, count: int, running: int, deadline: float) -> None:
        """Raise RuntimeError when the tool has exited or the deadline has passed."""
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.tool.name} exited with status {self.process.returncode} while "
                f"{running} of {count} {command} processes ran\n{self.output_tail()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"timed out with {running} of {count} {command} processes of "
                f"{self.tool.name} running\n{self.output_tail()}"
            )

    def supervisor_processes(self) -> list[Stat]:
        """List the processes that count as the supervisor, as the tool defines them."""
        assert self.tree is not None
        return self.tool.supervisor_processes(self.tree)

    def stop(self, timeout: float) -> tuple[int, int]:
        """Send SIGTERM to the tool, wait for its exit and return (elapsed ns, exit status).

        Raises RuntimeError when it still runs after `timeout` seconds.
        """
        assert self.process is not None
        started_ns = time.monotonic_ns()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(
                f"{self.tool.name} still runs {timeout:g} s after SIGTERM\n{self.output_tail()}"
            ) from error
        return time.monotonic_ns() - started_ns, status

    def cleanup(self) -> None:
        """Kill the tool's process group and every descendant seen, then reap them."""
        if self.process is None:
            return
        Started.live.discard(self)
        if self.tracked is not None:
            Started.events.untrack(self.tracked)
            self.tracked = None
        # A last look records descendants born since the previous poll.
        self.tree.refresh()
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()

        deadline = time.monotonic() + CLEANUP_SECONDS
        while True:
            self.tree.kill_members(signal.SIGKILL)
            reap_children(keep=Started.live_pids())
            if not self.tree.living() or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.process = None

    @classmethod
    def live_pids(cls) -> set[int]:
        """Return the pids of tools still running, whose status subprocess collects."""
        return {started.process.pid for started in cls.live if started.process is not None}

    @classmethod
    def cleanup_all(cls) -> None:
        """Clean up every tool not yet cleaned up, for an interrupted run."""
        for started in list(cls.live):
            started.cleanup()

    def output_tail(self, lines: int = 15) -> str:
        """Return the last lines of the tool's stderr and stdout, for error messages."""
        parts = []
        paths = [self.stderr_path, self.launch.stdout_path, self.launch.output_path]
        for path in dict.fromkeys(paths):
            try:
                with open(path, "rb") as file:
                    file.seek(max(0, path.stat().st_size - 8192))
                    tail = file.read().decode(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            if tail:
                parts.append(f"{path.name}, last lines:\n" + "\n".join(tail))
        return "\n".join(parts) or "(no output)"
