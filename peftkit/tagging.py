"""Entity tags: the tag schemes (IOB1, IOB2, IOBES), detected from the data, and entity-level metrics.

A tag is ``O`` or ``<prefix>-<type>`` with prefix ``B`` (begins), ``I`` (inside), and for IOBES also ``E``
(ends) and ``S`` (a single-token entity). The schemes differ in how an entity opens:

- IOB2: every entity opens with ``B-`` (CoNLL-2003 as most copies ship it);
- IOB1: an entity opens with ``I-``; ``B-`` only separates two adjacent entities of the same type (the
  original CoNLL-2003 release);
- IOBES: ``S-`` single tokens, ``B-``... ``E-`` longer ones.

Metrics are computed on entities (exact span and type), as conlleval defines them, by seqeval: micro
precision, recall and F1 over all entities, F1 per type, and token accuracy.
"""

from __future__ import annotations

import re
from typing import Sequence

from .errors import PeftkitError

SCHEMES = ("IOB1", "IOB2", "IOBES")
_TAG = re.compile(r"(?:O|([BIES])-(\S+))")


def split_tag(tag: str) -> tuple[str, str | None]:
    """("B", "PER") for "B-PER", ("O", None) for "O"; anything else is refused in one line."""
    match = _TAG.fullmatch(tag)
    if match is None:
        raise PeftkitError(f"invalid tag {tag!r}: a tag is O or B-, I-, E- or S- followed by the entity type "
                           "(e.g. B-PER); fix the tag column, or pass --label-column with the right one")
    return (match.group(1) or "O"), match.group(2)


def detect_scheme(sentences: Sequence[Sequence[str]], where: str = "the data") -> str:
    """The tag scheme of ``sentences`` (lists of tags): IOBES if any E- or S- tag occurs, IOB1 if an entity
    opens with I-, otherwise IOB2. A file that mixes schemes (E-/S- tags with entities opening on I-, or
    B- opening entities after O as well as I-) is refused: its entities would be ambiguous."""
    ends = opens_with_i = opens_with_b = False
    for tags in sentences:
        previous = ("O", None)
        for tag in tags:
            prefix, kind = split_tag(tag)
            ends = ends or prefix in ("E", "S")
            if prefix == "I" and (previous[0] in ("O", "E", "S") or previous[1] != kind):
                opens_with_i = True
            if prefix == "B" and (previous[0] in ("O", "E", "S") or previous[1] != kind):
                opens_with_b = True
            previous = (prefix, kind)
    if ends and opens_with_i:
        raise PeftkitError(f"{where} mixes tag schemes: E-/S- tags (IOBES) and entities that open with I- (IOB1); "
                           "convert it to one scheme")
    if ends:
        return "IOBES"
    if opens_with_i and opens_with_b:
        raise PeftkitError(f"{where} mixes tag schemes: entities open with B- after O (IOB2) and with I- (IOB1); "
                           "convert it to one scheme")
    return "IOB1" if opens_with_i else "IOB2"


def entity_types(sentences: Sequence[Sequence[str]]) -> list[str]:
    return sorted({kind for tags in sentences for tag in tags if (kind := split_tag(tag)[1]) is not None})


def entity_metrics(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str) -> dict:
    """Entity-level micro precision, recall and F1 (conlleval's definition), F1 per entity type, and token
    accuracy. Every sentence of ``predicted`` has the length of its ``truth`` (a word the model never saw,
    cut off by the length limit, is predicted O and so counts as missed)."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOBES

    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if [len(t) for t in truth] != [len(p) for p in predicted]:
        raise ValueError("every predicted sentence must have as many tags as its true one")
    truth, predicted = [list(t) for t in truth], [list(p) for p in predicted]
    # IOB1 and IOB2: conlleval's reading (an I- after O or another type opens an entity), seqeval's default;
    # IOBES: its strict mode, which knows E- and S-
    options = {"mode": "strict", "scheme": IOBES} if scheme == "IOBES" else {}
    report = classification_report(truth, predicted, output_dict=True, zero_division=0, **options)
    return {
        "precision_entity": float(precision_score(truth, predicted, zero_division=0, **options)),
        "recall_entity": float(recall_score(truth, predicted, zero_division=0, **options)),
        "f1_entity": float(f1_score(truth, predicted, zero_division=0, **options)),
        "accuracy_token": float(accuracy_score(truth, predicted)),
        "f1_per_type": {kind: float(values["f1-score"]) for kind, values in report.items()
                        if kind not in ("micro avg", "macro avg", "weighted avg")},
    }
