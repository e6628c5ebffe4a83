"""Read processes from /proc and reap the harness's own children.

The kernel here is built without CONFIG_PROC_CHILDREN, so
/proc/PID/task/TID/children is missing and a process tree can only be found
by reading the parent pid of every process. ProcessTree makes that cheap
enough to poll every millisecond. A pid that was outside the tree when it
was first seen stays outside, so each poll lists /proc once and reads the
stat files of new pids and of the tree's members only.
"""

import ctypes
import os
from dataclasses import dataclass

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")

# prctl(2) option that makes orphaned descendants reparent to the caller.
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/PID/stat that the harness uses (see proc(5))."""

    pid: int
    command: str
    state: str
    ppid: int
    utime_ticks: int
    stime_ticks: int
    start_ticks: int

    @property
    def alive(self) -> bool:
        """Return whether the process still runs, that is, is neither a zombie nor dead."""
        return self.state not in ("Z", "X")

    @property
    def cpu_ticks(self) -> int:
        """User plus system time of all the process's threads, in clock ticks."""
        return self.utime_ticks + self.stime_ticks


def parse_stat(pid: int, text: str) -> Stat:
    """Parse the text of /proc/PID/stat.

    The command name sits in parentheses and may itself contain spaces or
    parentheses, so the split happens at the last ")". Field 3 (the state)
    follows it, and proc(5) numbers the rest from there.
    """
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    fields = text[close_paren + 2 :].split()
    return Stat(
        pid=pid,
        command=text[open_paren + 1 : close_paren],
        state=fields[0],
        ppid=int(fields[1]),
        utime_ticks=int(fields[11]),
        stime_ticks=int(fields[12]),
        start_ticks=int(fields[19]),
    )


def read_stat(pid: int) -> Stat | None:
    """Read /proc/PID/stat, or return None when the process has gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        data = os.read(fd, 4096)
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    if not data:
        return None
    return parse_stat(pid, data.decode(errors="replace"))


def read_kib(pid: int, key: str, name: str = "status") -> int | None:
    """Return a "kB" field of /proc/PID/NAME, or None when the process has gone.

    Used for VmRSS and VmHWM in status, and Pss in smaps_rollup.
    """
    try:
        with open(f"/proc/{pid}/{name}") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def read_schedstat_ns(pid: int) -> tuple[int, int]:
    """Return (time on a CPU, time waiting for a CPU) in ns, summed over the threads alive now.

    Reads /proc/PID/task/TID/schedstat (see the kernel's sched-stats
    documentation). Threads that already exited are not counted.
    """
    running = waiting = 0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0, 0
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/schedstat") as schedstat:
                fields = schedstat.read().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        running += int(fields[0])
        waiting += int(fields[1])
    return running, waiting


def list_pids() -> set[int]:
    """List the pids of every process (thread group) visible in /proc."""
    return {int(entry) for entry in os.listdir("/proc") if entry.isdigit()}


class ProcessTree:
    """A process and its descendants, found by polling /proc.

    Membership is sticky: a descendant stays a member after its parent exits
    and it is reparented elsewhere, so the harness can still find and kill
    it. Each member is identified by pid and start time, so a reused pid is
    never mistaken for a member.
    """

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self.members: dict[int, Stat] = {}
        self.outsiders: set[int] = set()
        self._root_seen = False

    def refresh(self) -> dict[int, Stat]:
        """Read /proc again and return the living members, root included, by pid."""
        present = list_pids()
        self.outsiders &= present
        current: dict[int, Stat] = {}
        for pid, known in list(self.members.items()):
            stat = read_stat(pid) if pid in present else None
            if stat is None or stat.start_ticks != known.start_ticks:
                del self.members[pid]
                continue
            self.members[pid] = stat
            current[pid] = stat

        if not self._root_seen:
            # Adopt the root once only, so a later process that reuses its
            # pid is never taken for it.
            self._root_seen = True
            root = read_stat(self.root_pid)
            if root is not None:
                self.members[self.root_pid] = root
                current[self.root_pid] = root

        self._adopt_new(present - self.outsiders - self.members.keys(), current)
        return {pid: stat for pid, stat in current.items() if stat.alive}

    def _adopt_new(self, candidates: set[int], current: dict[int, Stat]) -> None:
        """Add the candidates whose parent is a member; mark the others outsiders.

        A child can be listed before its parent is adopted in the same pass,
        so adoption repeats until a pass adds no candidate.
        """
        pending: dict[int, Stat] = {}
        for pid in candidates:
            stat = read_stat(pid)
            if stat is not None:
                pending[pid] = stat
        adopted = True
        while adopted:
            adopted = False
            for pid, stat in list(pending.items()):
                if stat.ppid in self.members:
                    self.members[pid] = stat
                    current[pid] = stat
                    del pending[pid]
                    adopted = True
        self.outsiders.update(pending)

    def living(self, command: str | None = None) -> list[Stat]:
        """Refresh and list the living descendants, optionally only those running `command`."""
        members = self.refresh()
        return [
            stat
            for pid, stat in members.items()
            if pid != self.root_pid and (command is None or stat.command == command)
        ]

    def kill_members(self, signal_number: int) -> list[int]:
        """Send a signal to every member still alive with its recorded start time.

        Returns the pids signalled. ESRCH means the process exited meanwhile.
        """
        signalled = []
        for pid, known in self.members.items():
            stat = read_stat(pid)
            if stat is None or not stat.alive or stat.start_ticks != known.start_ticks:
                continue
            try:
                os.kill(pid, signal_number)
                signalled.append(pid)
            except ProcessLookupError:
                pass
        return signalled


def become_subreaper() -> None:
    """Make the harness a child subreaper, so orphans of the tools come back to it.

    Without this, a process orphaned by tini or s6 is reparented to PID 1,
    which on the benchmark VM reaps slowly and leaves zombies behind.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(error)}")


def reap_children(keep: set[int]) -> list[int]:
    """Reap every exited child of the harness whose pid is not in `keep`.

    `keep` contains the pids of subprocess.Popen objects still in use, whose
    exit status subprocess must collect itself. Returns the pids reaped.
    """
    reaped = []
    me = os.getpid()
    for pid in list_pids() - keep:
        stat = read_stat(pid)
        if stat is None or stat.ppid != me or stat.alive:
            continue
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done:
            reaped.append(pid)
    return reaped
