"""peftkit/token_inference.py: entities predicted as the transformers pipeline ("simple") returns them, for
plain, peft-wrapped and prompt-tuned models and both padding sides; the entity-type confusion and report."""

import copy
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForTokenClassification, pipeline

from peftkit.errors import PeftkitError
from peftkit.tagging import entity_confusion, entity_report
from peftkit.token_inference import predict_entities

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# trained on, so that the model predicts entities: several words of several sub-tokens, an unknown token
# (the snowman) inside one, punctuation, and two adjacent entities of one type (B- B-)
TRAIN = [
    ("Angela Merkel visited Microsoft Google in Zürich .", "B-PER I-PER O B-ORG B-ORG O B-LOC O"),
    ("The Xylophonist ☃ met Barack Obama at the United Nations , twice !", "O B-MISC I-MISC O B-PER I-PER O O B-ORG I-ORG O O O"),
    ("Paris-based Renault sold cars .", "B-LOC B-ORG O O O"),
]
TEXTS = [text for text, _ in TRAIN] + [
    "", "   ", "Hello!!",
    "Obama and Merkel, in Paris; Renault & Microsoft (Google) met the Xylophonist of Zürich at the United Nations.",
]


IOBES_TEXT = "Angela Dorothea Smith Jones met IBM SAP Bosch GmbH"
# words that the vocabulary holds only in pieces (a word of several sub-tokens); the snowman is not in it ([UNK])
PIECES = {"xylophonist": ["xylo", "##phon", "##ist"], "zurich": ["zur", "##ich"], "renault": ["ren", "##ault"],
          "merkel": ["mer", "##kel"], "microsoft": ["micro", "##soft"], "twice": ["tw", "##ice"]}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """An uncased WordPiece tokenizer (as BERT's) over the words of the texts here, built locally."""
    from tokenizers import normalizers, pre_tokenizers
    from transformers import BertTokenizerFast

    normalize, split = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = {w for text in [*TEXTS, IOBES_TEXT, "a b"] for w, _ in split.pre_tokenize_str(normalize.normalize_str(text))}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += dict.fromkeys(piece for w in sorted(words - {"☃"}) for piece in PIECES.get(w, [w]))
    directory = tmp_path_factory.mktemp("wordpiece")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast.from_pretrained(str(directory), do_lower_case=True)


def tiny_bert(tokenizer, labels=LABELS, seed=0):
    torch.manual_seed(seed)
    return BertForTokenClassification(BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=tokenizer.vocab_size, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}))


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A tiny BERT trained a few steps on TRAIN (each sub-token after a word's first takes I-)."""
    model = tiny_bert(tokenizer)
    ids, targets = [], []
    for text, tags in TRAIN:
        encoding, tags = tokenizer(text.split(), is_split_into_words=True), tags.split()
        words = encoding.word_ids()
        ids.append(encoding["input_ids"])
        targets.append([-100 if w is None else LABELS.index(
            "I-" + tags[w][2:] if tags[w].startswith("B-") and w == words[i - 1] else tags[w])
            for i, w in enumerate(words)])
    width = max(map(len, ids))
    ids = torch.tensor([row + [0] * (width - len(row)) for row in ids])
    targets = torch.tensor([row + [-100] * (width - len(row)) for row in targets])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        optimizer.zero_grad()
        model(input_ids=ids, attention_mask=(ids != 0).long(), labels=targets).loss.backward()
        optimizer.step()
    return model.eval()


def assert_same(got, expected):
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in mine] == \
               [(e["entity_group"], e["word"], e["start"], e["end"]) for e in theirs]
        np.testing.assert_allclose([e["score"] for e in mine], [float(e["score"]) for e in theirs], rtol=0, atol=1e-5)
        assert all(type(e["score"]) is float for e in mine)


def tokens_under(tokenizer, text, entity):
    offsets = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    return sum(entity["start"] <= start and end <= entity["end"] for start, end in offsets)


@pytest.mark.parametrize("side", ["right", "left"])
def test_entities_are_the_pipelines(trained, tokenizer, side):
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side  # a decoder's tokenizer pads on the left
    expected = pipeline("token-classification", model=trained, tokenizer=tokenizer, aggregation_strategy="simple")(TEXTS)
    # the case is worth something: several types, entities of several tokens, [UNK] read from the text,
    # two adjacent ORG entities, nothing in the empty texts
    found = [(text, e) for text, entities in zip(TEXTS, expected) for e in entities]
    assert {e["entity_group"] for _, e in found} == {"PER", "ORG", "LOC", "MISC"}
    assert sum(tokens_under(tokenizer, text, e) > 1 for text, e in found) >= 3
    assert any("☃" in e["word"] for _, e in found)
    assert [e["word"] for e in expected[0] if e["entity_group"] == "ORG"] == ["microsoft", "google"]
    assert expected[3] == expected[4] == []
    for batch_size in (32, 3, 1):  # one padded batch (from 0 to ~30 tokens), mixed batches, no padding
        assert_same(predict_entities(trained, tokenizer, TEXTS, batch_size=batch_size), expected)
    assert predict_entities(trained, tokenizer, []) == []


