#!/usr/bin/env python3
"""Tests for the side-by-side harness. Run with: python3 bench/test_compare.py

The parsing, config and report tests need nothing installed. The process
tests start sh, sleep and (when installed) tini, and check that cleanup
leaves nothing running.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import events  # noqa: E402
import procfs  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import tools  # noqa: E402
from runner import Started  # noqa: E402


class ParseStat(unittest.TestCase):
    def test_command_with_parentheses_and_spaces(self):
        fields = ["S", "42"] + ["0"] * 9 + ["7", "3"] + ["0"] * 6 + ["12345"] + ["0"] * 30
        text = "99 (odd) name (x)) " + " ".join(fields)
        stat = procfs.parse_stat(99, text)
        self.assertEqual(stat.command, "odd) name (x)")
        self.assertEqual(stat.ppid, 42)
        self.assertEqual(stat.cpu_ticks, 10)
        self.assertEqual(stat.start_ticks, 12345)

    def test_own_process(self):
        stat = procfs.read_stat(os.getpid())
        self.assertIsNotNone(stat)
        self.assertEqual(stat.ppid, os.getppid())
        self.assertTrue(stat.alive)


class CountTag(unittest.TestCase):
    def test_tag_split_across_chunks_counts_once(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "out"
            # The first chunk is 4 MiB; put one tag across its end.
            tag = scenarios.LOG_TAG
            path.write_bytes(b"a" * ((1 << 22) - 5) + tag + b"b" * 10 + tag)
            self.assertEqual(scenarios.count_tag([path]), 2)

    def test_input_has_one_tag_per_line(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "input"
            scenarios.write_log_input(path)
            self.assertEqual(path.stat().st_size, scenarios.LOG_LINES * scenarios.LOG_LINE_BYTES)
            self.assertEqual(scenarios.count_tag([path]), scenarios.LOG_LINES)
            last_line = path.read_bytes()[-scenarios.LOG_LINE_BYTES :]
            self.assertTrue(last_line.startswith(scenarios.LOG_END))


class TimeReport(unittest.TestCase):
    def test_reads_cpu_and_max_rss(self):
        text = (
            '\tCommand being timed: "cat x"\n'
            "\tUser time (seconds): 0.01\n"
            "\tSystem time (seconds): 0.05\n"
            "\tMaximum resident set size (kbytes): 1400\n"
            "\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:00.07\n"
        )
        usage = scenarios.parse_time_report(text)
        self.assertAlmostEqual(usage["cpu_seconds"], 0.06)
        self.assertEqual(usage["max_rss_kib"], 1400)


class Configs(unittest.TestCase):
    def test_phpeek_config_sets_backoff_and_metrics(self):
        workload = tools.Workload(
            ["sleep", "1"], fast_restart=True, metrics_port=9100, api_port=9180
        )
        text = tools.phpeek_config(workload, "1ms")
        self.assertIn("  restart_backoff_initial: 1ms\n", text)
        self.assertIn("  metrics_port: 9100\n", text)
        self.assertIn("  api_enabled: true\n", text)
        self.assertIn('    command: ["sleep", "1"]\n', text)

    def test_phpeek_config_scale(self):
        text = tools.phpeek_config(tools.Workload(["sleep", "1"], 1000), "0s")
        self.assertIn("    scale: 1000\n", text)
        self.assertNotIn("restart_backoff_initial", text)

    def test_supervisord_config_doubles_percent(self):
        workload = tools.Workload(["printf", "%s\\n", "a b"])
        text = tools.supervisord_config(Path("/w"), workload)
        self.assertIn("command=printf '%%s\\n' 'a b'\n", text)
        self.assertIn("stdout_logfile=/dev/stdout\n", text)
        self.assertIn("startsecs=0\n", text)
        self.assertNotIn("numprocs", text)

    def test_supervisord_config_numprocs(self):
        text = tools.supervisord_config(Path("/w"), tools.Workload(["sleep", "1"], 20))
        self.assertIn("numprocs=20\n", text)
        self.assertIn("process_name=%(program_name)s-%(process_num)d\n", text)

    def test_tini_script_starts_every_child(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "x y"
            script = tools.tini_script(["sh", "-c", 'echo run >> "$0"', str(path)], 3)
            result = subprocess.run(["sh", "-c", script], capture_output=True)
            self.assertEqual(result.returncode, 0)
            self.assertEqual(path.read_text(), "run\n" * 3)

    def test_s6_logged_service_writes_to_logdir(self):
        with tempfile.TemporaryDirectory() as directory:
            workdir = Path(directory)
            launch = tools.S6().launch(workdir, tools.Workload(["cat"], capture_output=True))
            self.assertEqual(launch.output_path, workdir / "log-1" / "current")
            self.assertEqual(launch.stdout_path, workdir / "stdout.log")
            run = (workdir / "scan" / "child-1" / "log" / "run").read_text()
            self.assertIn("exec s6-log s200000000 ", run)


class Report(unittest.TestCase):
    def row(self) -> report.Row:
        row = report.Row("start_50", "start", "ms", 1)
        for value in (40.0, 50.0, 45.0):
            row.add("phpeek-pm", value)
        row.add("supervisord", 900.0)
        row.skip("tini", "cannot: no")
        return row

    def test_cells_show_median_or_reason(self):
        row = self.row()
        self.assertEqual(row.cell("phpeek-pm"), "45.0")
        self.assertEqual(row.cell("tini"), "cannot: no")
        self.assertEqual(row.cell("s6"), "not run")

    def test_figures_have_no_exponent(self):
        cases = [(0, "0"), (24920.4, "24,920"), (15.53, "15.5"), (1.672, "1.67"),
                 (0.02098, "0.021"), (0.004161, "0.0042")]
        for value, expected in cases:
            self.assertEqual(report.format_figure(value), expected)

    def test_ratio_is_peer_over_phpeek(self):
        row = self.row()
        self.assertEqual(row.ratio("supervisord"), "20.0×")
        self.assertEqual(row.ratio("tini"), "—")

    def test_table_has_a_column_per_tool_and_ratio(self):
        table = report.render_table([self.row()])
        header = table.splitlines()[0]
        self.assertEqual(header.count("|"), 10)
        self.assertIn("supervisord / phpeek-pm", header)

    def test_goals(self):
        row = self.row()
        items = report.evaluate_goals([row])
        self.assertIn("- met: all 50 children running within 100 ms (median 45.0 ms)", items)
        self.assertIn("- not measured: exit within 50 ms of SIGTERM (not run)", items)

    def test_section_goes_above_older_sections(self):
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "BENCHMARKS.md"
            path.write_text("# Benchmarks\n\nIntro.\n\n## Old (2020-01-01)\n\nold\n")
            report.insert_section(path, "## New\n\nnew\n")
            text = path.read_text()
            self.assertLess(text.index("## New"), text.index("## Old"))
            self.assertTrue(text.startswith("# Benchmarks\n\nIntro.\n\n## New"))

    def test_unique_path_keeps_old_results(self):
        with tempfile.TemporaryDirectory() as directory:
            first = report.unique_path(Path(directory), "2026-01-01-vm")
            first.write_text("x")
            second = report.unique_path(Path(directory), "2026-01-01-vm")
            self.assertEqual(second.name, "2026-01-01-vm-2.md")


def event_message(what: int, stamp: int, body: bytes) -> bytes:
    """Build one netlink message carrying a process event, as the kernel sends it."""
    event = events.EVENT_HEADER.pack(what, 0, stamp) + body
    connector = events.CN_MSG.pack(events.CN_IDX_PROC, events.CN_VAL_PROC, 0, 0, len(event), 0)
    length = events.NLMSG_HEADER.size + len(connector) + len(event)
    return events.NLMSG_HEADER.pack(length, events.NLMSG_DONE, 0, 0, 0) + connector + event


class ProcessEvents(unittest.TestCase):
    def test_fork_exec_exit_update_tree(self):
        watcher = events.ProcessEvents(sock=None)
        tracked = watcher.track(os.getpid())
        fork = events.FORK_EVENT.pack(os.getpid(), os.getpid(), 999_001, 999_001)
        thread = events.FORK_EVENT.pack(os.getpid(), os.getpid(), 999_002, os.getpid())
        exec_own = events.PID_EVENT.pack(os.getpid(), os.getpid())
        watcher.apply_messages(event_message(events.PROC_EVENT_FORK, 10, fork))
        watcher.apply_messages(event_message(events.PROC_EVENT_FORK, 11, thread))
        watcher.apply_messages(event_message(events.PROC_EVENT_EXEC, 12, exec_own))
        self.assertEqual(tracked.members, {os.getpid(), 999_001})
        self.assertEqual(tracked.execs[os.getpid()][0], 12)

        exit_child = events.PID_EVENT.pack(999_001, 999_001) + bytes(16)
        watcher.apply_messages(event_message(events.PROC_EVENT_EXIT, 13, exit_child))
        self.assertEqual(tracked.members, {os.getpid()})

    def test_exec_time_of_real_child(self):
        watcher = events.ProcessEvents.open()
        if watcher is None:
            self.skipTest("process events need root and CONFIG_PROC_EVENTS")
        try:
            before = time.monotonic_ns()
            child = subprocess.Popen(["sh", "-c", "exec sleep 5"])
            tracked = watcher.track(child.pid)
            deadline = time.monotonic() + 5
            while not tracked.exec_times("sleep", set()) and time.monotonic() < deadline:
                watcher.pump(0.05)
            stamps = tracked.exec_times("sleep", set())
            child.kill()
            child.wait()
        finally:
            watcher.close()
        self.assertEqual(len(stamps), 1)
        self.assertGreater(stamps[0], before)
        self.assertLess(stamps[0], time.monotonic_ns())


class Shell(tools.Tool):
    """A stand-in tool: one sh that starts the children in the background."""

    name = "sh"

    def launch(self, workdir, workload):
        script = tools.tini_script(workload.command, workload.instances)
        return tools.Launch(["sh", "-c", script], workdir / "out")


class Cleanup(unittest.TestCase):
    """Start real process trees and check that nothing outlives cleanup."""

    @classmethod
    def setUpClass(cls):
        procfs.become_subreaper()

    def run_and_clean(self, tool: tools.Tool, children: int) -> list[procfs.Stat]:
        with tempfile.TemporaryDirectory() as directory:
            workload = tools.Workload(["sleep", "3600"], children)
            with Started(tool, workload, Path(directory) / "run") as started:
                started.start()
                _, sleeps = started.wait_for("sleep", children, 30, 0.001)
            time.sleep(0.05)
            return [stat for stat in sleeps if scenarios.still_runs(stat)]

    def test_sh_tree_is_killed(self):
        self.assertEqual(self.run_and_clean(Shell(), 3), [])

    @unittest.skipUnless(shutil.which("tini"), "tini is not installed")
    def test_tini_tree_is_killed(self):
        self.assertEqual(self.run_and_clean(tools.Tini(), 3), [])

    def test_no_zombie_children_left(self):
        self.run_and_clean(Shell(), 2)
        me = os.getpid()
        zombies = []
        for pid in procfs.list_pids():
            stat = procfs.read_stat(pid)
            if stat and stat.ppid == me and not stat.alive:
                zombies.append(pid)
        self.assertEqual(zombies, [])


if __name__ == "__main__":
    unittest.main()
