"""Built-in strategies. Importing this package registers them (one ``@register_strategy`` each)."""

from . import full, head, gradual, lora, prefix, prompt, adapter, bitfit, ia3, qlora  # noqa: F401
from . import loha, lokr, oft, boft, hra, vera, fourierft, ln_tuning, ptuning, adalora, any_peft  # noqa: F401
