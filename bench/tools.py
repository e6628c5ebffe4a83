"""Adapters that run phpeek-pm, supervisord, s6-svscan and tini for the harness.

Each tool turns a Workload (N instances of one command) into a command
line plus the config files it needs, in the tool's usual form for
identical workers. It also names the processes that count as the
supervisor when memory and CPU are added up.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from procfs import ProcessTree, Stat

# Debian package that provides each command the harness runs.
PACKAGES = {
    "supervisord": "supervisor",
    "s6-svscan": "s6",
    "s6-log": "s6",
    "tini": "tini",
    "/usr/bin/time": "time",
}

# Child used in configs that are only checked, never run.
SLEEP_FOR_CHECKS = ["sleep", "1"]

# s6-log rotates `current` when it reaches this size. 200 MB keeps the whole
# log benchmark in one file, below s6-log's upper bound of 256 MiB.
S6_LOG_FILE_BYTES = 200_000_000


@dataclass
class Workload:
    """The children a tool must run, and how it should treat them."""

    # argv of every child.
    command: list[str]
    # Number of children, each running `command`.
    instances: int = 1
    # Restart a killed child as soon as the tool allows.
    fast_restart: bool = False
    # Send the children's output through the tool's own log path (s6-log).
    capture_output: bool = False
    # phpeek-pm only: turn on metrics and the API on these ports.
    metrics_port: int | None = None
    api_port: int | None = None


@dataclass
class Launch:
    """A prepared start: the command, its stdout and where the children's output lands."""

    argv: list[str]
    stdout_path: Path
    # File the children's output ends up in; the tool's stdout unless set.
    output_path: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        if self.output_path is None:
            self.output_path = self.stdout_path


class Tool:
    """A process supervisor under test."""

    name = ""
    # Why the tool cannot do a scenario, by scenario key.
    cannot: dict[str, str] = {}

    def launch(self, workdir: Path, workload: Workload) -> Launch:
        """Write the tool's config for `workload` under `workdir` and return the command."""
        raise NotImplementedError

    def supervisor_processes(self, tree: ProcessTree) -> list[Stat]:
        """List the processes counted as the supervisor: by default, the root only."""
        members = tree.refresh()
        root = members.get(tree.root_pid)
        return [root] if root else []

    def version(self) -> str:
        """Return the tool's version as the tool or dpkg reports it."""
        raise NotImplementedError


