"""Peak training memory, predicted before anything runs (``peftkit estimate``).

The model is built on the meta device (shapes, no memory, no download of weights), the strategy is
applied to it, and four components are added up from what is then trainable:

- **weights**: every parameter and buffer at its dtype. That is the dtype ``peftkit train`` loads
  with (transformers' ``dtype="auto"``: the config's dtype, fp32 when it names none). Mixed precision
  (``--precision bf16/fp16``, the Trainer's autocast) keeps these master weights as they are.
- **gradients**: one gradient per trainable parameter, at the parameter's dtype (fp32: 4 bytes).
- **optimizer**: AdamW keeps two states per trainable parameter (exp_avg, exp_avg_sq) at the
  parameter's dtype: 2 x 4 bytes in fp32; plain SGD keeps none.
- **activations**: what autograd saves for backward during one forward of a batch of ``B`` sequences
  of ``L`` tokens.

Activations follow Korthikanti et al. (2022), "Reducing Activation Recomputation in Large Transformer
Models": a block saves about ``s*b*h*(34 + 5*a*s/h)`` bytes at 16 bits (``s`` tokens, ``b``
sequences, ``h`` hidden size, ``a`` heads). Here the same accounting is done tensor by tensor, per
architecture family (``activations.py``, from what ``architectures.py`` declares of each), because the details move the total by tens of
percent:

- transformers 5 runs attention through SDPA (flash / memory-efficient kernels): it saves q, k, v
  and its output, not the ``a*s*s`` score matrices (the ``5*a*s/h`` term). Eager attention saves
  them (DeBERTa's own attention always; on CPU, SDPA falls back to it when attention dropout is on);
- a linear layer saves its input only to compute its *weight's* gradient; a frozen one saves nothing
  of its own (``Saved.if_trains``). LoRA, IA3 and adapters save their own inputs instead;
- under autocast, matmul inputs are 16-bit, the residual stream and layer norms stay fp32, and each
  fp32 weight used in the graph is kept as a 16-bit copy until backward ("weight copies");
- dropout masks are 1 byte per element on CUDA (in the activation dtype on CPU), and exist only
  where dropout is on (a frozen body in eval mode, as ``head`` keeps it, has none).

Which part of the model saves anything: autograd keeps tensors only where something below needs a
gradient. Everything above the lowest trainable point is saved: for ``head`` that is the head alone;
for LoRA, adapters, IA3 and prefixes (trainable parameters in every block) every block, but without
the frozen linears' inputs; for prompt tuning also the embeddings' output, with the sequence made
longer by the virtual tokens (prefix tuning lengthens the keys and values instead). ``gradual`` is
estimated at its peak, once everything is unfrozen (as ``full``). The lowest saved block is counted
whole, although what runs in it before its first trainable parameter saves nothing (a few percent
too much on shallow models, less on deep ones). With gradient checkpointing a block keeps only its
input, and one block at a time is recomputed in full during backward.

**total** is the peak, not the sum of the four: the Trainer drops gradients after each optimizer
step (``zero_grad(set_to_none=True)``), and backward frees activations as it creates gradients, so
the peak is ``weights + optimizer + max(activations, gradients)``. With gradient accumulation over
several steps, gradients live through the next forward as well: add them.

Not counted: the CUDA context (~0.3-0.5 GiB outside PyTorch's allocator), allocator fragmentation,
kernel workspaces, and the attention mask of padded batches. Small per-token items (layer-norm
statistics, logits, loss) are included; embedding lookups save only the token ids (negligible).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import torch
from torch import nn

from . import architectures as arch
from .activations import Dtypes, activation_breakdown, shapes_for
from .errors import OptionError
from .settings import PRECISIONS, resolve_precision

OPTIMIZERS = {"adamw": 2, "sgd": 0}  # optimizer states per trainable parameter
DEVICES = ("auto", "cuda", "cpu")
COMPONENTS = ("weights", "gradients", "optimizer", "activations")


@dataclass
class MemoryEstimate:
    """Bytes per component; ``total`` is the predicted peak (see the module docstring)."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    total: int
    precision: str
    notes: list[str] = field(default_factory=list)
    device: str = "cuda"
    activation_breakdown: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- putting it together ----------------------------------------------------------------------------
# -- putting it together ----------------------------------------------------------------------------

def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _unique(tensors: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}
    for t in tensors:
        seen.setdefault(id(t), t)
    return list(seen.values())


def weight_bytes(model: nn.Module) -> int:
    params = _unique(model.parameters())
    buffers = _unique(model.buffers())
    return sum(t.numel() * t.element_size() for t in params + buffers)


def gradient_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in _unique(model.parameters()) if p.requires_grad)


def optimizer_bytes(model: nn.Module, optimizer: str = "adamw") -> int:
    return OPTIMIZERS[optimizer] * gradient_bytes(model)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise OptionError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")


