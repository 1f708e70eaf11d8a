"""Teacher scores for every (query, positive, negative) triple of a distillation data folder.

GPL (Wang et al., 2022) does not trust a generated (query, positive) pair and a mined negative
as binary labels: a teacher grades both, and the student learns the *margin*
``teacher(q, pos) − teacher(q, neg)`` (MarginMSE). A mined "negative" the teacher prefers gets
a negative margin instead of being pushed away.

The margin used by the bi-encoder is put on the base model's cosine scale: it is multiplied by
``std(base cosine margins) / std(teacher margins)`` over the training triples, so MarginMSE
asks the student for margins of the size cosine similarities can take (the factor is in the
manifest).

Example:
    >>> negatives = pd.DataFrame({"query": ["q"], "positive_id": ["a"], "negative_id": ["b"],
    ...                           "positive_score": [0.6], "negative_score": [0.4],
    ...                           "split": ["train"]})
    >>> scored, facts = add_teacher_scores(negatives, ConstantTeacher({"a": 2.0, "b": 1.0}))
    >>> scored["teacher_margin"].tolist(), facts["teacher"]
    ([1.0], 'constant')
"""

from typing import Any

import numpy as np
import pandas as pd

TEACHER_COLUMNS = ["teacher_positive", "teacher_negative", "teacher_margin"]


def add_teacher_scores(negatives: pd.DataFrame, teacher: Any) -> tuple[pd.DataFrame, dict]:
    """Grade the positive and every negative of each (query, positive) group.

    Args:
        negatives: the mined negatives (``query, positive_id, negative_id, positive_score,
            negative_score, split``), one row per triple.
        teacher: anything with ``name`` and ``score_groups([(query, [ids])])``.

    Returns:
        The rows with :data:`TEACHER_COLUMNS` added, and facts for the manifest: the teacher,
        the margin scale, how many triples the teacher inverts (prefers the negative).
    """
    frame = negatives.reset_index(drop=True).copy()
    if frame.empty:
        for column in TEACHER_COLUMNS:
            frame[column] = pd.Series(dtype=float)
        return frame, {"teacher": teacher.name, "triples": 0}
    keys = list(dict.fromkeys(zip(frame["query"], frame["positive_id"], strict=True)))
    members: dict[tuple[str, str], list[str]] = {k: [k[1]] for k in keys}
    for query, pos, neg in zip(frame["query"], frame["positive_id"], frame["negative_id"],
                               strict=True):
        members[(query, pos)].append(str(neg))
    scored = teacher.score_groups([(q, members[(q, p)]) for q, p in keys])
    grade = {}
    for (query, pos), values in zip(keys, scored, strict=True):
        for item_id, value in zip(members[(query, pos)], values, strict=True):
            grade[(query, pos, item_id)] = float(value)
    frame["teacher_positive"] = [grade[(q, p, p)] for q, p in
                                 zip(frame["query"], frame["positive_id"], strict=True)]
    frame["teacher_negative"] = [grade[(q, p, str(n))] for q, p, n in
                                 zip(frame["query"], frame["positive_id"], frame["negative_id"],
                                     strict=True)]
    raw = frame["teacher_positive"] - frame["teacher_negative"]
    scale = margin_scale(frame, raw)
    frame["teacher_margin"] = raw * scale
    facts = {"teacher": teacher.name, "triples": int(len(frame)), "margin_scale": scale,
             "inverted": int((raw < 0).sum()), "ties": int((raw == 0).sum()),
             "mean_margin": round(float(frame["teacher_margin"].mean()), 4)}
    return frame, facts


def margin_scale(frame: pd.DataFrame, raw: pd.Series) -> float:
    """``std(base cosine margins) / std(teacher margins)`` over the training triples (1.0
    when either is constant)."""
    train = (frame["split"] == "train").to_numpy() if "split" in frame else np.ones(len(frame),
                                                                                    dtype=bool)
    base = (frame["positive_score"] - frame["negative_score"]).to_numpy()[train]
    teacher = raw.to_numpy()[train]
    if len(teacher) < 2 or float(np.std(teacher)) == 0.0 or float(np.std(base)) == 0.0:
        return 1.0
    # six significant digits, not six decimals: a tiny ratio must not round to 0 (that would
    # erase every margin's sign)
    return float(f"{float(np.std(base) / np.std(teacher)):.6g}")


class ConstantTeacher:
    """A teacher with fixed scores per item (tests and examples).

    Args:
        scores: item id → score (unknown items score 0).
    """

    name = "constant"

    def __init__(self, scores: dict[str, float]):
        self.scores = scores

    def score_groups(self, groups: list[tuple[str, list[str]]]) -> list[np.ndarray]:
        return [np.asarray([self.scores.get(str(i), 0.0) for i in items]) for _, items in groups]