class PhpeekPm(Tool):
    """phpeek-pm, configured with one YAML process whose `scale` is the number of children."""

    name = "phpeek-pm"

    def __init__(self, binary: Path, repo_dir: Path):
        self.binary = binary
        self.repo_dir = repo_dir
        # Smallest restart_backoff_initial this build accepts; set by probe_backoff.
        self.zero_backoff = "0s"

    def launch(self, workdir: Path, workload: Workload) -> Launch:
        config = workdir / "phpeek-pm.yaml"
        config.write_text(phpeek_config(workload, self.zero_backoff))
        env = {key: value for key, value in os.environ.items() if not key.startswith("PHPEEK_PM_")}
        return Launch(
            argv=[str(self.binary), "-c", str(config)],
            stdout_path=workdir / "stdout.log",
            env=env,
        )

    def check_config(self, workdir: Path, workload: Workload) -> tuple[int, dict]:
        """Run `phpeek-pm check-config --json` on the config for `workload`.

        Returns the exit status and the JSON report (empty when the output
        is not JSON).
        """
        config = workdir / "check.yaml"
        config.write_text(phpeek_config(workload, self.zero_backoff))
        result = subprocess.run(
            [str(self.binary), "-c", str(config), "check-config", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            report = {}
        return result.returncode, report

    def probe_backoff(self, workdir: Path) -> str:
        """Choose the smallest restart_backoff_initial that check-config accepts.

        Tries 0s, then 1ms, stores the choice for later configs and returns it.
        Raises RuntimeError when neither is accepted.
        """
        for candidate in ("0s", "1ms"):
            self.zero_backoff = candidate
            status, _ = self.check_config(workdir, Workload(SLEEP_FOR_CHECKS, fast_restart=True))
            if status == 0:
                return candidate
        raise RuntimeError("phpeek-pm check-config rejects restart_backoff_initial 0s and 1ms")

    def probe_metrics(self, workdir: Path) -> str | None:
        """Return None when this build serves metrics and the API, else why not.

        check-config must accept metrics_enabled and api_enabled without the
        warning that a key is "accepted for compatibility" but has no effect.
        """
        workload = Workload(SLEEP_FOR_CHECKS, metrics_port=9, api_port=19)
        status, report = self.check_config(workdir, workload)
        if status != 0:
            messages = [error.get("message", "") for error in report.get("errors", [])]
            return "not supported by this build: check-config failed: " + "; ".join(messages)
        for warning in report.get("warnings", []):
            if warning.get("path") in ("global.metrics_enabled", "global.api_enabled"):
                return "not supported by this build: " + warning.get("message", "")
        return None

    def version(self) -> str:
        """Return `phpeek-pm version` and the git commit of the sources it is built from.

        The commit is the last one that changed the Rust sources or Cargo
        files, with "-dirty" when they have uncommitted changes. A binary
        older than that commit is flagged, since it may predate the change.
        """
        result = subprocess.run(
            [str(self.binary), "version"], capture_output=True, text=True, timeout=30
        )
        reported = (result.stdout or result.stderr).strip().splitlines()
        sources = ["supervisor", "entrypoint", "Cargo.toml", "Cargo.lock"]
        git = ["git", "-C", str(self.repo_dir)]
        last = subprocess.run(
            [*git, "log", "-1", "--format=%h %ct", "--", *sources], capture_output=True, text=True
        ).stdout.split()
        if len(last) != 2:
            return f"{reported[0] if reported else 'unknown'} (git commit unknown)"
        commit, committed_at = last
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", *sources], capture_output=True, text=True
        ).stdout
        if changes.strip():
            commit += "-dirty"
        text = f"{reported[0] if reported else 'unknown'}, sources at git {commit}"
        if self.binary.stat().st_mtime < int(committed_at):
            text += " (the binary is older than that commit)"
        return text


def phpeek_config(workload: Workload, zero_backoff: str) -> str:
    """Render a phpeek-pm config for `workload`.

    Commands are written as JSON arrays, which YAML reads as flow sequences.
    """
    lines = ["global:", "  log_format: json", "  shutdown_timeout: 30"]
    if workload.fast_restart:
        lines.append(f"  restart_backoff_initial: {zero_backoff}")
    if workload.metrics_port is not None:
        lines += [
            "  metrics_enabled: true",
            f"  metrics_port: {workload.metrics_port}",
            "  metrics_path: /metrics",
        ]
    if workload.api_port is not None:
        lines += ["  api_enabled: true", f"  api_port: {workload.api_port}"]
    # phpeek-pm caps a process's scale at global.max_process_scale (100).
    if workload.instances > 100:
        lines.append(f"  max_process_scale: {workload.instances}")

    lines += ["processes:", "  child:", f"    command: {json.dumps(workload.command)}"]
    if workload.instances > 1:
        lines.append(f"    scale: {workload.instances}")
    return "\n".join(lines) + "\n"


class Supervisord(Tool):
    """supervisord in the foreground, one [program:child] with `numprocs` children."""

    name = "supervisord"
    cannot = {"scrape": "no metrics endpoint"}

    def launch(self, workdir: Path, workload: Workload) -> Launch:
        config = workdir / "supervisord.conf"
        config.write_text(supervisord_config(workdir, workload))
        return Launch(
            argv=["supervisord", "-n", "-c", str(config)],
            stdout_path=workdir / "stdout.log",
        )

    def version(self) -> str:
        result = subprocess.run(
            ["supervisord", "--version"], capture_output=True, text=True, timeout=30
        )
        return result.stdout.strip()


def supervisord_config(workdir: Path, workload: Workload) -> str:
    """Render a supervisord config for `workload`.

    The program sends its output to supervisord's own stdout
    (stdout_logfile=/dev/stdout with rotation off), the same path phpeek-pm
    uses. startsecs=0 counts a process as started as soon as it is spawned,
    which is the smallest restart delay supervisord allows.

    All children belong to one program, and so to one process group in
    supervisord's sense. With one [program] section per child, supervisord
    4.2.5 stops the groups one after another and took about 10 s to exit
    with 20 children on the 2-CPU benchmark VM, against about 1 s here.
    """
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={workdir / 'supervisord.log'}",
        "logfile_maxbytes=0",
        "loglevel=warn",
        f"pidfile={workdir / 'supervisord.pid'}",
        f"childlogdir={workdir}",
        "",
    ]
    # supervisord expands %(name)s in values, so a literal % is doubled.
    command = shlex.join(workload.command).replace("%", "%%")
    lines += ["[program:child]", f"command={command}"]
    if workload.instances > 1:
        lines += [f"numprocs={workload.instances}", "process_name=%(program_name)s-%(process_num)d"]
    lines += [
        "startsecs=0",
        "autorestart=true",
        "stdout_logfile=/dev/stdout",
        "stdout_logfile_maxbytes=0",
        "redirect_stderr=true",
        "",
    ]
    return "\n".join(lines)


