"""peftkit: one interface to many fine-tuning strategies for Hugging Face transformers.

    import peftkit
    strategy = peftkit.get_strategy("lora", r=16)
    model = strategy.apply(model)
    print(peftkit.count_parameters(model))
"""

from .artifacts import load, merge, save
from .errors import OptionError, PeftkitError, SpecError, UnknownStrategyError, UnsupportedError
from .params import ParameterCount, count_parameters
from .registry import (
    core_strategies,
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_class,
    strategy_from_spec,
    unregister_strategy,
)
from .strategies.base import Strategy

__version__ = "0.1.0"

__all__ = [
    "OptionError", "PeftkitError", "SpecError", "UnknownStrategyError", "UnsupportedError",
    "ParameterCount", "count_parameters", "core_strategies", "get_strategy", "list_strategies",
    "register_strategy", "strategy_class", "strategy_from_spec", "unregister_strategy", "Strategy",
    "save", "load", "merge", "__version__",
]
