"""Kill a real ``enrich run`` at random moments, resume it each time, and account for every send.

The procedure shared by ``tests/test_reliability_crash.py`` (short CI variants) and
``bench/crash_soak.py`` (2,000 rows × 20 kills):

1. start ``enrich run`` as a child process against the in-thread fake server;
2. at a random moment (a random time into start-up, or once a random number of this cycle's
   requests reached the server, plus a few random milliseconds) send it SIGKILL, SIGINT or
   SIGTERM;
3. once it is gone, record which request keys were **in flight at the kill**: sent to the
   server during this cycle (the server counted them) but whose result is not committed in the
   store (neither a ``requests`` row nor a ``failures`` row); check the store
   (``enrich status --check`` and no partial rows);
4. repeat, then run once more to the end and check that every source row is in ``outputs``
   exactly once and that every key sent more than once was in flight at one of the kills, at
   most once more than the number of kills it was in flight at.
"""

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from reliability_helpers import assert_store_sound, committed_keys, run_cli_process, start_cli

from enrich.testing.fake_server import FakeServer


@dataclass
class KillRecord:
    """One interrupted cycle."""

    signal: str
    moment: str
    delivered: bool
    exit_code: int
    stdout: str
    stderr: str
    open_at_server: int  # requests the server was answering when the signal was sent
    sent: int  # distinct keys the server received during the cycle
    in_flight: set[str]  # of those, the keys with nothing committed after the cycle
    committed_rows: int  # rows in outputs or failures after the cycle


@dataclass
class CrashReport:
    """Every cycle, the final run and the server's per-key send counts."""

    rows: int
    kills: list[KillRecord] = field(default_factory=list)
    sends: dict[str, int] = field(default_factory=dict)
    final_code: int = -1
    final_stderr: str = ""
    wall_s: float = 0.0

    @property
    def delivered(self) -> list[KillRecord]:
        return [k for k in self.kills if k.delivered]

    @property
    def resent_keys(self) -> int:
        """Requests sent more than once (distinct keys)."""
        return sum(1 for n in self.sends.values() if n > 1)

    @property
    def extra_sends(self) -> int:
        """Sends beyond the first, over all keys."""
        return sum(n - 1 for n in self.sends.values())

    @property
    def in_flight_total(self) -> int:
        return sum(len(k.in_flight) for k in self.kills)

    def unexplained_resends(self) -> dict[str, int]:
        """Keys sent more often than 1 + the number of kills they were in flight at."""
        times_in_flight: dict[str, int] = {}
        for kill in self.kills:
            for key in kill.in_flight:
                times_in_flight[key] = times_in_flight.get(key, 0) + 1
        return {k: n for k, n in self.sends.items() if n - 1 > times_in_flight.get(k, 0)}

    def summary(self) -> str:
        sizes = [len(k.in_flight) for k in self.delivered] or [0]
        return (f"{self.rows} rows, {len(self.delivered)} kills delivered "
                f"({len(self.kills)} tried): in flight at the kills {self.in_flight_total} "
                f"(max {max(sizes)} at one kill), requests sent more than once "
                f"{self.resent_keys} ({self.extra_sends} extra sends), "
                f"{self.wall_s:.1f} s")


def _choose_moment(rng: random.Random, remaining: int, kills_left: int) -> tuple[str, float]:
    """("time", seconds after start) or ("requests", n requests of this cycle)."""
    if rng.random() < 0.15:
        return "time", rng.uniform(0.0, 1.5)
    share = max(1, remaining // (kills_left + 1))
    return "requests", float(rng.randint(1, share))


def _signal_at(process: subprocess.Popen[str], server: FakeServer, moment: tuple[str, float],
               sig: int, rng: random.Random) -> tuple[bool, int]:
    """Wait for the moment, send ``sig``; (delivered, requests open at the server then)."""
    kind, value = moment
    deadline = time.monotonic() + 120
    if kind == "time":
        time.sleep(value)
    else:
        start = server.stats()["requests_total"]
        while server.stats()["requests_total"] - start < value:
            if process.poll() is not None or time.monotonic() > deadline:
                return False, 0
            time.sleep(0.003)
        time.sleep(rng.uniform(0.0, 0.02))
    if process.poll() is not None:
        return False, 0
    open_requests = int(server.stats()["in_flight"])
    os.kill(process.pid, sig)
    return True, open_requests


def committed_rows(db: Path) -> int:
    if not db.exists():
        return 0
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute("SELECT (SELECT count(*) FROM outputs) + "
                               "(SELECT count(*) FROM failures)").fetchone()[0])


def one_cycle(project: Path, job: Path, server: FakeServer, sig: int, rng: random.Random,
              remaining: int, kills_left: int,
              moment: tuple[str, float] | None = None) -> KillRecord:
    """Start a run, signal it at a random moment (or at ``moment``), and account for what was
    in flight."""
    db = project / "e.duckdb"
    before = dict(server.stats()["per_key"])
    process = start_cli(["run", str(job), "--db", str(db), "-q"], project)
    moment = moment or _choose_moment(rng, remaining, kills_left)
    delivered, open_requests = _signal_at(process, server, moment, sig, rng)
    out, err = process.communicate(timeout=120)
    time.sleep(0.1)  # let the server finish reading what reached it before the kill
    after = server.stats()["per_key"]
    sent = {k for k, n in after.items() if n > before.get(k, 0)}
    in_flight = sent - committed_keys(db)
    if db.exists():  # (a kill during start-up may come before the store is created)
        assert_store_sound(db, project)
    label = f"{moment[0]} {moment[1]:.3g}"
    return KillRecord(signal.Signals(sig).name, label, delivered, process.returncode, out, err,
                      open_requests, len(sent), in_flight, committed_rows(db))


def crash_cycles(project: Path, job: Path, server: FakeServer, *, rows: int, kills: int,
                 sig: int, seed: int, max_tries: int | None = None) -> CrashReport:
    """``kills`` delivered signals (at most ``max_tries`` cycles), then a run to the end."""
    rng = random.Random(seed)
    report = CrashReport(rows)
    started = time.perf_counter()
    tries = 0
    while len(report.delivered) < kills and tries < (max_tries or 3 * kills):
        tries += 1
        remaining = rows - committed_rows(project / "e.duckdb")
        if remaining <= 0:
            break
        record = one_cycle(project, job, server, sig, rng, remaining,
                           kills - len(report.delivered))
        report.kills.append(record)
    final = run_cli_process(["run", str(job), "--db", str(project / "e.duckdb"), "-q"], project)
    report.final_code, report.final_stderr = final.code, final.stderr
    report.sends = dict(server.stats()["per_key"])
    report.wall_s = time.perf_counter() - started
    return report


def assert_exactly_once(db: Path, source_ids: set[str]) -> None:
    """Every source row is in ``outputs`` exactly once, none in ``failures``; one run, done."""
    with duckdb.connect(str(db), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT row_id FROM outputs").fetchall()]
        failures = con.execute("SELECT count(*) FROM failures").fetchone()[0]
        runs = con.execute("SELECT status FROM runs").fetchall()
    assert len(ids) == len(set(ids)), "a row is in outputs twice"
    assert set(ids) == source_ids, (len(ids), len(source_ids))
    assert failures == 0
    assert runs == [("finished",)], runs  # resumed every time, never restarted
