"""Fork, exec and exit events from the kernel's netlink process connector.

Polling /proc finds a new child only at the next poll, and each poll takes
CPU time from the tool being measured, which matters on a 2-CPU machine.
The process connector (CONFIG_PROC_EVENTS) instead sends an event for every
fork, exec and exit on the machine, stamped with ktime_get_ns(), the clock
behind time.monotonic_ns(). The harness sleeps until events arrive and
takes exact exec times from them. Listening needs CAP_NET_ADMIN, so
without root the harness falls back to polling /proc.

The message layout follows linux/netlink.h, linux/connector.h and
linux/cn_proc.h.
"""

import errno
import os
import select
import socket
import struct
from dataclasses import dataclass, field

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
NLMSG_DONE = 3

PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_EXIT = 0x80000000

NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
EVENT_HEADER = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
FORK_EVENT = struct.Struct("=iiii")  # parent pid, parent tgid, child pid, child tgid
PID_EVENT = struct.Struct("=ii")  # pid, tgid: the start of exec and exit events

# Socket receive buffer. The connector reports every process on the
# machine, so a busy build can queue many events between two reads.
RECEIVE_BUFFER_BYTES = 32 * 1024 * 1024


class EventsLost(Exception):
    """The socket buffer overflowed, so some events never arrived."""


@dataclass
class Tracked:
    """A process tree followed through events: its members and their latest exec."""

    root: int
    members: set[int] = field(default_factory=set)
    # pid -> (time.monotonic_ns() of its latest exec, its command name then)
    execs: dict[int, tuple[int, str]] = field(default_factory=dict)
    lost: bool = False

    def exec_times(self, command: str, exclude: set[int]) -> list[int]:
        """Return, sorted, the exec times of living members whose latest exec ran `command`."""
        return sorted(
            stamp
            for pid, (stamp, name) in self.execs.items()
            if name == command and pid not in exclude
        )


class ProcessEvents:
    """A subscription to the process connector that updates the tracked trees."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.tracked: list[Tracked] = []

    @classmethod
    def open(cls) -> "ProcessEvents | None":
        """Subscribe to process events, or return None when the kernel or permissions forbid it."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError:
            return None
        try:
            set_receive_buffer(sock)
            sock.bind((os.getpid(), CN_IDX_PROC))
            send_control(sock, PROC_CN_MCAST_LISTEN)
        except OSError:
            sock.close()
            return None
        return cls(sock)

    def close(self) -> None:
        """Unsubscribe and close the socket."""
        try:
            send_control(self.sock, PROC_CN_MCAST_IGNORE)
        except OSError:
            pass
        self.sock.close()

    def track(self, root: int) -> Tracked:
        """Start following the tree under `root`, which must have been started just now.

        Events queue in the socket until the next pump, so forks that
        happened between the start of `root` and this call are not missed.
        """
        tracked = Tracked(root, {root})
        self.tracked.append(tracked)
        return tracked

    def untrack(self, tracked: Tracked) -> None:
        if tracked in self.tracked:
            self.tracked.remove(tracked)

    def pump(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for events, then apply every queued event.

        When the buffer overflowed, every tracked tree is marked lost,
        because any of them may have missed an event.
        """
        ready, _, _ = select.select([self.sock], [], [], timeout)
        while ready:
            try:
                data = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    raise
                for tracked in self.tracked:
                    tracked.lost = True
                continue
            self.apply_messages(data)

    def apply_messages(self, data: bytes) -> None:
        """Apply every netlink message in one datagram."""
        offset = 0
        while offset + NLMSG_HEADER.size <= len(data):
            length = NLMSG_HEADER.unpack_from(data, offset)[0]
            if length < NLMSG_HEADER.size:
                return
            event_offset = offset + NLMSG_HEADER.size + CN_MSG.size
            if event_offset + EVENT_HEADER.size <= offset + length:
                self.apply_event(data, event_offset)
            # Netlink messages are aligned to 4 bytes.
            offset += (length + 3) & ~3

    def apply_event(self, data: bytes, offset: int) -> None:
        what, _, stamp = EVENT_HEADER.unpack_from(data, offset)
        body = offset + EVENT_HEADER.size
        if what == PROC_EVENT_FORK:
            _, parent_tgid, child_pid, child_tgid = FORK_EVENT.unpack_from(data, body)
            # A new thread reports child_pid != child_tgid and is no new process.
            if child_pid == child_tgid:
                for tracked in self.tracked:
                    if parent_tgid in tracked.members:
                        tracked.members.add(child_tgid)
        elif what == PROC_EVENT_EXEC:
            _, tgid = PID_EVENT.unpack_from(data, body)
            for tracked in self.tracked:
                if tgid in tracked.members:
                    tracked.execs[tgid] = (stamp, read_command(tgid))
        elif what == PROC_EVENT_EXIT:
            pid, tgid = PID_EVENT.unpack_from(data, body)
            if pid == tgid:
                for tracked in self.tracked:
                    tracked.members.discard(tgid)
                    tracked.execs.pop(tgid, None)


def set_receive_buffer(sock: socket.socket) -> None:
    """Enlarge the receive buffer, past rmem_max when the harness may (CAP_NET_ADMIN)."""
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, RECEIVE_BUFFER_BYTES)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)


def send_control(sock: socket.socket, operation: int) -> None:
    """Send PROC_CN_MCAST_LISTEN or PROC_CN_MCAST_IGNORE to the connector."""
    payload = struct.pack("=I", operation)
    message = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    header = NLMSG_HEADER.pack(NLMSG_HEADER.size + len(message), NLMSG_DONE, 0, 0, os.getpid())
    sock.send(header + message)


def read_command(pid: int) -> str:
    """Return /proc/PID/comm, or "" when the process has already gone."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().rstrip("\n")
    except (FileNotFoundError, ProcessLookupError):
        return ""