class S6(Tool):
    """s6-svscan on a scan directory with one service directory per child."""

    name = "s6"
    cannot = {"scrape": "no metrics endpoint"}

    def launch(self, workdir: Path, workload: Workload) -> Launch:
        scandir = workdir / "scan"
        scandir.mkdir()
        stdout_path = workdir / "stdout.log"
        output_path = stdout_path
        # s6 has no instance count: each child gets its own service directory.
        for index in range(1, workload.instances + 1):
            service = scandir / f"child-{index}"
            service.mkdir()
            write_script(service / "run", f"exec {shlex.join(workload.command)}")
            if workload.capture_output:
                logdir = workdir / f"log-{index}"
                (service / "log").mkdir()
                write_script(
                    service / "log" / "run",
                    f"exec s6-log s{S6_LOG_FILE_BYTES} {shlex.quote(str(logdir))}",
                )
                output_path = logdir / "current"
        return Launch(["s6-svscan", str(scandir)], stdout_path, output_path)

    def supervisor_processes(self, tree: ProcessTree) -> list[Stat]:
        """List s6-svscan and its s6-supervise children: together they supervise."""
        members = tree.refresh()
        return [
            stat
            for pid, stat in members.items()
            if pid == tree.root_pid or stat.command == "s6-supervise"
        ]

    def version(self) -> str:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "s6"], capture_output=True, text=True
        )
        return f"s6 {result.stdout.strip() or 'unknown'} (Debian package)"


def write_script(path: Path, body: str) -> None:
    """Write an executable /bin/sh script."""
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


class Tini(Tool):
    """tini, which runs exactly one child; several children go through one sh."""

    name = "tini"
    cannot = {
        "restart": "cannot: tini does not restart children",
        "scrape": "no metrics endpoint",
    }

    def launch(self, workdir: Path, workload: Workload) -> Launch:
        # -s makes tini a subreaper, as it would be as PID 1. -g sends
        # forwarded signals to the child's whole process group, so the
        # children started by the sh get SIGTERM too.
        argv = ["tini", "-s", "-g", "--"]
        if workload.instances == 1:
            argv += workload.command
        else:
            argv += ["sh", "-c", tini_script(workload.command, workload.instances)]
        return Launch(argv, workdir / "stdout.log")

    def version(self) -> str:
        result = subprocess.run(["tini", "--version"], capture_output=True, text=True, timeout=30)
        return result.stdout.strip()


def tini_script(command: list[str], instances: int) -> str:
    """Return an sh script that starts `instances` copies of `command` and waits for them."""
    return (
        f"i=0; while [ $i -lt {instances} ]; do {shlex.join(command)} & i=$((i + 1)); done; wait"
    )


def install_missing() -> None:
    """Install the Debian packages of missing commands with apt-get.

    Runs `apt-get update` first, and only when something is missing.
    Raises RuntimeError when a package is missing and the harness is not root.
    """
    missing = sorted(
        {package for command, package in PACKAGES.items() if not shutil.which(command)}
    )
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(
            f"missing Debian packages: {' '.join(missing)}. Install them as root: "
            f"apt-get install {' '.join(missing)}"
        )

    print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
    ):
        result = subprocess.run(argv, stdout=sys.stderr, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed with exit code {result.returncode}")
