"""QLoRA (Dettmers et al., 2023): LoRA on a base model loaded in 4-bit NF4 with double quantization.

Quantization happens when the model is *loaded*, so this strategy has two halves:

- ``from_pretrained_kwargs(config)`` gives the keyword arguments for ``from_pretrained`` (the
  ``BitsAndBytesConfig``): the loader asks the strategy for them;
- ``apply(model)`` prepares the 4-bit model for training (``peft.prepare_model_for_kbit_training``) and
  adds LoRA exactly as the ``lora`` strategy does; the task head stays in full precision (fp32) and is
  trained and saved as ``modules_to_save``.

bitsandbytes is imported only when needed, and only with a CUDA GPU: without one both halves refuse
with one clear line that points to ``lora`` (the same adapters on a full-precision base).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import peft
import torch
from torch import nn

from .. import architectures as arch
from ..errors import OptionError, UnsupportedError
from ..options import option
from ..registry import register_strategy
from . import lora_init
from .lora import LoraOptions, LoraStrategy

COMPUTE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_ALL_HEADS = tuple(dict.fromkeys(h for spec in arch.ARCHITECTURES for h in spec.heads))


@dataclass
class QLoraOptions(LoraOptions):
    compute_dtype: Literal["bf16", "fp16"] = option(
        "bf16", "dtype the 4-bit weights are dequantized to for the matmuls (fp16 on GPUs without bf16)")
    double_quant: bool = option(True, "also quantize the quantization constants (QLoRA's double quantization)")

    def validate(self):
        super().validate()
        self._require(self.init not in lora_init.CHANGES_BASE, "init", "default or gaussian for qlora (pissa and olora "
                      "change the base weights, which QLoRA keeps quantized and frozen)")


def _bitsandbytes_min_version() -> str:
    from transformers.utils.import_utils import BITSANDBYTES_MIN_VERSION

    return BITSANDBYTES_MIN_VERSION


def _missing() -> str | None:
    """Why QLoRA cannot run here (no CUDA GPU, no usable bitsandbytes), or None when it can."""
    from transformers.utils import is_bitsandbytes_available

    problems = []
    cuda = torch.cuda.is_available()
    if not cuda:
        problems.append("no CUDA device")
    if not is_bitsandbytes_available():
        problems.append(f"bitsandbytes>={_bitsandbytes_min_version()} not installed")
    elif cuda:
        try:
            import bitsandbytes  # noqa: F401
        except Exception as e:  # a broken CUDA setup shows up here, not at peftkit import
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            problems.append(f"bitsandbytes cannot be imported ({detail})")
    return ", ".join(problems) or None


def _refusal(problem: str) -> str:
    return (f"qlora needs a CUDA GPU and bitsandbytes: {problem}; use `lora` on CPU (same adapters, "
            f"full-precision base), or a CUDA machine with `pip install 'bitsandbytes>={_bitsandbytes_min_version()}'`")


def is_loaded_in_4bit(model: nn.Module) -> bool:
    """True if the model was loaded in 4-bit through bitsandbytes (its Linear layers are Linear4bit)."""
    base = arch.unwrap(model)
    if getattr(base, "is_loaded_in_4bit", False):
        return True
    return any(type(m).__name__ == "Linear4bit" and type(m).__module__.startswith("bitsandbytes")
               for m in base.modules())


@register_strategy
class QLoraStrategy(LoraStrategy):
    name = "qlora"
    family = "reparametrised"
    description = ("QLoRA: LoRA on a base model loaded in 4-bit NF4 with double quantization (bitsandbytes, "
                   "CUDA only); the head stays in full precision.")
    # Same rate as lora: QLoRA's finding is that 4-bit NF4 + LoRA matches 16-bit LoRA with the same
    # hyperparameters, and the adapters (r, alpha, targets) are lora's. The paper's own 2e-4 is for
    # 7B-13B LLaMA instruction tuning with r=64 on every linear layer, not this setting.
    defaults = dataclasses.replace(
        LoraStrategy.defaults,
        source="same as lora (" + LoraStrategy.defaults.source + "); QLoRA paper (Dettmers et al., 2023): "
               "4-bit NF4 + LoRA matches 16-bit LoRA at the same hyperparameters")
    task_defaults = {task: dataclasses.replace(own, source="same as lora (" + own.source + ")")
                     for task, own in LoraStrategy.task_defaults.items()}
    Options = QLoraOptions
    core = False

    def from_pretrained_kwargs(self, config: Any = None) -> dict[str, Any]:
        """Keyword arguments for ``AutoModelForSequenceClassification.from_pretrained``: the 4-bit NF4
        ``quantization_config``, with the task head (of ``config``'s architecture, or every known
        head name) left unquantized. Raises UnsupportedError without a CUDA GPU or bitsandbytes."""
        problem = _missing()
        if problem:
            raise UnsupportedError(self.name, getattr(config, "model_type", None) or "this machine", _refusal(problem))
        from transformers import BitsAndBytesConfig

        o = self.options
        compute_dtype = COMPUTE_DTYPES[o.compute_dtype]
        if compute_dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise OptionError(f"strategy '{self.name}': this GPU has no bf16 support; "
                              f"use {self.name}:compute_dtype=fp16")
        heads = list(arch.arch_for_config(config).heads) if config is not None else list(_ALL_HEADS)
        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=o.double_quant,
            bnb_4bit_compute_dtype=compute_dtype, llm_int8_skip_modules=heads)
        # Non-quantized weights (embeddings, norms, head) load in fp32: prepare_model_for_kbit_training
        # casts them to fp32 anyway, and loading them in bf16 first would only round them.
        return {"quantization_config": quantization, "dtype": torch.float32}

    def at_peak(self, model: nn.Module) -> list[str]:
        return [f"{self.name} loads the weights its own way: weights assume the config's dtype"]

    def unavailable_here(self) -> str | None:
        problem = _missing()
        return _refusal(problem) if problem else None

    def apply(self, model: nn.Module) -> nn.Module:
        problem = _missing()
        if problem:
            raise arch.unsupported(self.name, model, _refusal(problem))
        if not is_loaded_in_4bit(model):
            raise arch.unsupported(
                self.name, model,
                "the model is not loaded in 4-bit (bitsandbytes quantizes at load time, not after); load it with "
                "AutoModelForSequenceClassification.from_pretrained(path, num_labels=..., "
                "**peftkit.get_strategy('qlora').from_pretrained_kwargs())")
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        model = super().apply(model)  # lora's adapters; the head is trained and saved (modules_to_save)
        for _, p in arch.iter_head_parameters(model):
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()
        return model
