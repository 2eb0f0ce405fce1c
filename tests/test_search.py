"""`compare --search lr`: candidates scored on held-out training data, never on the evaluation split."""

import json
import subprocess
import sys

import pytest

from peftkit import demo
from peftkit.compare import StrategyRun
from peftkit.data import load_text_classification
from peftkit.errors import OptionError
from peftkit.search import candidates, choose, parse_grid, plan
from peftkit.training import RunConfig


def peftkit(*args, timeout=900):
    p = subprocess.run([sys.executable, "-m", "peftkit", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    return root, demo.write_dataset(root / "data", n_train=80, n_eval=40), demo.write_tiny_model(root / "bert")


def test_holdout_comes_from_train_and_leaves_the_evaluation_split_alone(tmp_path):
    data = tmp_path / "unique"
    data.mkdir()
    for split, n in (("train", 80), ("validation", 40)):
        rows = [f"{split} sentence number {i},{i % 2}" for i in range(n)]
        (data / f"{split}.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    normal = load_text_classification(str(data), seed=0)
    search = load_text_classification(str(data), seed=0, holdout=True)
    train_texts = set(normal.train["text"])
    assert set(search.eval["text"]) <= train_texts
    assert not set(search.eval["text"]) & set(search.train["text"])
    assert len(search.eval) == 8 and len(search.train) == 72
    assert "held out from the training data" in search.eval_split
    assert sorted(set(search.eval["label"])) == [0, 1]  # stratified
    spelled = load_text_classification(str(data), seed=0, eval_split="train-holdout")  # evaluate --eval-split's way
    assert spelled.eval["text"] == search.eval["text"] and spelled.eval_split == search.eval_split


def test_candidates_plan_and_choice():
    assert candidates(1e-3, (1 / 3, 1, 3)) == [0.00033, 0.001, 0.003]
    assert parse_grid("0.5,1,2") == (0.5, 1.0, 2.0)
    for bad in ("a,b", "0,1", "-1", ""):
        with pytest.raises(OptionError):
            parse_grid(bad)
    base = RunConfig(model="m", dataset="d", strategy="full")
    runs = [StrategyRun("lora"), StrategyRun("head", {"learning_rate": 0.1})]  # a given rate is not searched
    (p,) = plan(base, runs, seed=3, grid=(0.5, 1, 2))
    assert p.spec == "lora" and [c.learning_rate for c in p.configs] == [0.0005, 0.001, 0.002]
    assert all(c.holdout and c.eval_split is None and c.seed == 3 for c in p.configs)
    results = {c.run_id(): {"train_info": {"status": "ok", "eval_accuracy": acc, "eval_loss": 0.5}}
               for c, acc in zip(p.configs, (0.8, 0.9, 0.9))}
    best, tried = choose(p, results)
    assert best == {"learning_rate": 0.001}  # tie on accuracy and loss: the rate nearer the default
    assert set(tried) == {(0.0005, 3.0), (0.001, 3.0), (0.002, 3.0)}


def test_compare_search_lr_end_to_end(assets):
    root, data, bert = assets
    out = root / "out"
    args = ["compare", "--model", str(bert), "--dataset", str(data), "-s", "head", "-s", "bitfit",
            "--hp", "bitfit.learning_rate=0.002", "--search", "lr", "--search-grid", "0.5,2",
            "--epochs", "1", "--max-length", "16", "--output", str(out)]
    code, text = peftkit(*args)
    assert code == 0, text
    searched = [json.loads(p.read_text()) for p in (out / "search" / "runs").glob("*.json")]
    assert sorted(r["run_info"]["config"]["learning_rate"] for r in searched) == [0.0025, 0.01]  # head: 5e-3 x 0.5, 2
    assert all("held out from the training data" in r["train_info"]["eval_split"] for r in searched)
    assert all(r["train_info"]["num_train_samples"] == 72 for r in searched)
    final = {r["run_info"]["config"]["strategy"]: r for r in map(lambda p: json.loads(p.read_text()),
                                                                   (out / "runs").glob("*.json"))}
    assert final["head"]["run_info"]["config"]["learning_rate"] in (0.0025, 0.01)
    assert final["head"]["train_info"]["eval_split"] == "validation"
    assert final["bitfit"]["run_info"]["config"]["learning_rate"] == 0.002  # given, not searched
    report = (out / "report.md").read_text()
    assert "lr search, head:" in report and "search, bitfit" not in report  # bitfit's rate was given
    assert "bitfit: 5 optimizer steps" in report  # and so were its epochs, too few for its steps rule
    code, text = peftkit(*args)  # resume: nothing reruns
    assert code == 0 and "nothing to do" in text, text
    code, text = peftkit(*args[:-2], "--output", str(out), "--search-grid", "1")  # a different grid: another config
    assert code == 2 and "different configuration" in text


def test_search_grid_without_search_and_bad_grid_fail_clearly(assets):
    root, data, bert = assets
    for extra, words in ((["--search-grid", "1,2"], "needs --search lr"), (["--search", "lr", "--search-grid", "x"], "factors"),
                         (["--epochs-grid", "1,2"], "needs --search epochs"), (["--search", "rate"], "lr, epochs or lr,epochs"),
                         (["--search", "epochs", "--epochs-grid", "0"], "positive")):
        code, text = peftkit("compare", "--model", str(bert), "--dataset", str(data), "-s", "head",
                             "--output", str(root / "bad"), *extra)
        assert code == 2 and words in text and "Traceback" not in text, text
        assert not (root / "bad" / "runs").exists() or not any((root / "bad" / "runs").iterdir())


def test_compare_on_the_holdout_without_search(assets):
    """`--eval-split train-holdout` alone (a sweep scored on held-out training data) runs each
    strategy at its default rate; the progress label shows that rate."""
    root, data, bert = assets
    out = root / "holdout"
    code, text = peftkit("compare", "--model", str(bert), "--dataset", str(data), "-s", "bitfit",
                         "--eval-split", "train-holdout", "--epochs", "1", "--max-length", "16", "--output", str(out))
    assert code == 0 and "Traceback" not in text, text
    assert "bitfit (seed 0, lr 0.001, epochs 1)" in text, text
    # epochs given by hand that fall short of the strategy's steps rule: one line, and the same in report.md,
    # also once `peftkit report` rebuilds it from the stored runs
    from peftkit.registry import strategy_class

    note = (f"bitfit: 5 optimizer steps, its defaults assume at least {strategy_class('bitfit').defaults.min_steps}; "
            "results may under-state it; see `--search lr,epochs`")
    assert note in " ".join(text.split()), text
    assert (out / "report.md").read_text().count(note) == 1
    (out / "report.md").unlink()
    code, text = peftkit("report", str(out))
    assert code == 0 and (out / "report.md").read_text().count(note) == 1, text
    (record,) = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert "held out from the training data" in record["train_info"]["eval_split"]
    assert record["train_info"]["num_train_samples"] == 72


def test_a_rate_the_user_set_is_never_searched():
    """--learning-rate and a recipe's learning_rate are rates the user set, as --hp s.learning_rate is:
    never searched, and so never replaced by a searched one."""
    from peftkit.compare import plan_comparison

    base = RunConfig(model="m", dataset="d", strategy="full", learning_rate=0.01)
    assert plan(base, [StrategyRun("lora"), StrategyRun("head")], seed=0, grid=(1, 2)) == []
    for flags, recipe in (({"learning_rate": 0.01}, {}), ({}, {"learning_rate": 0.01}),
                          ({"hp": ("lora.learning_rate=0.01", "head.learning_rate=0.01")}, {})):
        planned = plan_comparison({"model": "m", "dataset": "d", "specs": ("lora", "head"), "search": "lr", **flags},
                                  recipe)
        assert planned.search_plans() == [], (flags, recipe)
        assert {c.learning_rate for c in planned.runs()} == {0.01}
    planned = plan_comparison({"model": "m", "dataset": "d", "specs": ("lora", "head"), "search": "lr",
                               "hp": ("head.learning_rate=0.01",)})
    assert [p.spec for p in planned.search_plans()] == ["lora"]  # the other one is still searched


def test_the_rate_the_report_calls_chosen_is_the_rate_the_runs_use(tmp_path):
    """A tie on held-out accuracy and loss goes to the rate nearer the default, in the runs and in the
    report's note alike (the note took the first record of the tie)."""
    from peftkit.search import SEARCH_DIR, notes_from
    from peftkit.store import ResultStore

    base = RunConfig(model="m", dataset="d", strategy="full")
    for seed in range(50):  # a seed whose default-rate record is not the first file of the tie
        (p,) = plan(base, [StrategyRun("lora")], seed=seed, grid=(0.5, 1, 2))
        default = next(c for c in p.configs if c.learning_rate == p.default_lr)
        rival = min((c for c in p.configs if c is not default), key=lambda c: c.run_id())
        if rival.run_id() < default.run_id():
            break
    else:
        pytest.fail("no seed puts a rival rate's record first")
    store = ResultStore(tmp_path / SEARCH_DIR)
    results = {}
    for config in p.configs:
        tied = config in (default, rival)
        info = {"status": "ok", "eval_accuracy": 0.9 if tied else 0.5, "eval_loss": 0.3}
        record = {"run_info": {"run_id": config.run_id(), "config": config.resolved().to_dict()}, "train_info": info}
        store.write(config.run_id(), record)
        results[config.run_id()] = record
    best, _ = choose(p, results)
    assert best == {"learning_rate": p.default_lr} == {"learning_rate": 0.001}
    (note,) = [n for n in notes_from(tmp_path) if n.startswith("lr search, lora:")]
    assert note.startswith("lr search, lora: 0.001 chosen"), note


def test_a_search_of_rates_and_epochs_tries_every_pair_around_the_defaults_on_this_data():
    from peftkit.search import parse_search

    assert parse_search("lr,epochs") == parse_search("epochs, lr") == ("learning_rate", "epochs")
    for bad in ("", "rate", "lr,steps"):
        with pytest.raises(OptionError):
            parse_search(bad)
    base = RunConfig(model="m", dataset="d", strategy="full", train_examples=160)  # 10 steps an epoch
    runs = [StrategyRun("lora"), StrategyRun("head", {"epochs": 4.0})]  # epochs given: only the rate is searched
    lora_plan, head_plan = plan(base, runs, seed=0, grid=(0.5, 1, 2), epochs_grid=(0.5, 1, 2))
    default = RunConfig(model="m", dataset="d", strategy="lora", train_examples=160).resolved()
    assert lora_plan.default_epochs == default.epochs and lora_plan.searched == ("learning_rate", "epochs")
    pairs = [(c.learning_rate, c.epochs) for c in lora_plan.configs]
    assert len(pairs) == 9 and {e for _, e in pairs} == set(candidates(default.epochs, (0.5, 1, 2)))
    assert head_plan.searched == ("learning_rate",) and {c.epochs for c in head_plan.configs} == {4.0}
    (only_epochs,) = plan(base, runs[:1], seed=0, grid=None, epochs_grid=(0.5, 1))
    assert only_epochs.searched == ("epochs",) and {c.learning_rate for c in only_epochs.configs} == {None}
    assert plan(base, [StrategyRun("lora", {"epochs": 2.0})], seed=0, grid=None, epochs_grid=(1, 2)) == []
    # a tie on score and loss: nearer the defaults, then fewer epochs
    scores = {(lr, e): 0.9 if e != default.epochs else 0.5 for lr, e in pairs}
    results = {c.run_id(): {"train_info": {"status": "ok", "eval_accuracy": scores[(c.learning_rate, c.epochs)],
                                           "eval_loss": 0.5}} for c in lora_plan.configs}
    chosen, tried = choose(lora_plan, results)
    assert chosen == {"learning_rate": default.learning_rate, "epochs": min(e for _, e in pairs)} and len(tried) == 9


def test_compare_search_lr_and_epochs_end_to_end(assets):
    root, data, bert = assets
    out = root / "both"
    args = ["compare", "--model", str(bert), "--dataset", str(data), "-s", "bitfit", "--search", "lr,epochs",
            "--search-grid", "1,2", "--epochs-grid", "0.5,1", "--max-length", "16", "--output", str(out)]
    code, text = peftkit(*args)
    assert code == 0 and "learning-rate and epochs search: 4 runs" in text, text
    searched = [json.loads(p.read_text()) for p in (out / "search" / "runs").glob("*.json")]
    pairs = {(r["run_info"]["config"]["learning_rate"], r["run_info"]["config"]["epochs"]) for r in searched}
    assert len(pairs) == 4 and all(r["run_info"]["config"]["train_examples"] == 72 for r in searched)
    (final,) = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    config = final["run_info"]["config"]
    assert (config["learning_rate"], config["epochs"]) in pairs and config["train_examples"] == 80
    report = (out / "report.md").read_text()
    shown = f"lr {config['learning_rate']:g}, {config['epochs']:g} epochs chosen"
    assert f"search, bitfit: {shown}" in report and "search scored on" in report, report
    code, text = peftkit(*args)  # resume: nothing reruns
    assert code == 0 and "nothing to do" in text, text


def test_the_data_sizes_settle_the_epochs_of_the_runs_and_of_the_search(assets):
    """compare.with_train_sizes loads the data once per split it needs: the comparison's own runs train on all
    80 examples, the held-out search's on 72; each one's default epochs follow its own size."""
    from dataclasses import replace

    from peftkit.compare import plan_comparison, with_train_sizes
    from peftkit.registry import strategy_class

    root, data, bert = assets
    planned = plan_comparison({"model": str(bert), "dataset": str(data), "specs": ("lora",), "search": "epochs",
                               "max_train_samples": 64})
    sized = with_train_sizes(replace(planned, base=planned.base.with_task()))
    assert sized.train_sizes == {False: 64, True: 64}  # the subsample is drawn after the held-out share
    whole = with_train_sizes(replace(planned, base=replace(planned.base, max_train_samples=None).with_task()))
    assert whole.train_sizes == {False: 80, True: 72}
    rule = strategy_class("lora").defaults
    (p,) = whole.search_plans()
    assert p.default_epochs == rule.epochs_for(5)  # 72 examples: 5 steps an epoch
    assert whole.runs()[0].resolved().epochs == rule.epochs_for(5)  # 80 examples: 5 steps too
