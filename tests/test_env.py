"""`peftkit env`: versions, the lock comparison, the strategy x family check, text and JSON output."""

import json
import logging
import os
import re
import subprocess
import sys
import warnings

import torch
from click.testing import CliRunner

import peftkit
from peftkit import env
from peftkit.architectures import supported_model_types
from peftkit.cli import cli
from peftkit.meta import git_commit
from peftkit.strategies.lora import LoraStrategy

LOCK = """\
# a comment line, with torch==0.0.1 in it that is not a pin
Jinja2==3.1.6
typing_extensions==4.16.0   # trailing comment
torch==2.13.0
absent-package==1.0
-e .

"""


# -- versions and the lock ----------------------------------------------------------------------

def test_versions_name_every_package_and_reuse_meta():
    v = env.versions()
    for key in ("peftkit", "git_commit", "python", "platform", "torch", "cuda", "device", *env.PACKAGES):
        assert key in v
    assert v["peftkit"] == peftkit.__version__ and v["torch"] == torch.__version__
    assert v["git_commit"] == git_commit()


def test_absent_package_reads_not_installed(monkeypatch):
    monkeypatch.setattr(env, "_version", lambda name: None if name == "bitsandbytes" else "1.2.3")
    text = env.to_text(env.collect(check=False))
    assert "- bitsandbytes: not installed" in text and "- peft: 1.2.3" in text


def test_lock_matches_with_names_normalised_and_local_label_ignored(tmp_path):
    lock = tmp_path / "constraints.txt"
    lock.write_text(LOCK)
    installed = {"jinja2": "3.1.6", "typing-extensions": "4.16.0", "torch": "2.13.0+cpu", "other": "9"}
    result = env.compare_lock(lock, installed)
    assert result == {"path": str(lock), "status": "matches", "compared": 3, "differences": [],
                      "not_installed": ["absent-package"]}
    assert "matches the lock" in env._lock_text(result)


def test_lock_differences_are_listed(tmp_path):
    lock = tmp_path / "constraints.txt"
    lock.write_text(LOCK.replace("torch==2.13.0", "transformers==5.23.0"))
    installed = {"jinja2": "3.1.7", "typing-extensions": "4.16.0", "transformers": "5.24.0"}
    result = env.compare_lock(lock, installed)
    assert result["status"] == "differs" and result["compared"] == 3
    assert env._lock_text(result) == "Jinja2 3.1.7 (lock 3.1.6), transformers 5.24.0 (lock 5.23.0)"


def test_lock_against_the_real_installation(tmp_path):
    import click

    lock = tmp_path / "constraints.txt"
    lock.write_text(f"Click=={click.__version__}\n")
    assert env.compare_lock(lock)["status"] == "matches"
    lock.write_text("click==0.0.1\n")
    assert env.compare_lock(lock)["differences"] == [
        {"package": "click", "installed": click.__version__, "lock": "0.0.1"}]


def test_missing_lock_says_not_a_source_checkout(tmp_path, monkeypatch):
    assert env.lock_path() == env.Path(peftkit.__file__).resolve().parents[1] / "constraints.txt"
    monkeypatch.setattr(env, "lock_path", lambda: tmp_path / "constraints.txt")
    result = env.compare_lock()
    assert result["status"] == "missing" and result["path"] is None
    assert "not a source checkout" in env._lock_text(result)


# -- strategy plugins ---------------------------------------------------------------------------

class _EntryPoint:
    def __init__(self, name, error=None):
        self.name, self.value, self.error = name, f"{name}_pkg:Strategy", error

    def load(self):
        if self.error:
            raise self.error
        return LoraStrategy


def test_plugins_report_the_ones_that_fail_to_load(monkeypatch):
    eps = [_EntryPoint("good"), _EntryPoint("bad", ImportError("no module named 'bad_pkg'\nmore"))]
    monkeypatch.setattr(env, "entry_points", lambda group: eps)
    found = env.plugins()
    assert [(p["name"], p["status"], p["error"]) for p in found] == [
        ("good", "ok", None), ("bad", "broken", "ImportError: no module named 'bad_pkg'")]
    lines = "\n".join(env._version_lines(env.versions(), env.compare_lock(), found))
    assert "strategy plugins: good (ok), bad (broken)" in lines and "bad_pkg:Strategy" in lines