def test_labels_without_a_prefix_are_grouped_as_the_pipeline_does(trained, tokenizer):
    model = copy.deepcopy(trained)
    # "PER" continues a run of "PER" or of B-PER (the pipeline reads it as I-PER); "ORG" neither
    model.config.id2label = dict(enumerate(["O", "B-PER", "PER", "ORG", "I-ORG", "LOC", "LOC", "B-MISC", "MISC"]))
    expected = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple")(TEXTS)
    assert any(e["entity_group"] == "PER" and " " in e["word"] for e in expected[0])
    assert_same(predict_entities(model, tokenizer, TEXTS, batch_size=4), expected)


def test_truncation_is_at_the_given_length(trained, tokenizer):
    short = copy.deepcopy(tokenizer)
    short.model_max_length = 7  # the pipeline cuts at the tokenizer's limit
    expected = pipeline("token-classification", model=trained, tokenizer=short, aggregation_strategy="simple")(TEXTS)
    assert expected != pipeline("token-classification", model=trained, tokenizer=tokenizer,
                                aggregation_strategy="simple")(TEXTS)
    assert_same(predict_entities(trained, tokenizer, TEXTS, max_length=7), expected)


def test_a_lora_model_predicts_as_its_merged_model(trained, tokenizer):
    from peft import LoraConfig, TaskType, get_peft_model

    base = pipeline("token-classification", model=trained, tokenizer=tokenizer, aggregation_strategy="simple")(TEXTS)
    torch.manual_seed(1)
    peft_model = get_peft_model(copy.deepcopy(trained), LoraConfig(
        task_type=TaskType.TOKEN_CLS, r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False))
    peft_model.train()  # put back in training mode after predicting, and predicting without dropout
    got = predict_entities(peft_model, tokenizer, TEXTS, batch_size=3)
    assert peft_model.training
    merged = peft_model.merge_and_unload().eval()
    expected = pipeline("token-classification", model=merged, tokenizer=tokenizer, aggregation_strategy="simple")(TEXTS)
    assert expected != base  # the adapter changes the predictions
    assert_same(got, expected)


def test_prompt_tuned_logits_are_read_after_the_virtual_tokens(trained, tokenizer):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    torch.manual_seed(2)
    model = get_peft_model(copy.deepcopy(trained), PromptTuningConfig(task_type=TaskType.TOKEN_CLS, num_virtual_tokens=5))
    model.eval()

    class WithoutPrompt(torch.nn.Module):  # the same logits, cut to the input's positions by hand
        config = trained.config

        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, **batch):
            return SimpleNamespace(logits=model(**batch).logits[:, 5:])

    assert model(**tokenizer(["a b"], return_tensors="pt")).logits.shape[1] == 4 + 5
    expected = predict_entities(WithoutPrompt(), tokenizer, TEXTS, batch_size=8)
    assert any(expected)
    assert predict_entities(model, tokenizer, TEXTS, batch_size=8) == expected


class TokenTable(torch.nn.Module):
    """A model whose label for each token is set by hand: logits are a row per vocabulary id."""

    def __init__(self, tokenizer, labels, by_token):
        super().__init__()
        self.config = BertConfig(vocab_size=tokenizer.vocab_size, id2label=dict(enumerate(labels)))
        self.table = torch.nn.Parameter(torch.zeros(tokenizer.vocab_size, len(labels)))
        with torch.no_grad():
            self.table[:, labels.index("O")] = 1.0
            for token, label in by_token.items():
                self.table[tokenizer.convert_tokens_to_ids(token), labels.index(label)] = 5.0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return SimpleNamespace(logits=self.table[input_ids])


def test_iobes_labels_end_and_make_single_entities(tokenizer):
    labels = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG") for p in "BIES"]
    model = TokenTable(tokenizer, labels, {"angela": "B-PER", "dorothea": "I-PER", "smith": "E-PER", "jones": "E-PER",
                                           "ibm": "S-ORG", "sap": "S-ORG", "bosch": "B-ORG", "gmbh": "I-ORG"})
    text = IOBES_TEXT
    got = predict_entities(model, tokenizer, [text])[0]
    assert [(e["entity_group"], text[e["start"]:e["end"]], e["word"]) for e in got] == [
        ("PER", "Angela Dorothea Smith", "angela dorothea smith"),  # B- I- E- is one; nothing joins after E-
        ("PER", "Jones", "jones"),
        ("ORG", "IBM", "ibm"), ("ORG", "SAP", "sap"),  # S- S- are two
        ("ORG", "Bosch GmbH", "bosch gmbh"),  # B- I- without E- still groups, as the pipeline groups B- I-
    ]
    assert got[0]["score"] == pytest.approx(float(torch.tensor([5.0, 1.0] + [0.0] * 7).softmax(0)[0]), abs=1e-6)


