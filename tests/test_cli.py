import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from peftkit.cli import cli, main


def run(*args):
    """The real entry point in a subprocess: exit status and both streams as a user sees them."""
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def test_list_shows_strategies_and_options():
    result = CliRunner().invoke(cli, ["list"], terminal_width=200)
    assert result.exit_code == 0
    for word in ("lora", "adapter", "reduction_factor", "num_virtual_tokens", "unfreeze_every", "bitfit"):
        assert word in result.output
    from peftkit.registry import strategy_class

    for name in ("full", "prefix", "head"):  # each strategy's own training defaults, as compare uses them
        assert f"lr {strategy_class(name).defaults.learning_rate:g}" in result.output


def test_list_groups_strategies_by_family_and_marks_those_that_merge():
    output = CliRunner().invoke(cli, ["list"], terminal_width=200).output
    rows = [line.split("│")[1].strip() for line in output.splitlines() if line.startswith("│")]
    rows = [row for row in rows if row]  # a strategy's or a family's first line
    assert [r for r in rows if r.startswith("family:")] == [
        "family: full", "family: selective", "family: additive", "family: reparametrised", "family: other"]
    family = {}
    for row in rows:
        if row.startswith("family:"):
            current = row.split()[1]
        else:
            family[row.split()[0]] = (current, row.split()[1:])
    assert family["lora"] == ("reparametrised", ["*", "m"]) and family["prefix"] == ("additive", ["*"])
    assert family["bitfit"] == ("selective", ["m"]) and family["adapter"] == ("additive", ["*"])


def test_params_json_rows(capsys):
    main(["params", "-m", "builtin:bert-base", "-s", "lora:r=8", "-s", "adapter", "-s", "head", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["strategy"] for r in rows] == ["lora", "adapter", "head"]
    for r in rows:
        assert {"strategy", "trainable_params", "total_params", "trainable_percent", "head_params"} <= set(r)
    assert rows[0]["trainable_params"] - rows[0]["head_params"] == 294_912
    assert rows[1]["trainable_params"] - rows[1]["head_params"] == 1_789_056


@pytest.mark.parametrize("fmt, marker", [("md", "| strategy |"), ("csv", "strategy,status,trainable_params"),
                                         ("table", "trainable")])
def test_params_formats(capsys, fmt, marker):
    main(["params", "-m", "builtin:tiny-bert", "-s", "lora", "--format", fmt])
    assert marker in capsys.readouterr().out


def test_params_from_config_dir_and_unsupported_row(tmp_path, capsys):
    from transformers import LlamaConfig

    LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128).save_pretrained(tmp_path)
    main(["params", "-m", str(tmp_path), "--num-labels", "5", "-s", "bitfit", "-s", "lora", "--format", "json"])
    rows = {r["strategy"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["bitfit"]["status"] == "unsupported" and "bias" in rows["bitfit"]["reason"]
    assert rows["lora"]["status"] == "ok" and rows["lora"]["head_params"] == 64 * 5


@pytest.mark.parametrize("args, words", [
    (["params", "-s", "nope"], ["unknown strategy 'nope'", "lora"]),
    (["params", "-s", "lora:r=0"], ["'r'", "positive"]),
    (["params", "-s", "lora:r=abc"], ["'r'", "int"]),
    (["params", "-s", "lora:rank=4"], ["unknown option 'rank'", "valid options"]),
    (["params", "-s", "lora:r"], ["malformed SPEC"]),
    (["params", "-s", "adapter:reduction_factor=0"], ["reduction_factor"]),
    (["params", "-m", "/does/not/exist"], ["does not exist"]),
    (["params", "-m", "builtin:nope"], ["built-in"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    code, out, err = run(*args)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("args, words", [
    (["predict", "/does/not/exist", "hello"], ["DIRECTORY", "does not exist", "peftkit predict --help"]),
    (["evaluate", "/does/not/exist", "-d", "x"], ["does not exist"]),
    (["merge", "/does/not/exist", "out"], ["does not exist"]),
    (["report", "/does/not/exist"], ["does not exist"]),
    (["compare", "--no-such-flag"], ["--no-such-flag", "peftkit compare --help"]),
    (["no-such-command"], ["no-such-command", "peftkit --help"]),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, words):
    """click's own checks (missing paths, unknown flags) answer like peftkit's: one line, exit 2."""
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("peftkit: error:"), p.stderr
    for word in words:
        assert word in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_unsupported_architecture_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 32}))
    code, _, err = run("params", "-m", str(tmp_path))
    assert code == 2 and "not supported" in err and "bert" in err and "Traceback" not in err


@pytest.mark.parametrize("args, words", [
    (["compare", "-s", "lora:r=0"], ["'r'", "positive"]),
    (["compare", "--max-length", "0"], ["max-length", "positive"]),
    (["compare", "--epochs", "-1"], ["epochs", "positive"]),
    (["compare", "--batch-size", "0"], ["batch-size", "positive"]),
    (["compare", "--seeds", "0,x"], ["--seeds"]),
    (["compare", "--hp", "lora.lr=1"], ["--hp"]),
    (["compare", "--learning-rate", "inf"], ["learning-rate must be a finite number, got inf"]),
    (["compare", "--epochs", "nan"], ["epochs must be a finite number, got nan"]),
    (["compare", "--weight-decay", "inf"], ["weight-decay must be a finite number, got inf"]),
    (["compare", "--hp", "lora.learning_rate=inf"], ["--hp lora.learning_rate=inf", "not a finite number"]),
    (["compare", "--hp", "prompt.warmup=nan"], ["--hp prompt.warmup=nan", "not a finite number"]),
    (["compare", "-s", "lora:alpha=inf"], ["'alpha'", "inf"]),
    (["compare", "--model", "m"], ["both --model and --dataset"]),
    # the model is checked before the dataset: a hub name would otherwise be tried (and retried) first
    (["compare", "--model", "/does/not/exist", "--dataset", "x"], ["model path", "does not exist"]),
    (["train", "-s", "lora", "--model", "/does/not/exist", "--dataset", "x", "-o", "out"], ["model path",
                                                                                           "does not exist"]),
    (["compare", "--model", "builtin:tiny-bert", "--dataset", "/does/not/exist.csv"], ["dataset path"]),
])
def test_compare_bad_input_writes_nothing(tmp_path, args, words):
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    for word in words:
        assert word in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_compare_checks_the_data_before_writing_its_store(tmp_path):
    """A wrong column would fail every run; it fails once, up front, and leaves no results folder."""
    data = tmp_path / "data.csv"
    data.write_text("sentence,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(8)))
    code, _, err = run("compare", "--model", "builtin:tiny-bert", "--dataset", str(data), "--text-column", "text",
                       "-s", "lora", "--output", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "text column 'text' not found" in err, err
    assert not (tmp_path / "out").exists()
