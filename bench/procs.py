"""Process bookkeeping for the benchmarks, read straight from /proc (Linux only): CPU time and
RSS of a server's whole process tree, and stopping the processes we started, by PID only."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    comm: str
    state: str  # "Z" for a zombie: exited, only waiting to be reaped
    cpu_s: float  # utime + stime of the process itself (all its threads)
    start_ticks: int  # boot-relative start time: tells a reused PID from the original


def read_stat(pid: int) -> Stat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm is in parentheses and may itself contain spaces or ')': split at the last one.
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5): ppid=4, utime=14, stime=15, starttime=22.
    return Stat(
        pid=pid,
        ppid=int(fields[1]),
        comm=comm,
        state=fields[0],
        cpu_s=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        start_ticks=int(fields[19]),
    )


def all_stats() -> dict[int, Stat]:
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def tree(root: int, stats: dict[int, Stat] | None = None) -> list[Stat]:
    """The root and all its live descendants (uvicorn and LiteLLM workers are children)."""
    stats = stats if stats is not None else all_stats()
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(stats[pid])
            todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def _proc_mib(pid: int, file: str, label: str) -> float:
    """A `label: <n> kB` line of /proc/<pid>/<file>, in MiB; NaN once the process is gone."""
    try:
        for line in (PROC / str(pid) / file).read_text().splitlines():
            if line.startswith(label):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return float("nan")


def rss_mb(pid: int) -> float:
    return _proc_mib(pid, "status", "VmRSS:")


def pss_mb(pid: int) -> float:
    """Proportional set size: each shared page (libraries, the page cache) split among the
    processes that map it. What a worker really costs when several run side by side."""
    return _proc_mib(pid, "smaps_rollup", "Pss:")


def workers(root: int) -> list[int]:
    """Worker processes under a server: both uvicorn --workers and LiteLLM's --num_workers spawn
    them through multiprocessing; its resource tracker is a helper, not a worker."""
    return sorted(
        s.pid
        for s in tree(root)
        if s.pid != root
        and "multiprocessing.spawn" in (line := cmdline(s.pid))
        and "resource_tracker" not in line
    )


# A CPU snapshot: pid -> (start time, CPU seconds). Keyed by start time too so a PID that was
# reused between two snapshots is not subtracted from a different process.
CpuSnapshot = dict[int, tuple[int, float]]


def snapshot(pids: list[int] | None = None, stats: list[Stat] | None = None) -> CpuSnapshot:
    if stats is None:
        stats = [s for pid in pids or [] if (s := read_stat(pid)) is not None]
    return {s.pid: (s.start_ticks, s.cpu_s) for s in stats}


def cpu_delta(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """CPU seconds used between two snapshots by the processes alive at the second one
    (a process born in between counts from zero)."""
    total = 0.0
    for pid, (start, cpu) in after.items():
        earlier = before.get(pid)
        total += cpu - earlier[1] if earlier and earlier[0] == start else cpu
    return total


def tree_snapshot(root: int) -> CpuSnapshot:
    return snapshot(stats=tree(root))


def service_pids(db_name: str | None) -> list[int]:
    """PostgreSQL backends serving `db_name` and the Redis server: work reAPI hands to other
    processes, which its own process tree does not show. Backends name their database in
    their title ("postgres: 15/main: user reapi_bench 127.0.0.1(5123) idle")."""
    pids = []
    for stat in all_stats().values():
        if stat.comm.startswith("redis-server"):
            pids.append(stat.pid)
        elif db_name and stat.comm == "postgres" and f" {db_name} " in cmdline(stat.pid):
            pids.append(stat.pid)
    return pids


def wait_idle(root: int, *, cpu_fraction: float = 0.05, window_s: float = 1.0, limit_s: float = 60):
    """Wait until a server's tree uses less than `cpu_fraction` of a core over `window_s`
    (its workers have finished importing and starting), for at most `limit_s`."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = tree_snapshot(root)
        time.sleep(window_s)
        if cpu_delta(before, tree_snapshot(root)) < cpu_fraction * window_s:
            return


def _alive(stat: Stat) -> bool:
    now = read_stat(stat.pid)
    return now is not None and now.start_ticks == stat.start_ticks and now.state != "Z"


def stop(process: subprocess.Popen[bytes], *, timeout_s: float = 15.0) -> None:
    """Terminate a server we started, then kill it if it lingers; then kill, by PID, any of
    its descendants that outlived it (a worker orphaned by a crashed master)."""
    descendants = [s for s in tree(process.pid) if s.pid != process.pid]
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for stat in descendants:
            if _alive(stat):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stat.pid, sig)
        while any(_alive(s) for s in descendants) and time.monotonic() < deadline:
            time.sleep(0.1)
        deadline = time.monotonic() + 5