# -- the check ------------------------------------------------------------------------------------

def test_families_come_from_the_architecture_module():
    assert sorted(mt for _, mt in env.families()) == supported_model_types()
    assert ("Llama", "llama") in env.families()


def _patched_apply(monkeypatch, apply):
    monkeypatch.setattr(LoraStrategy, "apply", apply)
    (row,) = env.run_checks(["lora"], ["bert"])
    assert row["strategy"] == "lora" and row["family"] == "BERT" and row["model_type"] == "bert"
    return row["status"], row["reason"]


def test_ok_pair():
    assert env.run_checks(["lora"], ["bert"])[0] == {
        "strategy": "lora", "family": "BERT", "model_type": "bert", "status": "ok", "reason": None}


def test_unsupported_error_is_unsupported(monkeypatch):
    def refuse(self, model):
        raise peftkit.UnsupportedError("lora", "BertForSequenceClassification", "no room for adapters")

    assert _patched_apply(monkeypatch, refuse) == ("unsupported", "no room for adapters")


def test_any_other_error_is_broken_with_type_and_first_line(monkeypatch):
    def crash(self, model):
        raise RuntimeError("shapes do not match\nlong traceback detail")

    assert _patched_apply(monkeypatch, crash) == ("broken", "sequence-classification: RuntimeError: shapes do not match")


def test_no_trainable_parameter_is_broken(monkeypatch):
    def freeze_all(self, model):
        return model.requires_grad_(False)

    assert _patched_apply(monkeypatch, freeze_all) == ("broken", "sequence-classification: no trainable parameter after apply")


def test_non_finite_loss_is_broken(monkeypatch):
    def poison(self, model):
        model.classifier.weight.data.fill_(float("nan"))
        return model

    status, reason = _patched_apply(monkeypatch, poison)
    assert status == "broken" and reason.startswith("sequence-classification: non-finite loss")


def test_check_is_silent_and_leaves_threads_and_rng_alone(monkeypatch, capsys):
    original = LoraStrategy.apply

    def noisy(self, model):
        print("stray print")
        warnings.warn("a library warning")
        logging.getLogger("transformers").warning("a log line")
        return original(self, model)

    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _patched_apply(monkeypatch, noisy) == ("ok", None)
    assert not caught and capsys.readouterr() == ("", "")
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng)


def test_registered_third_party_strategy_is_checked():
    @peftkit.register_strategy
    class Mine(LoraStrategy):
        name = "mine_for_env_test"
        core = False

    try:
        checks = env.run_checks(model_types=["gpt2"])
    finally:
        peftkit.unregister_strategy("mine_for_env_test")
    assert [c["strategy"] for c in checks] == peftkit.list_strategies() + ["mine_for_env_test"]
    assert checks[-1]["status"] == "ok"


def test_entry_point_plugins_are_checked_and_reported(tmp_path, monkeypatch):
    """A real installed plugin (a dist-info with entry points on sys.path), and one that cannot load."""
    from peftkit import registry

    (tmp_path / "envplug.py").write_text(
        "from peftkit.strategies.lora import LoraStrategy\n\n"
        "class PlugLora(LoraStrategy):\n    name = 'plug_lora'\n    core = False\n")
    info = tmp_path / "envplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: envplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[peftkit.strategies]\nplug_lora = envplug:PlugLora\nplug_bad = envplug_missing:Nothing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        checks = env.run_checks(model_types=["bert", "llama"])
        found = {p["name"]: p for p in env.plugins()}
    finally:
        peftkit.unregister_strategy("plug_lora")
        sys.modules.pop("envplug", None)
    assert [c["status"] for c in checks if c["strategy"] == "plug_lora"] == ["ok", "ok"]
    assert found["plug_lora"]["status"] == "ok"
    assert found["plug_bad"]["status"] == "broken" and "ModuleNotFoundError" in found["plug_bad"]["error"]


# -- output ---------------------------------------------------------------------------------------

