"""The gain gate: is the distilled model better than what it started from, on held-out data?

Both the base and the distilled model are scored on the same held-out queries — the synthetic
dev split of the distillation data, and human-judged queries when given (``--eval-qrels``) —
with nDCG@10 per query, a bootstrap interval for each, and a paired bootstrap interval for
the gain. The verdict is written into the model card and read back by ``enrich index build``
and ``enrich search --rerank``, which warn before serving a model that is worse than its base.

Verdicts (95% intervals): ``better`` when the gain's interval is above 0, ``worse`` when the
gain is below 0, ``not better`` otherwise (no difference the data can show).

Example:
    >>> verdict_of(Estimate(0.02, 0.005, 0.04, 150))
    'better'
    >>> verdict_of(Estimate(-0.004, -0.02, 0.01, 150))
    'worse'
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from enrich.evaluate.bootstrap import Estimate, format_estimate
from enrich.evaluate.retrieval import Qrels, Run, gain_estimate, metric_estimate, rerank_top

METRIC = "ndcg@10"
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class HeldOut:
    """Held-out queries with graded judgements over a corpus.

    Attributes:
        name: ``synthetic dev`` or ``human``.
        queries: query id → text.
        corpus: item id → text.
        qrels: query id → {item id: gain}.
    """

    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: Qrels


def verdict_of(gain: Estimate) -> str:
    """``better`` / ``not better`` / ``worse`` from the gain's estimate (see module doc)."""
    if not np.isnan(gain.low) and gain.low > 0:
        return "better"
    return "worse" if gain.value < 0 else "not better"


def synthetic_heldout(data: Any, max_queries: int = 500) -> HeldOut | None:
    """The dev split's synthetic queries against the whole corpus of the data (gain 1 for the
    item each query was generated from); None when the split is empty."""
    pairs = data.frame("pairs", "dev")
    if pairs.empty:
        return None
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    for query, item_id in zip(pairs["query"], pairs["item_id"].astype(str), strict=True):
        qid = queries.setdefault(query, f"s{len(queries)}")
        qrels.setdefault(qid, {})[item_id] = 1
    chosen = list(queries.items())[:max_queries]
    return HeldOut("synthetic dev", {qid: q for q, qid in chosen}, data.corpus(),
                   {qid: qrels[qid] for _, qid in chosen})


def human_heldout(qrels_path: Path, queries_path: Path, corpus_path: Path) -> HeldOut:
    """Human-judged queries: qrels (query_id, doc_id, gain), queries and corpus files (CSV,
    JSONL or Parquet; first column the id, a ``text`` column the text)."""
    from enrich.distill.views import read_table_file
    from enrich.evaluate.golden import load_qrels

    qrels = load_qrels(qrels_path)
    queries = read_table_file(queries_path, ("query_id", "text"))
    corpus = read_table_file(corpus_path, ("item_id", "text"))
    asked = {str(q): str(t) for q, t in zip(queries["query_id"], queries["text"], strict=True)}
    return HeldOut("human", {q: asked[q] for q in qrels if q in asked},
                   dict(zip(corpus["item_id"].astype(str), corpus["text"], strict=True)),
                   {q: g for q, g in qrels.items() if q in asked})


def gate_sets(config: Any, data: Any) -> list[HeldOut]:
    """The held-out sets of a training run: the synthetic dev split, then the human qrels of
    ``config.eval_qrels`` / ``eval_queries`` / ``eval_corpus`` when given.

    Raises:
        ConfigError: ``eval_qrels`` without ``eval_queries``.
    """
    from enrich.errors import ConfigError

    sets = [h for h in [synthetic_heldout(data)] if h is not None]
    if config.eval_qrels is not None:
        if config.eval_queries is None:
            raise ConfigError("--eval-qrels needs --eval-queries (query_id, text)",
                              "pass the file of the judged queries too")
        corpus = config.eval_corpus
        human = human_heldout(config.eval_qrels, config.eval_queries,
                              corpus if corpus is not None else data.folder / "corpus.parquet")
        sets.append(human)
    return sets