def _check_choices(precision: str, optimizer: str, device: str) -> None:
    for name, value, choices in (("precision", precision, PRECISIONS), ("optimizer", optimizer, OPTIMIZERS),
                                 ("device", device, DEVICES)):
        if value not in choices:
            raise OptionError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def estimate_model(model: nn.Module, batch_size: int, seq_len: int, *, precision: str = "auto",
                   optimizer: str = "adamw", gradient_checkpointing: bool = False, device: str = "auto",
                   prompt_tokens: int = 0, prefix_tokens: int = 0) -> MemoryEstimate:
    """Estimate for a model already prepared for training (a strategy applied; on meta or real)."""
    _check_positive(batch_size=batch_size, seq_len=seq_len)
    _check_choices(precision, optimizer, device)
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    base = arch.unwrap(model)
    check_length(base.config, seq_len, prompt_tokens)
    weight_dtype = base.get_input_embeddings().weight.dtype
    weight_size = torch.empty((), dtype=weight_dtype).element_size()
    autocast = precision in ("bf16", "fp16")
    act = 2 if autocast else weight_size
    dtypes = Dtypes(act=act, res=weight_size, mask=1 if device == "cuda" else act,
                    autocast=autocast and weight_dtype == torch.float32)
    shapes = shapes_for(base.config, batch_size, seq_len, prompt_tokens, prefix_tokens)
    breakdown = activation_breakdown(model, shapes, dtypes, gradient_checkpointing=gradient_checkpointing,
                                     device=device, prefix_tokens=prefix_tokens)
    weights, gradients = weight_bytes(model), gradient_bytes(model)
    optim, activations = optimizer_bytes(model, optimizer), sum(breakdown.values())
    notes = _notes(precision, weight_dtype, device, shapes, prompt_tokens, prefix_tokens, gradient_checkpointing)
    return MemoryEstimate(weights=weights, gradients=gradients, optimizer=optim, activations=activations,
                          total=weights + optim + max(activations, gradients), precision=precision,
                          notes=notes, device=device, activation_breakdown=breakdown)


def _notes(precision, weight_dtype, device, shapes, prompt_tokens, prefix_tokens, gradient_checkpointing) -> list[str]:
    dtype = str(weight_dtype).replace("torch.", "")
    mode = f"{precision} autocast over {dtype} weights" if precision in ("bf16", "fp16") else f"{dtype} throughout"
    notes = [f"precision {precision} on {device}: {mode}"]
    if prompt_tokens:
        notes.append(f"prompt: {prompt_tokens} virtual tokens lengthen every sequence to {shapes.seq}")
    if prefix_tokens:
        notes.append(f"prefix: {prefix_tokens} virtual keys/values per layer ({shapes.kv_seq} keys per query)")
    if gradient_checkpointing:
        notes.append("gradient checkpointing: blocks keep their inputs, one block is recomputed at a time")
    return notes


def check_length(config, length: int, prompt_tokens: int = 0, flag: str = "seq_len") -> None:
    """Refuse sequences longer than the model's learned positions (prompt tuning's virtual tokens take
    positions too): training would fail at the first long batch, and an estimate would be meaningless."""
    limit = arch.position_limit(config)
    if limit is not None and length + prompt_tokens > limit:
        prompt = f" plus {prompt_tokens} prompt tokens" if prompt_tokens else ""
        raise OptionError(f"{flag} {length}{prompt} exceeds the {limit} positions this {config.model_type} model "
                          f"has learned (max_position_embeddings): pass {flag} <= {limit - prompt_tokens}")


def prepare_on_meta(config, strategy, num_labels: int = 2, task: str | None = None) -> tuple[nn.Module, list[str]]:
    """The model built on meta with the strategy applied, at the strategy's peak (gradual: all unfrozen),
    in training mode; and notes about it."""
    from .modeling import build_on_meta

    model = strategy.apply(build_on_meta(copy.deepcopy(config), num_labels, task))
    notes = strategy.at_peak(model)
    model.train()
    return model, notes


def estimate_memory(model, spec, batch_size: int, seq_len: int, *, precision: str = "auto",
                    optimizer: str = "adamw", gradient_checkpointing: bool = False, num_labels: int = 2,
                    device: str = "auto", trust_remote_code: bool = False, task: str | None = None) -> MemoryEstimate:
    """Estimate peak training memory for ``model`` (a name as ``peftkit`` takes it, or a config) trained
    with ``spec`` (a SPEC string or a Strategy), without loading any weights."""
    from .modeling import load_config
    from .registry import strategy_from_spec

    _check_positive(batch_size=batch_size, seq_len=seq_len, num_labels=num_labels)
    _check_choices(precision, optimizer, device)  # before building anything
    config = load_config(model, trust_remote_code=trust_remote_code) if isinstance(model, str) else model
    strategy = strategy_from_spec(spec) if isinstance(spec, str) else spec
    with torch.random.fork_rng(devices=[]):  # building on meta draws random numbers: keep the caller's seed intact
        meta, notes = prepare_on_meta(config, strategy, num_labels, task)
    tokens = strategy.virtual_tokens()
    result = estimate_model(meta, batch_size, seq_len, precision=precision, optimizer=optimizer,
                            gradient_checkpointing=gradient_checkpointing, device=device,
                            prompt_tokens=tokens.prompt, prefix_tokens=tokens.prefix)
    result.notes[1:1] = notes
    return result
