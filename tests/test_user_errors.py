"""Errors a user causes outside an artifact: one line naming the problem and the fix, exit status 2, and
nothing written (--max-length beyond the model's positions, a text file that is not UTF-8, a recipe tag)."""

import json

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import peftkit
from peftkit import demo
from peftkit.cli import main
from peftkit.errors import PeftkitError


def one_line_error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The demo's tiny BERT (512 positions, a tokenizer), a head artifact of it, and a small dataset."""
    root = tmp_path_factory.mktemp("tiny")
    base = demo.write_tiny_model(root / "base")
    model = peftkit.get_strategy("head").apply(AutoModelForSequenceClassification.from_pretrained(base, num_labels=2))
    peftkit.save(model, root / "head", base_model=str(base), label_names=["0", "1"],
                 tokenizer=AutoTokenizer.from_pretrained(base))
    demo.write_dataset(root / "data", n_train=16, n_eval=8)
    return root


# -- --max-length against the model's positions ---------------------------------------------------

def test_train_refuses_a_max_length_beyond_the_positions(tiny, tmp_path, capsys):
    line = one_line_error(capsys, "train", "-s", "lora", "--model", str(tiny / "base"), "--dataset", str(tiny / "data"),
                          "--output", str(tmp_path / "out"), "--max-length", "1000")
    assert "--max-length 1000 exceeds the 512 positions" in line and "pass --max-length <= 512" in line
    assert not (tmp_path / "out").exists()


def test_compare_refuses_it_before_writing_its_store(tiny, tmp_path, capsys):
    line = one_line_error(capsys, "compare", "--model", str(tiny / "base"), "--dataset", str(tiny / "data"),
                          "-s", "head", "-s", "lora", "--output", str(tmp_path / "out"), "--max-length", "600")
    assert "--max-length 600 exceeds the 512 positions" in line and "<= 512" in line
    assert not (tmp_path / "out").exists()


def test_train_refuses_a_truncated_model_before_anything_runs(tiny, tmp_path, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny / "base", model)
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 3])
    line = one_line_error(capsys, "train", "-s", "lora", "--model", str(model), "--dataset", str(tiny / "data"),
                          "--output", str(tmp_path / "out"))
    assert "model.safetensors is not a complete safetensors file" in line and "save_pretrained" in line
    assert not (tmp_path / "out").exists()


def test_prompt_tokens_count_against_the_positions(tiny, tmp_path):
    from peftkit.training import RunConfig, preflight

    config = RunConfig(model=str(tiny / "base"), dataset=str(tiny / "data"), strategy="prompt", max_length=500)
    with pytest.raises(PeftkitError, match=r"500 plus 20 prompt tokens exceeds the 512 positions.*<= 492"):
        preflight(config)
    full = RunConfig(model=str(tiny / "base"), dataset=str(tiny / "data"), strategy="full", max_length=500)
    preflight(full)
    with pytest.raises(PeftkitError, match="plus 20 prompt tokens"):  # what compare checks for all its strategies
        preflight(full, ("head", "prompt"))


def test_predict_cuts_texts_to_the_positions_the_model_has(tiny):
    """predict's max_length (512) with a prompt's 20 tokens would run past 512 positions on a long text."""
    from peftkit.inference import predict

    base = tiny / "base"
    model = peftkit.get_strategy("prompt").apply(AutoModelForSequenceClassification.from_pretrained(base, num_labels=2))
    rows = predict(model.eval(), AutoTokenizer.from_pretrained(base), ["the film is great " * 300])
    assert len(rows) == 1 and 0 <= rows[0]["score"] <= 1


# -- text files that are not UTF-8 -----------------------------------------------------------------

def test_predict_file_not_utf8_is_one_line(tiny, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_bytes("a fine film\nun film rat\u00e9\n".encode("latin-1"))
    line = one_line_error(capsys, "predict", str(tiny / "head"), "--file", str(texts))
    assert f"{texts} is not UTF-8 text (byte 0xe9 at position 23): re-save the file as UTF-8" in line


def test_predict_file_in_utf8_is_read_as_utf8(tiny, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("un film raté\n", encoding="utf-8")
    main(["predict", str(tiny / "head"), "--file", str(texts), "--format", "json"])
    assert [r["text"] for r in json.loads(capsys.readouterr().out)] == ["un film raté"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"run_info": {"config": {"seed": "zero"}}}',
                                     b'{"seed": "caf\xe9"}'])
def test_evaluate_with_a_damaged_metrics_file_is_one_line(tiny, tmp_path, capsys, content):
    import shutil

    artifact = tmp_path / "head"
    shutil.copytree(tiny / "head", artifact)
    (artifact / "metrics.json").write_bytes(content)
    line = one_line_error(capsys, "evaluate", str(artifact), "--dataset", str(tiny / "data"))
    assert "metrics.json" in line and ("--seed" in line or "UTF-8" in line)


def test_a_recipe_not_in_utf8_is_one_line(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes("description: caf\u00e9\n".encode("latin-1"))
    line = one_line_error(capsys, "compare", "--recipe", str(recipe))
    assert "is not UTF-8 text (byte 0xe9 at position 16): re-save the file as UTF-8" in line


# -- recipes: a forbidden YAML tag is named ----------------------------------------------------------

@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/name:os.system", "!custom"])
def test_a_recipe_tag_is_named(tmp_path, capsys, tag):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: m\ndataset: {tag} [\"echo owned\"]\n")
    line = one_line_error(capsys, "compare", "--recipe", str(recipe))
    assert f"uses the YAML tag {tag} at line 2" in line and "remove the tag" in line
    assert "not valid YAML" not in line


def test_a_run_planned_for_other_data_refuses_to_train():
    """The run id of a comparison's run says the epochs its data's size gives (the steps rule): a run planned
    for another size than the data has now (the file changed mid-sweep) stops with why, before training."""
    from dataclasses import replace

    from peftkit.training import RunConfig, with_train_examples

    planned = RunConfig(model="m", dataset="d", strategy="lora", train_examples=100)
    assert with_train_examples(planned, 100) == planned
    with pytest.raises(PeftkitError, match="has 90 examples, but this run was planned for 100: the data changed"):
        with_train_examples(planned, 90)
    assert with_train_examples(replace(planned, train_examples=None), 90).train_examples == 90