def gate_metrics(gate: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """``(before, after)`` nDCG@10 of the first held-out set (the card's short table)."""
    results = gate.get("results") or []
    if not results:
        return {}, {}
    first = results[0]
    return ({first["metric"]: round(first["base"]["value"], 4)},
            {first["metric"]: round(first["distilled"]["value"], 4)})


class DenseRuns:
    """Dense runs of bi-encoders over held-out sets. Each model's corpus vectors are computed
    once per corpus in the process (the synthetic and human sets often share one), and once
    per (model folder, corpus) with a cache folder (:mod:`enrich.retrieval.vectors`).

    Args:
        depth: items kept per query.
        cache_dir: corpus vectors kept on disk (None: in memory only).
    """

    def __init__(self, depth: int = 100, cache_dir: Path | None = None):
        self.depth = depth
        self.cache_dir = cache_dir
        self._encoders: dict[str, Any] = {}
        self._vectors: dict[tuple[str, frozenset], tuple[list[str], np.ndarray]] = {}

    def run(self, model: Any, heldout: HeldOut) -> Run:
        """Top ``depth`` items of each held-out query by cosine similarity."""
        from enrich.retrieval.encoder import load_bi_encoder
        from enrich.retrieval.vectors import corpus_vectors, model_key

        key = str(model) if model is None or isinstance(model, (str, Path)) else str(id(model))
        if key not in self._encoders:
            self._encoders[key] = load_bi_encoder(model)[0]
        encoder = self._encoders[key]
        memo = (key, frozenset(heldout.corpus))
        if memo not in self._vectors:
            ids = sorted(heldout.corpus)
            self._vectors[memo] = (ids, corpus_vectors(
                encoder, model_key(model), [heldout.corpus[i] for i in ids], self.cache_dir))
        ids, docs = self._vectors[memo]
        qids = list(heldout.queries)
        vectors = encoder.encode_query([heldout.queries[q] for q in qids], batch_size=64,
                                       normalize_embeddings=True, convert_to_numpy=True)
        scores = np.asarray(vectors) @ docs.T
        top = min(self.depth, len(ids))
        run: Run = {}
        for row, qid in enumerate(qids):
            best = np.argsort(-scores[row])[:top]
            run[qid] = {ids[j]: float(scores[row, j]) for j in best}
        return run


def compare(heldout: HeldOut, base: Run, new: Run, resamples: int = 1000) -> dict[str, Any]:
    """Base and distilled metric, the gain, and the verdict on one held-out set."""
    gain = gain_estimate(heldout.qrels, base, new, METRIC, resamples)
    return {"heldout": heldout.name, "queries": len(heldout.qrels), "metric": METRIC,
            "base": metric_estimate(heldout.qrels, base, METRIC, resamples).to_dict(),
            "distilled": metric_estimate(heldout.qrels, new, METRIC, resamples).to_dict(),
            "gain": gain.to_dict(), "verdict": verdict_of(gain)}


def gate_biencoder(base_model: Any, model: Any, heldouts: list[HeldOut],
                   resamples: int = 1000, cache_dir: Path | None = None) -> dict[str, Any]:
    """The gate of a distilled bi-encoder against its base, on every held-out set.

    Returns:
        ``{"kind", "results": [per held-out set], "verdict"}``: the verdict of the human set
        when there is one, else of the synthetic dev split.
    """
    runs = DenseRuns(cache_dir=cache_dir)
    results = [compare(h, runs.run(base_model, h), runs.run(model, h), resamples)
               for h in heldouts]
    return _gate("bi-encoder", results, base_label="base bi-encoder")


def gate_reranker(reranker: Any, first_stage: Any, heldouts: list[HeldOut], depth: int = 30,
                  resamples: int = 1000, cache_dir: Path | None = None) -> dict[str, Any]:
    """The gate of a cross-encoder: first stage alone vs reranked top ``depth``.

    The blend weight (cross-encoder share, :func:`enrich.retrieval.reranker.blended`) is
    chosen among :data:`BLENDS` on the first held-out set (the synthetic dev split) and then
    applied unchanged to the others; the card records it as the pipeline's default. Weight 0
    (keep the first stage's order) is a candidate, so on the dev split the chosen pipeline is
    never below the first stage it reranks; ties go to the smaller weight.

    Returns:
        ``{"kind", "results", "verdict", "best_blend", "blends"}``.
    """
    from enrich.retrieval.reranker import Reranker, blended

    ranker = reranker if isinstance(reranker, Reranker) else Reranker(reranker)
    runs = DenseRuns(cache_dir=cache_dir)
    results, blend_scores, best = [], {}, 1.0
    for n, heldout in enumerate(heldouts):
        base = runs.run(first_stage, heldout)
        ce = {qid: dict(zip(_top(base[qid], depth), ranker.score(
            heldout.queries[qid], [heldout.corpus[d] for d in _top(base[qid], depth)]),
            strict=True)) for qid in base}

        def by(weight: float, base: Run = base, ce: dict = ce) -> Run:
            return rerank_top(base, lambda q, docs: blended(
                np.asarray([ce[q][d] for d in docs]), [base[q][d] for d in docs], weight),
                depth)

        if n == 0:
            blend_scores = {w: metric_estimate(heldout.qrels, by(w), METRIC, 0).value
                            for w in BLENDS}
            best = max(blend_scores, key=lambda w: (round(blend_scores[w], 6), -w))
        results.append(compare(heldout, base, by(best), resamples) | {"blend": best})
    gate = _gate("cross-encoder", results, base_label="first stage alone")
    return gate | {"best_blend": best, "blends": {str(k): round(v, 4)
                                                  for k, v in blend_scores.items()}}


def _gate(kind: str, results: list[dict], base_label: str) -> dict[str, Any]:
    decisive = next((r for r in results if r["heldout"] == "human"), results[0] if results
                    else None)
    return {"kind": kind, "base": base_label, "results": results,
            "verdict": decisive["verdict"] if decisive else "not measured",
            "decided_on": decisive["heldout"] if decisive else None}


def _top(ranked: dict[str, float], depth: int) -> list[str]:
    return sorted(ranked, key=lambda d: -ranked[d])[:depth]


def describe(gate: dict[str, Any]) -> list[str]:
    """Plain sentences for the console and the card, one per held-out set."""
    lines = []
    for r in gate.get("results", []):
        base, new, gain = (Estimate.from_dict(r[k]) for k in ("base", "distilled", "gain"))
        blend = f" (blend {r['blend']:g})" if "blend" in r else ""
        lines.append(f"{r['heldout']} ({r['queries']} queries), {r['metric']}: "
                     f"{gate['base']} {format_estimate(base)}, distilled{blend} "
                     f"{format_estimate(new)}, gain {format_estimate(gain)} → {r['verdict']}")
    if gate.get("verdict") in ("worse", "not better"):
        lines.append(f"The distilled {gate['kind']} is NOT better than {gate['base']} on the "
                     f"{gate['decided_on']} queries: do not serve it in its place.")
    return lines


def read_gate(model_dir: Path | str) -> dict[str, Any] | None:
    """The gate recorded in a model folder's ``enrich_distill.json`` (None if none)."""
    facts = Path(model_dir) / "enrich_distill.json"
    if not facts.is_file():
        return None
    try:
        return json.loads(facts.read_text(encoding="utf-8")).get("gate")
    except (OSError, ValueError):
        return None


def gate_frame(gate: dict[str, Any]) -> pd.DataFrame:
    """The gate's results as a table (one row per held-out set)."""
    return pd.DataFrame([{"heldout": r["heldout"], "queries": r["queries"],
                          "base": r["base"]["value"], "distilled": r["distilled"]["value"],
                          "gain": r["gain"]["value"], "gain_low": r["gain"]["low"],
                          "gain_high": r["gain"]["high"], "verdict": r["verdict"]}
                         for r in gate.get("results", [])])


def serving_warning(model: Any) -> str | None:
    """A one-line warning when ``model``'s card says it is worse than its base (else None).

    Example:
        >>> serving_warning(None) is None
        True
    """
    if model is None or not isinstance(model, (str, Path)) or not Path(model).is_dir():
        return None
    gate = read_gate(model)
    if not gate or gate.get("verdict") != "worse":
        return None
    decisive = next((r for r in gate.get("results", [])
                     if r["heldout"] == gate.get("decided_on")), None)
    detail = ""
    if decisive:
        gain = format_estimate(Estimate.from_dict(decisive["gain"]))
        detail = f" ({decisive['metric']} gain {gain} on the {decisive['heldout']} queries)"
    return (f"warning: {model} is worse than {gate.get('base', 'its base')} according to its "
            f"model card{detail} — serve the base instead, or retrain (docs/distillation.md)")


def recommended_blend(model: Any) -> float | None:
    """The blend weight the gate found best on the dev split (None when not recorded)."""
    if model is None or not isinstance(model, (str, Path)):
        return None
    gate = read_gate(model) or {}
    value = gate.get("best_blend")
    return float(value) if value is not None else None
