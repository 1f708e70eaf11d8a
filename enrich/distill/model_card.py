"""The provenance part of a distilled model's card.

sentence-transformers writes ``README.md`` (architecture, hyperparameters, training logs) when a
model is saved; this module adds what makes the model traceable to the LLM outputs it came from:
the runs, prompt versions and models of the data manifest, row counts, and the held-out metrics
before and after training. The same facts are saved as ``enrich_distill.json`` for programs.
"""

import json
from pathlib import Path
from typing import Any

CARD_FILE = "README.md"
FACTS_FILE = "enrich_distill.json"


def write_model_card(model_dir: Path, kind: str, manifest: dict[str, Any],
                     config: dict[str, Any], before: dict[str, float],
                     after: dict[str, float], train_rows: dict[str, int],
                     gate: dict[str, Any] | None = None,
                     training: dict[str, Any] | None = None) -> Path:
    """Add an "enrich distillation" section to the card and write ``enrich_distill.json``.

    Args:
        model_dir: the saved model folder.
        kind: ``bi-encoder`` or ``cross-encoder``.
        manifest: the data folder's manifest.
        config: training options.
        before: held-out metrics of the base model.
        after: held-out metrics of the trained model.
        train_rows: training rows per dataset.
        gate: the gain gate's results and verdict (:mod:`enrich.distill.gate`).
        training: steps and seconds of the training run.

    Returns:
        The path of the card.

    Example:
        >>> write_model_card(Path("m"), "bi-encoder", manifest, {}, {}, {}, {})  # doctest: +SKIP
    """
    facts = {"kind": kind, "config": config, "train_rows": train_rows,
             "metrics_before": before, "metrics_after": after, "gate": gate or {},
             "training": training or {}, "data_manifest": manifest}
    (model_dir / FACTS_FILE).write_text(json.dumps(facts, indent=2, default=str),
                                        encoding="utf-8")
    card = model_dir / CARD_FILE
    existing = card.read_text(encoding="utf-8") if card.is_file() else f"# enrich {kind}\n"
    card.write_text(existing.rstrip() + "\n\n" + _section(facts) + "\n", encoding="utf-8")
    return card


def _section(facts: dict[str, Any]) -> str:
    manifest = facts["data_manifest"]
    lines = [f"## enrich distillation ({facts['kind']})", "",
             "Distilled from LLM outputs stored by `enrich`. Quality claims hold only for the "
             "LLM that produced the data (see the runs below).", "",
             "### Source runs", "", "| view | run | job | prompt@version | model |",
             "| --- | --- | --- | --- | --- |"]
    for view, runs in manifest.get("sources", {}).items():
        for run in runs:
            prompt = f"{run.get('prompt_name', '?')}@{run.get('prompt_version', '?')}"
            lines.append(f"| {view} | {run['run_id']} | {run.get('job_name', '')} | {prompt} | "
                         f"{run.get('model', '')} |")
    lines += ["", "### Data", "", "| file | rows by split |", "| --- | --- |"]
    for name, counts in manifest.get("counts", {}).items():
        lines.append(f"| {name} | {', '.join(f'{k}: {v:,}' for k, v in counts.items())} |")
    lines += ["", "Training rows: " + ", ".join(f"{k}: {v:,}" for k, v in
                                                 facts["train_rows"].items()), ""]
    lines += _gate_lines(facts["gate"], facts["training"])
    lines += ["### Held-out evaluation (dev split of the distillation data)", "",
              "| metric | base | distilled |", "| --- | --- | --- |"]
    for metric in sorted(set(facts["metrics_before"]) | set(facts["metrics_after"])):
        b, a = facts["metrics_before"].get(metric), facts["metrics_after"].get(metric)
        lines.append(f"| {metric} | {_fmt(b)} | {_fmt(a)} |")
    lines += ["", "### Training options", "", "```json",
              json.dumps(facts["config"], indent=2, default=str), "```"]
    return "\n".join(lines)


def _gate_lines(gate: dict[str, Any], training: dict[str, Any]) -> list[str]:
    """The gain gate's verdict first, then one line per held-out set."""
    from enrich.distill.gate import describe

    if not gate:
        return []
    lines = [f"### Gain gate: **{gate.get('verdict', 'not measured')}** than "
             f"{gate.get('base', 'the base')}", ""]
    lines += [f"- {line}" for line in describe(gate)]
    if "best_blend" in gate:
        lines.append(f"- best blend on the synthetic dev split: {gate['best_blend']:g} "
                     "(cross-encoder share; `Pipeline(..., blend='auto')` uses it)")
    if training:
        lines.append(f"- training: {training.get('steps')} steps in "
                     f"{training.get('seconds')} s")
    return lines + [""]


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
