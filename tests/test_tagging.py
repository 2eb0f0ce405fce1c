"""peftkit/tagging.py: tag schemes detected from the data, and entity metrics as conlleval counts them."""

import math

import pytest

from peftkit.errors import PeftkitError
from peftkit.tagging import detect_scheme, entity_metrics, entity_types, split_tag


def test_split_tag():
    assert split_tag("B-PER") == ("B", "PER") and split_tag("O") == ("O", None) and split_tag("S-B-X") == ("S", "B-X")
    for bad in ("X-PER", "B-", "PER", "b-PER", "B_PER"):
        with pytest.raises(PeftkitError, match=f"invalid tag '{bad}': a tag is O or B-, I-, E- or S-"):
            split_tag(bad)


@pytest.mark.parametrize("tags, scheme", [
    ([["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "B-ORG"]], "IOB2"),
    ([["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG"]], "IOB1"),  # B- only between two ORGs
    ([["S-PER", "O", "B-LOC", "E-LOC"], ["B-ORG", "I-ORG", "E-ORG"]], "IOBES"),
    ([["O", "O"]], "IOB2"),
])
def test_detect_scheme(tags, scheme):
    assert detect_scheme(tags) == scheme


def test_mixed_schemes_are_refused():
    with pytest.raises(PeftkitError, match="train.txt mixes tag schemes: entities open with B- after O \\(IOB2\\) "
                                           "and with I- \\(IOB1\\); convert it to one scheme"):
        detect_scheme([["B-PER", "O", "I-LOC"]], "train.txt")
    with pytest.raises(PeftkitError, match="mixes tag schemes: E-/S- tags \\(IOBES\\) and entities that open with I-"):
        detect_scheme([["S-PER", "O", "I-LOC"]])


def test_entity_types():
    assert entity_types([["B-PER", "O"], ["I-LOC", "B-MISC"]]) == ["LOC", "MISC", "PER"]


# Expected values counted by conlleval's rules: an entity is a maximal run of one type that opens on B-, or on
# an I- after O or another type; it is correct when span and type both match.
def test_metrics_as_conlleval_counts_them():
    truth = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    predicted = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    m = entity_metrics(truth, predicted, "IOB2")  # 2 true, 2 found, 1 correct; 8 of 10 tags right
    assert (m["precision_entity"], m["recall_entity"], m["f1_entity"]) == (0.5, 0.5, 0.5)
    assert m["accuracy_token"] == 0.8 and m["f1_per_type"] == {"MISC": 0.0, "PER": 1.0}


def test_an_i_after_o_opens_an_entity_as_in_conlleval():
    m = entity_metrics([["I-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "I-PER", "O", "I-LOC"]], "IOB1")
    assert m["f1_entity"] == 1.0 and m["accuracy_token"] == 0.75


def test_a_wrong_type_is_a_miss_and_a_false_positive():
    m = entity_metrics([["B-ORG", "I-ORG", "O"], ["B-PER"]], [["B-LOC", "I-LOC", "O"], ["B-PER"]], "IOB2")
    assert (m["precision_entity"], m["recall_entity"]) == (0.5, 0.5)
    assert m["f1_per_type"] == {"LOC": 0.0, "ORG": 0.0, "PER": 1.0}


def test_iobes_needs_its_end_tag():
    m = entity_metrics([["S-PER", "O", "B-LOC", "E-LOC"]], [["S-PER", "O", "B-LOC", "I-LOC"]], "IOBES")
    assert (m["precision_entity"], m["recall_entity"]) == (1.0, 0.5) and math.isclose(m["f1_entity"], 2 / 3)


def test_a_word_cut_off_is_predicted_o_and_missed():
    m = entity_metrics([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]], "IOB2")
    assert (m["precision_entity"], m["recall_entity"]) == (1.0, 0.5)
    with pytest.raises(ValueError, match="as many tags"):
        entity_metrics([["B-PER", "O"]], [["B-PER"]], "IOB2")
