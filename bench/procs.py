"""Child processes of the benchmark: the shared test server, and timed, measured client runs."""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (kB), read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _high_water_kb(pid: int) -> int | None:
    """The process's peak resident memory since its ``exec`` (``VmHWM``, kB), or None."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def child_environment() -> dict[str, str]:
    """The environment for measured processes: this one without ``PYTHONDONTWRITEBYTECODE``.

    Some shells and coding tools set it; then every run of a source checkout compiles all its
    modules again (about 0.2 s of CPU for `enrich run`) while the peers, installed by pip with
    their bytecode, do not. An installed package writes its bytecode once, as here.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class ProcessRun:
    """How a child process went: exit code, output, wall time and memory."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float  # the process itself (its VmHWM since exec, see MeasuredProcess)
    peak_tree_rss_mb: float  # with its children, sampled every 0.2 s
    cpu_s: float  # user + system CPU of the process and its waited-for children


class MeasuredProcess:
    """A child process whose wall time, CPU time and peak RSS are recorded.

    Its peak RSS is the kernel's high-water mark of the process's own memory since ``exec``
    (``VmHWM``), read every 50 ms while it runs (only a peak in its last 50 ms could be missed).
    Not ``wait4``'s ``ru_maxrss``: Linux carries the *parent's* resident size at fork over
    into the child's ``ru_maxrss``, so a benchmark that had just built a million source rows
    in memory reported ≈ 800 MB for an ``enrich run`` that peaked at 277 MB. With
    ``sample_tree`` the whole process tree's resident memory is also summed every 0.2 s (for
    clients that start worker processes).
    """

    def __init__(self, cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO,
                 timeout: float = 1800.0, sample_tree: bool = False):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env={**child_environment(), **(env or {})},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self._peak_tree = 0
        self._high_water_kb = 0
        self._done = threading.Event()
        self._chunks: dict[str, str] = {}
        self._threads = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                         for name, stream in (("out", self.proc.stdout),
                                              ("err", self.proc.stderr))]
        self._threads.append(threading.Thread(target=self._watch_high_water, daemon=True))
        if sample_tree:
            self._threads.append(threading.Thread(target=self._sample, daemon=True))
        for thread in self._threads:
            thread.start()
        self._watchdog = threading.Timer(timeout, self.proc.kill)
        self._watchdog.start()

    def _read(self, name: str, stream: Any) -> None:
        self._chunks[name] = stream.read()

    def _watch_high_water(self) -> None:
        while True:
            kb = _high_water_kb(self.pid)
            if kb is not None:
                self._high_water_kb = max(self._high_water_kb, kb)
            if self._done.wait(0.05):
                return

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self._peak_tree = max(self._peak_tree, _tree_rss_kb(self.pid))

    def kill(self, signum: int = signal.SIGKILL) -> None:
        os.kill(self.pid, signum)

    def wait(self) -> ProcessRun:
        _, status, usage = os.wait4(self.pid, 0)
        wall = time.perf_counter() - self.started
        self._watchdog.cancel()
        self._done.set()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        for thread in self._threads:
            thread.join(timeout=10)
        peak_kb = self._high_water_kb or usage.ru_maxrss  # (a process too short to sample)
        return ProcessRun(self.proc.returncode, self._chunks.get("out", ""),
                          self._chunks.get("err", ""), wall, peak_kb / 1024,
                          max(self._peak_tree, peak_kb) / 1024,
                          usage.ru_utime + usage.ru_stime)


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO,
                 timeout: float = 1800.0, sample_tree: bool = False) -> ProcessRun:
    """Run ``cmd`` to the end (see :class:`MeasuredProcess`)."""
    return MeasuredProcess(cmd, env=env, cwd=cwd, timeout=timeout,
                           sample_tree=sample_tree).wait()


class TestServer:
    """The in-repository OpenAI-compatible test server, one process for the whole run."""

    def __init__(self, latency_ms: float = 20.0, model: str = "test-model"):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.test_server", "--latency-ms", str(latency_ms),
             "--model", model],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"the test server did not start: {line!r}")
        self.url = line.split()[1]
        self.root = self.url.rsplit("/v1", 1)[0]

    def requests_total(self) -> int:
        """Chat requests the server has received since the last :meth:`reset`."""
        import json

        with urllib.request.urlopen(f"{self.root}/bench/count", timeout=30) as resp:
            stats: dict[str, Any] = json.loads(resp.read())
        return int(stats["requests_total"])

    def reset(self) -> None:
        """Forget counts (and per-key bookkeeping, which grows with every key)."""
        req = urllib.request.Request(f"{self.root}/reset", method="POST")
        urllib.request.urlopen(req, timeout=30).close()

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> "TestServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
