"""peftkit's own calls raise no deprecation noise on the installed releases; the user's code still does."""

import logging
import warnings

import pytest
import torch
from tiny_models import CONFIGS, batch, tiny_model

import peftkit

pytestmark = pytest.mark.canary


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def noise():
    """Every warning and every transformers/peft log line at WARNING or above, recorded."""
    handler = _Records()
    loggers = [logging.getLogger(name) for name in ("transformers", "peft")]
    for logger in loggers:
        logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught, handler.messages
    for logger in loggers:
        logger.removeHandler(handler)


def _deprecations(caught, messages):
    found = [f"{w.category.__name__}: {w.message}" for w in caught
             if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    return found + [m for m in messages if "deprecat" in m.lower()]


@pytest.mark.parametrize("arch", list(CONFIGS))
@pytest.mark.parametrize("strategy", peftkit.list_strategies())
def test_apply_and_train_step_are_quiet(strategy, arch, noise):
    try:
        model = peftkit.get_strategy(strategy).apply(tiny_model(arch))
    except peftkit.UnsupportedError:
        pytest.skip("refused (test_matrix checks which)")
    model(**batch(arch)).loss.backward()
    assert _deprecations(*noise) == []


@pytest.mark.parametrize("strategy", peftkit.list_strategies())
def test_save_and_load_are_quiet(strategy, tmp_path, noise):
    tiny_model("bert").save_pretrained(tmp_path / "base")
    try:
        model = peftkit.get_strategy(strategy).apply(tiny_model("bert"))
    except peftkit.UnsupportedError:
        pytest.skip("refused (test_matrix checks which)")
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "base"))
    with torch.no_grad():
        peftkit.load(tmp_path / "saved")(**{k: v for k, v in batch("bert").items() if k != "labels"})
    assert _deprecations(*noise) == []


def test_the_users_own_warnings_still_show(noise):
    peftkit.get_strategy("lora").apply(tiny_model("bert"))
    warnings.warn("from the user's code", FutureWarning)
    assert any("from the user's code" in str(w.message) for w in noise[0])
