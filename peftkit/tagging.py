"""Entity tags: the tag schemes (IOB1, IOB2, IOBES), detected from the data, and entity-level metrics.

A tag is ``O`` or ``<prefix>-<type>`` with prefix ``B`` (begins), ``I`` (inside), and for IOBES also ``E``
(ends) and ``S`` (a single-token entity). The schemes differ in how an entity opens:

- IOB2: every entity opens with ``B-`` (CoNLL-2003 as most copies ship it);
- IOB1: an entity opens with ``I-``; ``B-`` only separates two adjacent entities of the same type (the
  original CoNLL-2003 release);
- IOBES: ``S-`` single tokens, ``B-``... ``E-`` longer ones.

Metrics are computed on entities (exact span and type), as conlleval defines them, by seqeval: micro
precision, recall and F1 over all entities, F1 per type, and token accuracy; seqeval's per-type report and
the confusion of entity types, counted on the same entities.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

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


def checked(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str) -> tuple[list, list]:
    """``truth`` and ``predicted`` as lists of lists, once ``scheme`` is known and every predicted sentence has
    the length of its true one."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if [len(t) for t in truth] != [len(p) for p in predicted]:
        raise ValueError("every predicted sentence must have as many tags as its true one")
    return [list(t) for t in truth], [list(p) for p in predicted]


def seqeval_options(scheme: str) -> dict:
    """How seqeval reads ``scheme``: IOB1 and IOB2 as conlleval does (an I- after O or another type opens an
    entity), its default; IOBES in its strict mode, which knows E- and S-."""
    from seqeval.scheme import IOBES

    return {"mode": "strict", "scheme": IOBES} if scheme == "IOBES" else {}


def entity_metrics(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str) -> dict:
    """Entity-level micro precision, recall and F1 (conlleval's definition), F1 per entity type, and token
    accuracy. Every sentence of ``predicted`` has the length of its ``truth`` (a word the model never saw,
    cut off by the length limit, is predicted O and so counts as missed)."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    truth, predicted = checked(truth, predicted, scheme)
    options = seqeval_options(scheme)
    report = classification_report(truth, predicted, output_dict=True, zero_division=0, **options)
    return {
        "precision_entity": float(precision_score(truth, predicted, zero_division=0, **options)),
        "recall_entity": float(recall_score(truth, predicted, zero_division=0, **options)),
        "f1_entity": float(f1_score(truth, predicted, zero_division=0, **options)),
        "accuracy_token": float(accuracy_score(truth, predicted)),
        "f1_per_type": {kind: float(values["f1-score"]) for kind, values in report.items()
                        if kind not in ("micro avg", "macro avg", "weighted avg")},
    }


def _entities(sentences: list[list[str]], scheme: str) -> list[dict[tuple[int, int], str]]:
    """Per sentence, {(start, end exclusive): type}, as seqeval reads them: IOB1/IOB2 by get_entities
    (conlleval's reading: an I- after O or another type opens an entity), IOBES in strict mode."""
    if scheme == "IOBES":
        from seqeval.scheme import IOBES, Entities

        found = Entities(sentences, IOBES).entities
        return [{(e.start, e.end): e.tag for e in sentence} for sentence in found]
    from seqeval.metrics.sequence_labeling import get_entities

    return [{(start, end + 1): kind for kind, start, end in get_entities(tags)} for tags in sentences]


def entity_confusion(truth: list[list[str]], predicted: list[list[str]], scheme: str) -> tuple[np.ndarray, list[str]]:
    """The confusion of entity types, counted on entities: (matrix, labels), labels the sorted entity types
    of both sides and last ``O`` (no entity); rows true, columns predicted.

    A true entity counts at (its type, the type of the predicted entity on exactly its span), or at
    (its type, O) when no predicted entity has that span (missed); a predicted entity with no true one on
    its span counts at (O, its type) (spurious); the O/O cell stays 0. A partial overlap (a predicted span
    that overlaps a true one without being identical) is one miss and one spurious entity, as seqeval counts
    it. Entities are those seqeval extracts for ``scheme`` (as ``entity_metrics``), so the diagonal
    over types sums to seqeval's true positives.
    """
    truth, predicted = checked(truth, predicted, scheme)
    labels = entity_types(truth + predicted) + ["O"]
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for true, guess in zip(_entities(truth, scheme), _entities(predicted, scheme)):
        for span, kind in true.items():
            matrix[index[kind], index[guess.get(span, "O")]] += 1
        for span, kind in guess.items():
            if span not in true:
                matrix[index["O"], index[kind]] += 1
    return matrix, labels


def entity_report(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str) -> str:
    """seqeval's classification_report (4 digits) for ``scheme``: per-type precision, recall, F1 and support
    on entities, IOBES in strict mode, as ``entity_metrics`` counts them."""
    from seqeval.metrics import classification_report

    truth, predicted = checked(truth, predicted, scheme)
    return classification_report(truth, predicted, digits=4, zero_division=0, **seqeval_options(scheme))
