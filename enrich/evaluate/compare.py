"""Prompt A/B: two versions of a prompt on the same golden rows, side by side.

Both versions run through the cache (rows whose rendered request did not change cost nothing);
the metrics of each come with their own interval, and the difference B − A with a paired
bootstrap interval over the same rows. The rows whose output changed are listed with the human
label, so a reviewer sees what the edit did.

Example:
    >>> a, b = PromptRef.parse("bad_match@1a2b"), PromptRef.parse("bad_match")
    >>> cmp = compare_versions(suite, a, b, Path("enrich.duckdb"))   # doctest: +SKIP
    >>> cmp.differences["roc_auc"]                                   # doctest: +SKIP
"""

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from enrich.errors import ConfigError
from enrich.evaluate.bootstrap import Estimate
from enrich.evaluate.evaluation import ScoredRun, evaluate_suite
from enrich.evaluate.execute import BackendFactory, PromptRef, resolve_prompt
from enrich.evaluate.generation_suite import LOWER_IS_BETTER as GEN_LOWER
from enrich.evaluate.generation_suite import generation_differences
from enrich.evaluate.label_suite import LOWER_IS_BETTER as LABEL_LOWER
from enrich.evaluate.label_suite import label_differences
from enrich.evaluate.results import SuiteResult
from enrich.evaluate.suites import Suite
from enrich.prompts import PromptFile

LOWER_IS_BETTER = LABEL_LOWER | GEN_LOWER


@dataclass
class Comparison:
    """Two scored versions, their paired differences and the rows whose output changed."""

    suite: str
    a: SuiteResult
    b: SuiteResult
    differences: dict[str, Estimate]
    changed: pd.DataFrame
    prompt_diff: str = ""

    def verdict(self, metric: str) -> str:
        """``better`` / ``worse`` when the interval of B − A excludes 0, else ``no clear
        difference`` (direction aware: lower Brier or failure rate is better)."""
        diff = self.differences[metric]
        if diff.low != diff.low or (diff.low <= 0 <= diff.high):
            return "no clear difference"
        up = diff.low > 0
        return "better" if up != (metric in LOWER_IS_BETTER) else "worse"


def prompt_text_diff(old: PromptFile, new: PromptFile) -> str:
    """A readable unified diff of two prompt versions: templates line by line, then params.

    Example:
        >>> print(prompt_text_diff(old, new))      # doctest: +SKIP
        --- bad_match@f6088fd908a1
        +++ bad_match@b9183d770afb
        ...
    """
    def lines(prompt: PromptFile) -> list[str]:
        params = json.dumps(prompt.params.model_dump(exclude_none=True), sort_keys=True)
        text = [f"schema: {prompt.schema_name}", f"params: {params}", "system: |"]
        text += [f"  {line}" for line in prompt.system.splitlines()]
        text += ["user: |", *[f"  {line}" for line in prompt.user.splitlines()]]
        return [line + "\n" for line in text]

    return "".join(difflib.unified_diff(lines(old), lines(new),
                                        fromfile=f"{old.name}@{old.version}",
                                        tofile=f"{new.name}@{new.version}"))


def _describe(output: Any, error: Any, kind: str) -> str:
    if output is None:
        return f"failed: {error}"
    if kind == "labels" and isinstance(output, dict):
        p = output.get("p_bad")
        return f"{output.get('label')}" + (f" (p_bad {p:.2f})" if isinstance(p, float) else "")
    return json.dumps(output, ensure_ascii=False)[:300]


def changed_rows(a: ScoredRun, b: ScoredRun, suite: Suite) -> pd.DataFrame:
    """Golden rows whose stored output (or failure) differs between the two runs."""
    out_a = a.outputs.set_index("row_id")
    out_b = b.outputs.set_index("row_id")
    shown = [c for c in a.golden.columns if c != suite.golden.id_column][:4]
    rows = []
    for _, golden_row in a.golden.iterrows():
        rid = str(golden_row[suite.golden.id_column])
        left = out_a.loc[rid] if rid in out_a.index else None
        right = out_b.loc[rid] if rid in out_b.index else None
        key_a = (json.dumps(left["output"], sort_keys=True) if left is not None else None,
                 left["error_kind"] if left is not None else None)
        key_b = (json.dumps(right["output"], sort_keys=True) if right is not None else None,
                 right["error_kind"] if right is not None else None)
        if key_a == key_b:
            continue
        record = {"row_id": rid, **{c: golden_row[c] for c in shown}}
        record["A"] = _describe(left["output"], left["error_kind"], suite.kind) \
            if left is not None else "(not run)"
        record["B"] = _describe(right["output"], right["error_kind"], suite.kind) \
            if right is not None else "(not run)"
        rows.append(record)
    return pd.DataFrame(rows, columns=["row_id", *shown, "A", "B"])


def compare_versions(suite: Suite, ref_a: PromptRef, ref_b: PromptRef, db: Path, *,
                     overrides: dict[str, Any] | None = None,
                     backend_factory: BackendFactory | None = None,
                     console: Any = None) -> Comparison:
    """Run both prompt versions on the suite's golden rows and compare them.

    Raises:
        ConfigError: the suite has no job (retrieval suites compare retrievers instead), or
            the references name different prompts.
    """
    if suite.job is None:
        raise ConfigError(f"suite `{suite.name}` runs no prompt",
                          "compare prompt versions with a labels or generation suite")
    if ref_a.name != ref_b.name:
        raise ConfigError(f"`{ref_a}` and `{ref_b}` are different prompts",
                          "compare two versions of one prompt: NAME@OLD NAME@NEW")
    scored_a = evaluate_suite(suite, db, ref_a, overrides=overrides,
                              backend_factory=backend_factory, console=console)
    scored_b = evaluate_suite(suite, db, ref_b, overrides=overrides,
                              backend_factory=backend_factory, console=console)
    if suite.kind == "labels":
        differences = label_differences(scored_a.frame, scored_b.frame, suite)
    else:
        differences = generation_differences(scored_a.frame, scored_b.frame, suite)
    text_diff = prompt_text_diff(resolve_prompt(suite.root, ref_a, db),
                                 resolve_prompt(suite.root, ref_b, db))
    return Comparison(suite.name, scored_a.result, scored_b.result, differences,
                      changed_rows(scored_a, scored_b, suite), text_diff)
