"""Evaluation results: metrics with intervals, threshold checks, plot data, provenance.

A :class:`SuiteResult` is what ``enrich eval run`` prints, reports and saves as JSON (in
``eval/results/`` by default) so the dashboard can show past evaluations, e.g. the retrieval
metrics of distilled models. Every result names the model and prompt version behind it.

Example:
    >>> result.save(Path("eval/results"))           # doctest: +SKIP
    >>> [r.system for r in load_results(Path("eval/results"))]   # doctest: +SKIP
"""

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd

from enrich.evaluate.bootstrap import Estimate


@dataclass
class ThresholdCheck:
    metric: str
    bound: str
    value: float
    passed: bool


@dataclass
class SuiteResult:
    """One system (a prompt version run, or a retriever) evaluated on one suite.

    Attributes:
        suite / kind: the suite's name and kind.
        system: what was evaluated, e.g. ``bad_match@1a2b3c4d5e6f`` or ``bm25``.
        metrics: metric → estimate with its bootstrap interval.
        provenance: run id, model, backend, prompt version, golden file, license.
        tables: data behind the plots (ROC, reliability, confusion, ...).
        checks: the suite's thresholds against the point estimates.
        notes: caveats worth printing (coverage, where P(bad) came from).
    """

    suite: str
    kind: str
    system: str
    metrics: dict[str, Estimate]
    provenance: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    checks: list[ThresholdCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created_at: str = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat())

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> str:
        data = {
            "suite": self.suite, "kind": self.kind, "system": self.system,
            "created_at": self.created_at,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "provenance": self.provenance,
            "checks": [{**c.__dict__, "value": _finite(c.value)} for c in self.checks],
            "notes": self.notes,
            "tables": {k: json.loads(v.to_json(orient="table", index=False))
                       for k, v in self.tables.items() if _jsonable(v)},
        }
        return json.dumps(data, indent=1, default=str)

    @classmethod
    def from_json(cls, text: str) -> "SuiteResult":
        data = json.loads(text)
        tables = {k: pd.read_json(StringIO(json.dumps(v)), orient="table")
                  for k, v in data.get("tables", {}).items()}
        checks = [ThresholdCheck(**{**c, "value": math.nan if c["value"] is None
                                    else c["value"]}) for c in data.get("checks", [])]
        return cls(data["suite"], data["kind"], data["system"],
                   {k: Estimate.from_dict(v) for k, v in data["metrics"].items()},
                   data.get("provenance", {}), tables, checks, data.get("notes", []),
                   data.get("created_at", ""))

    def save(self, folder: Path) -> Path:
        """Write ``folder/SUITE/TIMESTAMP-SYSTEM.json`` and return its path."""
        target = Path(folder) / self.suite
        target.mkdir(parents=True, exist_ok=True)
        stamp = self.created_at.replace(":", "").replace("-", "")[:15]
        safe = "".join(ch if ch.isalnum() or ch in "._-@" else "_" for ch in self.system)
        path = target / f"{stamp}-{safe}.json"
        path.write_text(self.to_json(), encoding="utf-8")
        return path


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _jsonable(frame: pd.DataFrame) -> bool:
    return all(frame[c].map(lambda v: not isinstance(v, (list, dict))).all()
               for c in frame.columns) if len(frame.columns) else True


def check_thresholds(metrics: dict[str, Estimate], thresholds: dict[str, Any]
                     ) -> list[ThresholdCheck]:
    """Each threshold of the suite against the metric's point estimate."""
    return [ThresholdCheck(name, bound.describe(), metrics[name].value,
                           bound.check(metrics[name].value))
            for name, bound in thresholds.items() if name in metrics]


def load_results(folder: Path, suite: str | None = None) -> list[SuiteResult]:
    """Saved results, oldest first (unreadable files are skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f"{suite}/*.json" if suite else "*/*.json"
    results = []
    for path in sorted(folder.glob(pattern)):
        try:
            results.append(SuiteResult.from_json(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(results, key=lambda r: r.created_at)