def test_a_slow_tokenizer_is_refused(trained, tokenizer):
    from pathlib import Path

    from transformers.models.bert import BertTokenizerLegacy

    slow = BertTokenizerLegacy(vocab_file=str(Path(tokenizer.name_or_path) / "vocab.txt"))
    with pytest.raises(PeftkitError, match="^predicting entities needs a fast tokenizer .*BertTokenizerLegacy is a slow") as e:
        predict_entities(trained, slow, ["Angela Merkel"])
    assert "\n" not in str(e.value)


# (true type, predicted type): count; O is no entity
CASES = {
    "IOB2": ([["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "I-ORG", "O", "B-MISC"], ["O", "O", "B-LOC"]],
             [["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "I-ORG", "O", "O", "O"], ["B-PER", "O", "B-LOC"]],
             {("PER", "PER"): 1, ("LOC", "ORG"): 1, ("ORG", "O"): 1, ("O", "ORG"): 1, ("MISC", "O"): 1,
              ("LOC", "LOC"): 1, ("O", "PER"): 1}),
    # I- opens an entity; B- splits two adjacent ones of a type: I-ORG B-ORG is two ORGs, I-ORG I-ORG one
    "IOB1": ([["I-PER", "I-PER", "O", "I-LOC", "O", "I-ORG", "I-ORG", "I-ORG", "O", "I-MISC"], ["I-ORG", "B-ORG", "O"]],
             [["I-PER", "I-PER", "O", "I-ORG", "O", "I-ORG", "I-ORG", "O", "O", "O"], ["I-ORG", "I-ORG", "I-PER"]],
             {("PER", "PER"): 1, ("LOC", "ORG"): 1, ("ORG", "O"): 3, ("O", "ORG"): 2, ("MISC", "O"): 1,
              ("O", "PER"): 1}),
    # strict: B-LOC I-LOC never closed by E- is no entity (a miss), I-PER alone no spurious one
    "IOBES": ([["B-PER", "E-PER", "O", "S-LOC", "O", "B-ORG", "I-ORG", "E-ORG", "O", "S-MISC"], ["B-LOC", "E-LOC", "O"]],
              [["B-PER", "E-PER", "O", "S-ORG", "O", "B-ORG", "E-ORG", "O", "O", "O"], ["B-LOC", "I-LOC", "I-PER"]],
              {("PER", "PER"): 1, ("LOC", "ORG"): 1, ("ORG", "O"): 1, ("O", "ORG"): 1, ("MISC", "O"): 1,
               ("LOC", "O"): 1}),
}


def seqeval_options(scheme):
    from seqeval.scheme import IOBES

    return {"mode": "strict", "scheme": IOBES} if scheme == "IOBES" else {}


@pytest.mark.parametrize("scheme", CASES)
def test_entity_confusion(scheme):
    from seqeval.metrics import classification_report

    truth, predicted, counts = CASES[scheme]
    matrix, labels = entity_confusion(truth, predicted, scheme)
    assert labels == ["LOC", "MISC", "ORG", "PER", "O"]
    expected = np.zeros((5, 5), dtype=int)
    for (true, guess), count in counts.items():
        expected[labels.index(true), labels.index(guess)] = count
    np.testing.assert_array_equal(matrix, expected)
    report = classification_report(truth, predicted, output_dict=True, zero_division=0, **seqeval_options(scheme))
    true_positives = sum(round(v["recall"] * v["support"]) for k, v in report.items() if k in labels)
    assert np.trace(matrix[:-1, :-1]) == true_positives
    assert matrix[:-1].sum() == sum(v["support"] for k, v in report.items() if k in labels)  # every true entity once


def test_entity_confusion_refuses_bad_input():
    with pytest.raises(ValueError, match="scheme must be one of IOB1, IOB2, IOBES"):
        entity_confusion([["O"]], [["O"]], "BIO")
    with pytest.raises(ValueError, match="as many tags"):
        entity_confusion([["O", "B-PER"]], [["O"]], "IOB2")
    with pytest.raises(PeftkitError, match="invalid tag 'X-PER'"):
        entity_confusion([["X-PER"]], [["O"]], "IOB2")


@pytest.mark.parametrize("scheme", CASES)
def test_entity_report(scheme):
    from seqeval.metrics import classification_report

    truth, predicted, _ = CASES[scheme]
    report = entity_report(truth, predicted, scheme)
    rows = {line.split()[0] for line in report.splitlines() if line.strip()}
    assert {"LOC", "MISC", "ORG", "PER"} <= rows and re.search(r"\b[01]\.\d{4}\b", report)
    assert report == classification_report(truth, predicted, digits=4, zero_division=0, **seqeval_options(scheme))
    if scheme == "IOBES":  # strict: the unclosed B-LOC I-LOC is no entity, which the default mode would count
        assert report != classification_report(truth, predicted, digits=4, zero_division=0)