def _fake_report(checks):
    return {**env.collect(check=False), "checks": checks, "summary": env.summarize(checks, 1.0)}


def test_wide_tables_are_split_into_blocks_not_cut():
    families = [("Family-with-a-long-name-%d" % i, "mt%d" % i) for i in range(6)]
    long_name = "a_third_party_strategy_with_a_long_name"
    checks = [{"strategy": s, "family": f, "model_type": mt, "status": "broken" if s == long_name else "ok",
               "reason": "ValueError: " + "word " * 40 if s == long_name else None}
              for s in (long_name, "lora") for f, mt in families]
    checks[-1] = {**checks[-1], "status": "unsupported", "reason": "not here"}
    text = env.to_text(_fake_report(checks))
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for f, _ in families:
        assert text.count(f) == 1 + (f == families[-1][0])  # in a header; the last also in a reason
    assert text.count(long_name) == len(families) + 1  # every block repeats the row names
    assert f"- {long_name} on every family: ValueError: word" in text
    assert "- lora on Family-with-a-long-name-5: not here" in text
    assert text.rstrip().endswith("5 of 12 pairs ok, 1 unsupported, 6 broken in 1 s")


def test_json_shape(monkeypatch):
    row = {"strategy": "lora", "family": "BERT", "model_type": "bert", "status": "ok", "reason": None}
    monkeypatch.setattr(env, "run_checks", lambda strategies=None: [row])
    result = CliRunner().invoke(cli, ["env", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"versions", "lock", "plugins", "unavailable", "checks", "summary"}
    assert data["versions"]["peftkit"] == peftkit.__version__
    assert data["lock"]["status"] in ("matches", "differs", "missing")
    assert data["checks"] == [row]
    assert data["summary"]["pairs"] == data["summary"]["ok"] == 1


def test_no_check_skips_the_check():
    result = CliRunner().invoke(cli, ["env", "--no-check", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["checks"] is None
    text = CliRunner().invoke(cli, ["env", "--no-check"]).output
    assert "- transformers: " in text and "- lock: " in text and "pairs ok" not in text


def test_broken_pairs_still_exit_zero(monkeypatch):
    def crash(self, model):
        raise RuntimeError("boom")

    monkeypatch.setattr(LoraStrategy, "apply", crash)
    result = CliRunner().invoke(cli, ["env"])
    assert result.exit_code == 0
    assert re.search(r"- lora on every family: sequence-classification: RuntimeError: boom", result.output)
    assert re.search(r"^lora +broken +broken", result.output, re.M)


def test_real_command_piped_to_a_file_at_80_columns(tmp_path):
    """The whole check, every registered strategy on every family, as a user runs it into a bug report."""
    out = tmp_path / "env.txt"
    with out.open("w") as f:
        p = subprocess.run([sys.executable, "-m", "peftkit", "env"], stdout=f, stderr=subprocess.PIPE, text=True,
                           timeout=300, env={**os.environ, "COLUMNS": "80"})
    text = out.read_text()
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    unavailable = env.unavailable()  # qlora without CUDA: listed once, not checked
    pairs = (len(peftkit.list_strategies()) - len(unavailable)) * len(env.families())
    summary = re.search(r"^(\d+) of (\d+) pairs ok, (\d+) unsupported, (\d+) broken in [\d.]+ s$", text, re.M)
    ok, total, unsupported, broken = map(int, summary.groups())
    assert total == pairs == ok + unsupported + broken
    assert re.search(r"^bitfit .* unsup ", text, re.M)  # Llama has no biases
    for family, _ in env.families():
        assert family in text
    for u in unavailable:
        assert f"- {u['strategy']}: " in text


def test_a_strategy_that_cannot_run_here_is_listed_once_not_checked(monkeypatch):
    from peftkit.strategies.lora import LoraStrategy

    monkeypatch.setattr(LoraStrategy, "unavailable_here", lambda self: "needs a machine we do not have")
    report = env.collect()
    assert {"strategy": "lora", "reason": "needs a machine we do not have"} in report["unavailable"]
    assert not any(c["strategy"] == "lora" for c in report["checks"])
    assert "- lora: needs a machine we do not have" in env.to_text(report)
