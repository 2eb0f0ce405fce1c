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
architecture family (the ``LAYOUTS`` tables below), because the details move the total by tens of
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
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import torch
from torch import nn

from . import architectures as arch
from .errors import OptionError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
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


# -- what a block saves for backward ---------------------------------------------------------------

@dataclass(frozen=True)
class Saved:
    """Tensors one block (or the embeddings, or the top of the body) keeps for backward.

    Their size is ``count x rows x width`` elements, at ``dtype``:

    - ``width``: "hidden", "ffn" (intermediate size), "q" (heads x head_dim), "kv" (key/value heads x
      head_dim), "embed" (embedding size) or "token" (one number per token);
    - ``rows``: "tokens" (batch x sequence), or "slice" (one vector per example, taken as a view of the
      whole last hidden state: without autocast the view keeps all of it alive);
    - ``dtype``: "act" (compute dtype: 16-bit under autocast), "res" (the residual stream: the weights'
      dtype), "fp32", or "mask" (a dropout mask);
    - ``count``: a number, or "activation" for what the feed-forward non-linearity saves;
    - ``if_trains``: saved only when the weight of a module matching this regex (relative to the block;
      to the model for the embeddings and the top) trains, i.e. the input of a linear layer. Without
      autocast, linear layers reading the same input share it; under autocast each keeps its own cast;
    - ``dropout``: config keys of the dropout probability: a mask exists only when it is > 0.
    """

    what: str
    width: str = "hidden"
    dtype: str = "act"
    count: int | str = 1
    if_trains: str | None = None
    dropout: tuple[str, ...] = ()
    rows: str = "tokens"


def _norm(what: str, mask: tuple[str, ...] = ()) -> tuple[Saved, ...]:
    """Dropout, residual add and LayerNorm at the end of a post-LN sub-layer."""
    masks = (Saved("dropout mask", dtype="mask", dropout=mask),) if mask else ()
    return (*masks, Saved(what + " input", dtype="res"), Saved(what + " statistics", "token", "fp32", count=2))


def _post_ln_block(qkv: str, ffn_in: str, ffn_out: str, dropout: tuple[str, ...], attn_dropout: bool = True):
    """BERT-style block: attention, dropout + add + LayerNorm, feed-forward, dropout + add + LayerNorm."""
    return (
        Saved("attention input", if_trains=qkv),
        *_norm("attention layer norm", dropout if attn_dropout else ()),
        Saved("feed-forward input", if_trains=ffn_in),
        Saved("activation", "ffn", count="activation"),
        Saved("feed-forward hidden", "ffn", if_trains=ffn_out),
        *_norm("output layer norm", dropout),
    )


def _pre_norm(what: str, rms: bool, weight: str) -> tuple[Saved, ...]:
    """A pre-norm: LayerNorm saves its input; transformers' RMSNorm also the normalised input when its weight trains."""
    if not rms:
        return Saved(what + " input", dtype="res"), Saved(what + " statistics", "token", "fp32", count=2)
    return (Saved(what + " input", dtype="res"), Saved(what + " statistics", "token", "fp32"),
            Saved(what + " normalised", dtype="res", if_trains=weight))


@dataclass(frozen=True)
class Layout:
    """What one architecture family saves: per block, below the blocks, above them; and how it attends."""

    block: tuple[Saved, ...]
    attn_out: str  # regex of the attention output projection (eager attention saves its input separately)
    embeddings: tuple[Saved, ...] = ()
    top: tuple[Saved, ...] = ()
    attention: str = "sdpa"  # "sdpa" (transformers' default) or "deberta" (its own eager, disentangled attention)
    attention_dropout: tuple[str, ...] = ("attention_probs_dropout_prob",)
    activation: tuple[str, ...] = ("hidden_act",)
    head_input: str = "vector"  # "tokens": the head reads every position (decoders); "slice": a view of [CLS]
    head_vectors: int = 4  # otherwise: per-example vectors the head saves (dropout masks, dense inputs, tanh)


_BERT_DROPOUT = ("hidden_dropout_prob",)
_BERT_EMBEDDINGS = (*_norm("embedding layer norm"),
                    Saved("embedding dropout mask", "embed", "mask", dropout=_BERT_DROPOUT))
_BERT_BLOCK = _post_ln_block(r"attention\.self\.(query|key|value)", r"intermediate\.dense", r"output\.dense",
                             _BERT_DROPOUT)
_ALBERT_LAYER = r"albert_layers\.\d+\."
_LLAMA = Layout(
    block=(*_pre_norm("input norm", True, "input_layernorm"),
           Saved("attention input", if_trains=r"self_attn\.(q_proj|k_proj|v_proj)"),
           *_pre_norm("post-attention norm", True, "post_attention_layernorm"),
           Saved("feed-forward input", if_trains=r"mlp\.(gate_proj|up_proj)"),
           Saved("gate and up projections", "ffn", count=2),  # SiLU's input and the product's other factor
           Saved("activation output", "ffn"),
           Saved("feed-forward hidden", "ffn", if_trains=r"mlp\.down_proj")),
    attn_out=r"self_attn\.o_proj",
    top=_pre_norm("final norm", True, r"model\.norm"),
    attention_dropout=("attention_dropout",),
    head_input="tokens",
)

LAYOUTS: dict[str, Layout] = {
    "BERT": Layout(_BERT_BLOCK, r"attention\.output\.dense", _BERT_EMBEDDINGS,
                   top=(Saved("pooler input", dtype="res", rows="slice", if_trains=r"bert\.pooler\.dense"),),
                   head_vectors=1),
    "RoBERTa": Layout(_BERT_BLOCK, r"attention\.output\.dense", _BERT_EMBEDDINGS),
    "ELECTRA": Layout(_BERT_BLOCK, r"attention\.output\.dense",
                      (*_BERT_EMBEDDINGS,
                       Saved("embedding projection input", "embed", if_trains=r"electra\.embeddings_project"))),
    "DistilBERT": Layout(
        _post_ln_block(r"attention\.(q_lin|k_lin|v_lin)", r"ffn\.lin1", r"ffn\.lin2", ("dropout",), attn_dropout=False),
        r"attention\.out_lin",
        (*_norm("embedding layer norm"), Saved("embedding dropout mask", "embed", "mask", dropout=("dropout",))),
        attention_dropout=("attention_dropout",), activation=("activation",), head_input="slice"),
    "ALBERT": Layout(
        _post_ln_block(_ALBERT_LAYER + r"attention\.(query|key|value)", _ALBERT_LAYER + "ffn",
                       _ALBERT_LAYER + "ffn_output", _BERT_DROPOUT),
        _ALBERT_LAYER + r"attention\.dense",
        (*_BERT_EMBEDDINGS,
         Saved("embedding projection input", "embed", if_trains=r"albert\.encoder\.embedding_hidden_mapping_in")),
        top=(Saved("pooler input", dtype="res", rows="slice", if_trains=r"albert\.pooler"),), head_vectors=1),
    "DeBERTa-v2": Layout(
        _post_ln_block(r"attention\.self\.(query_proj|key_proj|value_proj)", r"intermediate\.dense",
                       r"output\.dense", _BERT_DROPOUT),
        r"attention\.output\.dense", _BERT_EMBEDDINGS, attention="deberta", head_input="slice"),
    "GPT-2": Layout(
        block=(*_pre_norm("first layer norm", False, ""), Saved("attention input", if_trains=r"attn\.c_attn"),
               Saved("attention dropout mask", dtype="mask", dropout=("resid_pdrop",)),
               *_pre_norm("second layer norm", False, ""), Saved("feed-forward input", if_trains=r"mlp\.c_fc"),
               Saved("activation", "ffn", count="activation"),
               Saved("feed-forward hidden", "ffn", if_trains=r"mlp\.c_proj"),
               Saved("feed-forward dropout mask", dtype="mask", dropout=("resid_pdrop",))),
        attn_out=r"attn\.c_proj",
        embeddings=(Saved("embedding dropout mask", dtype="mask", dropout=("embd_pdrop",)),),
        top=_pre_norm("final layer norm", False, ""),
        attention_dropout=("attn_pdrop",), activation=("activation_function",), head_input="tokens"),
    "Llama": _LLAMA,
    "Qwen2": _LLAMA,
}

# Tensors (the size of the non-linearity's input) each activation function saves, as transformers
# implements it: "gelu_new" is a Python formula (pow, tanh and two products each keep a tensor).
ACTIVATION_SAVES = {"gelu": 1, "gelu_pytorch_tanh": 1, "relu": 1, "silu": 1, "swish": 1, "tanh": 1,
                    "quick_gelu": 2, "gelu_new": 4, "gelu_fast": 6}


# -- sizes -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shapes:
    """Everything an activation's size depends on, for one batch."""

    batch: int
    seq: int  # tokens per sequence, virtual prompt tokens included
    kv_seq: int  # keys per query: seq, plus prefix tokens
    hidden: int
    ffn: int
    q: int
    kv: int
    embed: int
    heads: int
    labels: int

    def width(self, name: str) -> int:
        return {"hidden": self.hidden, "ffn": self.ffn, "q": self.q, "kv": self.kv, "embed": self.embed,
                "token": 1}[name]


def _first(config, *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = getattr(config, key, None)
        if value is not None:
            return value
    return default


def shapes_for(config, batch_size: int, seq_len: int, prompt_tokens: int = 0, prefix_tokens: int = 0) -> Shapes:
    hidden = _first(config, "hidden_size", "n_embd", "dim")
    heads = arch.num_attention_heads(config)
    head_dim = _first(config, "head_dim", default=hidden // heads)
    seq = seq_len + prompt_tokens
    return Shapes(
        batch=batch_size, seq=seq, kv_seq=seq + prefix_tokens, hidden=hidden,
        ffn=_first(config, "intermediate_size", "n_inner", "hidden_dim", default=4 * hidden),
        q=heads * head_dim, kv=_first(config, "num_key_value_heads", default=heads) * head_dim,
        embed=_first(config, "embedding_size", default=hidden), heads=heads, labels=config.num_labels)


@dataclass(frozen=True)
class Dtypes:
    """Bytes per element of each kind of saved tensor."""

    act: int  # matmul inputs and outputs: 2 under autocast, else the weights' size
    res: int  # residual stream and norms: the weights' size
    mask: int  # dropout masks: bool on CUDA, the activation dtype on CPU
    autocast: bool  # 16-bit autocast over fp32 weights: weights used in the graph are kept as 16-bit copies

    def of(self, kind: str) -> int:
        return {"act": self.act, "res": self.res, "fp32": 4, "mask": self.mask}[kind]


# -- which parts of the model save anything --------------------------------------------------------

def _trainable_names(module: nn.Module) -> set[str]:
    """Canonical names (peft wrappers removed) of the module's trainable parameters."""
    return {arch.canonical_name(n) for n, p in module.named_parameters() if p.requires_grad}


def _trained_weights(trainable: set[str], pattern: str) -> int:
    """How many modules matching ``pattern`` have a trainable weight."""
    regex = re.compile(pattern)
    return sum(1 for n in trainable if n.endswith(".weight") and regex.fullmatch(n[: -len(".weight")]))


def block_sequence(model: nn.Module) -> list[nn.Module]:
    """The blocks in the order the forward runs them (ALBERT runs its shared groups num_hidden_layers times)."""
    blocks = arch.blocks(model)
    config = arch.unwrap(model).config
    if arch.arch_for(model).name == "ALBERT":
        layers = config.num_hidden_layers
        return [blocks[int(i / (layers / len(blocks)))] for i in range(layers)]
    return blocks


def lowest_trained_level(model: nn.Module, blocks: list[nn.Module], prefix_tokens: int = 0) -> int:
    """Lowest point with a trainable parameter, from where autograd saves activations: -1 the embeddings
    (prompts too), i block i, len(blocks) the top of the body, len(blocks) + 1 the head, len(blocks) + 2
    nothing. Prefixes live outside the blocks but enter every block's attention: they count as block 0."""
    spec = arch.arch_for(model)
    trainable = _trainable_names(model)
    if not trainable:
        return len(blocks) + 2
    levels = [len(blocks) + 1]
    for i, block in enumerate(blocks):
        if any(p.requires_grad for p in block.parameters()):
            levels.append(i)
            break
    for name in trainable:
        if arch.is_head_name(spec, name) or name.startswith(spec.layers + "."):
            continue
        if any(name == t or name.startswith(t + ".") for t in spec.top):
            levels.append(len(blocks))
        else:  # embeddings, prompt and prefix encoders
            levels.append(0 if prefix_tokens else -1)
    return min(levels)


# -- activations ------------------------------------------------------------------------------------

def _dropout_on(config, keys: Iterable[str], training: bool) -> bool:
    return training and any((getattr(config, k, 0) or 0) > 0 for k in keys)


def _activation_count(config, layout: Layout) -> int:
    name = str(_first(config, *layout.activation, default="gelu"))
    return ACTIVATION_SAVES.get(name, 1)


def _terms_bytes(terms: Iterable[Saved], trainable: set[str], config, layout: Layout, s: Shapes, d: Dtypes,
                 training: bool) -> int:
    total = 0
    for t in terms:
        if t.dropout and not _dropout_on(config, t.dropout, training):
            continue
        count = _activation_count(config, layout) if t.count == "activation" else t.count
        if t.if_trains is not None:
            linears = _trained_weights(trainable, t.if_trains)
            if not linears:
                continue
            if d.autocast:  # each linear layer saves its own 16-bit copy of a shared input
                count *= linears
        rows, kind = s.batch * s.seq, t.dtype
        if t.rows == "slice":
            rows, kind = (s.batch, "act") if d.autocast else (rows, kind)
        total += count * rows * s.width(t.width) * d.of(kind)
    return total


def attention_bytes(layout: Layout, config, s: Shapes, d: Dtypes, *, eager: bool, dropout: bool,
                    out_proj_trains: bool) -> int:
    """What attention itself saves. SDPA kernels: q, k, v, output and the log-sum-exp. Eager attention:
    q, k, v, the softmax probabilities (plus dropout mask and dropped probabilities) and, for the output
    projection when its weight trains, the re-laid-out output."""
    q_tokens, kv_tokens = s.batch * s.seq, s.batch * s.kv_seq
    qkv = (q_tokens * s.q + 2 * kv_tokens * s.kv) * d.act
    if not eager:
        return qkv + q_tokens * s.q * d.act + s.batch * s.heads * s.seq * 4
    scores = s.batch * s.heads * s.seq * s.kv_seq
    total = qkv + scores * d.act + (scores * (d.act + d.mask) if dropout else 0)
    if out_proj_trains:
        total += q_tokens * s.q * d.act
    if layout.attention == "deberta":
        total += deberta_relative_bytes(config, s, d)
    return total


def deberta_relative_bytes(config, s: Shapes, d: Dtypes) -> int:
    """DeBERTa's disentangled attention, on top of eager attention: per position type (c2p, p2c) the
    relative position projections (expanded over the batch), the scores against all 2 x span relative
    positions and the gather indices; p2c also a scaled copy of the keys; and a boolean mask."""
    types = list(getattr(config, "pos_att_type", None) or ()) if getattr(config, "relative_attention", False) else []
    span = getattr(config, "position_buckets", -1)
    if span is None or span <= 0:
        span = getattr(config, "max_relative_positions", -1)
        if span is None or span < 1:
            span = config.max_position_embeddings
    relative = 2 * span
    per_type = (s.batch * s.q * relative + s.batch * s.heads * s.seq * relative) * d.act + s.seq * s.kv_seq * 8
    p2c_keys = s.batch * s.kv_seq * s.q * d.act if "p2c" in types else 0
    return len(types) * per_type + p2c_keys + s.batch * s.seq * s.kv_seq


def added_module_bytes(block: nn.Module, added: set[int], s: Shapes, d: Dtypes) -> int:
    """What a strategy's own modules inside a block save: a trainable linear layer (LoRA A/B, adapter
    down/up) its input, LoRA's dropout its mask; a trainable scaling vector (IA3) the tensor it scales."""
    total, tokens = 0, s.batch * s.seq
    for name, module in block.named_modules():
        if isinstance(module, nn.Linear) and id(module.weight) in added and module.weight.requires_grad:
            total += tokens * module.in_features * d.act
            parent, _, adapter = name.rpartition(".")
            owner, _, kind = parent.rpartition(".")
            dropout = getattr(block.get_submodule(owner), "lora_dropout", {}) if kind == "lora_A" else {}
            if isinstance(dropout, nn.ModuleDict) and adapter in dropout and isinstance(dropout[adapter], nn.Dropout) \
                    and dropout[adapter].p > 0 and block.training:
                total += tokens * module.in_features * d.mask
        elif not isinstance(module, (nn.Linear, nn.Embedding)):
            for p in module.parameters(recurse=False):
                if id(p) in added and p.requires_grad and p.dim() <= 2 and min(p.shape) == 1:
                    total += tokens * p.numel() * d.act
    return total


def _linear_weight_copies(block: nn.Module, seen: set[int]) -> int:
    """16-bit copies of the fp32 weights of linear layers (and GPT-2's Conv1D), which autocast makes and
    autograd keeps for backward; ``seen`` counts a weight shared between blocks (ALBERT) once."""
    total = 0
    for m in block.modules():
        weight = getattr(m, "weight", None)
        if (isinstance(m, nn.Linear) or hasattr(m, "nf")) and isinstance(weight, torch.Tensor) \
                and weight.dtype == torch.float32 and id(weight) not in seen:
            seen.add(id(weight))
            total += weight.numel() * 2
    return total


def head_bytes(model: nn.Module, layout: Layout, s: Shapes, d: Dtypes) -> int:
    """The head's input (every position for decoders, one vector per example otherwise), logits and loss."""
    if not any(p.requires_grad for _, p in arch.iter_head_parameters(model)):
        return 0
    logits = s.batch * (s.seq if layout.head_input == "tokens" else 1) * s.labels * 4 * 2
    if layout.head_input == "tokens":
        return s.batch * s.seq * s.hidden * d.act + logits
    if layout.head_input == "slice" and not d.autocast:
        return s.batch * s.seq * s.hidden * d.res + logits
    return layout.head_vectors * s.batch * s.hidden * d.act + logits


def block_bytes(block: nn.Module, layout: Layout, config, s: Shapes, d: Dtypes, added: set[int], device: str) -> int:
    """What one block in the backward graph saves: its layout's tensors, attention's, and added modules'."""
    trainable = _trainable_names(block)
    attn_dropout = _dropout_on(config, layout.attention_dropout, block.training)
    eager = (layout.attention == "deberta" or getattr(config, "_attn_implementation", "sdpa") == "eager"
             or (device == "cpu" and attn_dropout))  # CPU's fused kernel has no dropout
    return (_terms_bytes(layout.block, trainable, config, layout, s, d, block.training)
            + attention_bytes(layout, config, s, d, eager=eager, dropout=attn_dropout,
                              out_proj_trains=_trained_weights(trainable, layout.attn_out) > 0)
            + added_module_bytes(block, added, s, d))


def activation_breakdown(model: nn.Module, s: Shapes, d: Dtypes, *, gradient_checkpointing: bool = False,
                         device: str = "cuda", prefix_tokens: int = 0) -> dict[str, int]:
    """Saved-for-backward bytes by region: embeddings, layers, top of the body, head, weight copies."""
    from .params import _added_parameter_ids

    base = arch.unwrap(model)
    config, layout = base.config, LAYOUTS[arch.arch_for(model).name]
    blocks = block_sequence(model)
    start = lowest_trained_level(model, blocks, prefix_tokens)
    everything = _trainable_names(base)
    added = _added_parameter_ids(model)
    out = {"embeddings": 0, "layers": 0, "top": 0, "head": head_bytes(model, layout, s, d), "weight copies": 0}
    training = arch.body(model).training  # False for a body kept in eval mode (head)
    if start == -1:
        out["embeddings"] = _terms_bytes(layout.embeddings, everything, config, layout, s, d, training)
    seen: set[int] = set()
    per_block, copies = [], []
    for block in blocks[max(start, 0):]:  # the lowest one is counted whole: a slight overestimate
        per_block.append(block_bytes(block, layout, config, s, d, added, device))
        copies.append(_linear_weight_copies(block, seen) if d.autocast else 0)
    if gradient_checkpointing and per_block:  # each block keeps its input; one is recomputed at a time
        one_block = max(a + c for a, c in zip(per_block, copies))
        out["layers"] = len(per_block) * s.batch * s.seq * s.hidden * d.res + one_block
    else:
        out["layers"], out["weight copies"] = sum(per_block), sum(copies)
    if start <= len(blocks):
        out["top"] = _terms_bytes(layout.top, everything, config, layout, s, d, training)
    return out


# -- putting it together ----------------------------------------------------------------------------

def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_precision(precision: str, device: str) -> str:
    """'auto' as ``peftkit train`` resolves it: bf16 on a GPU that supports it, fp16 on another, fp32 on CPU."""
    if precision != "auto":
        return precision
    if device != "cuda":
        return "fp32"
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16"  # estimating here for a GPU elsewhere: assume a current one


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


def position_limit(config) -> int | None:
    """Longest sequence a model with learned absolute positions takes (None: no hard limit, e.g. RoPE)."""
    name = arch.arch_for_config(config).name
    if name in ("Llama", "Qwen2") or (name == "DeBERTa-v2" and not getattr(config, "position_biased_input", True)):
        return None
    limit = _first(config, "max_position_embeddings", "n_positions")
    if limit and name == "RoBERTa":  # positions start after the padding index
        limit -= (config.pad_token_id or 0) + 1
    return limit


def check_length(config, length: int, prompt_tokens: int = 0, flag: str = "seq_len") -> None:
    """Refuse sequences longer than the model's learned positions (prompt tuning's virtual tokens take
    positions too): training would fail at the first long batch, and an estimate would be meaningless."""
    limit = position_limit(config)
    if limit is not None and length + prompt_tokens > limit:
        prompt = f" plus {prompt_tokens} prompt tokens" if prompt_tokens else ""
        raise OptionError(f"{flag} {length}{prompt} exceeds the {limit} positions this {config.model_type} model "
                          f"has learned (max_position_embeddings): pass {flag} <= {limit - prompt_tokens}")


def virtual_tokens(strategy) -> tuple[int, int]:
    """(prompt tokens added to every sequence, prefix keys/values added to every attention)."""
    tokens = getattr(getattr(strategy, "options", None), "num_virtual_tokens", 0) or 0
    return (tokens, 0) if strategy.name == "prompt" else (0, tokens) if strategy.name == "prefix" else (0, 0)


def prepare_on_meta(config, strategy, num_labels: int = 2) -> tuple[nn.Module, list[str]]:
    """The model built on meta with the strategy applied, at the strategy's peak (gradual: all unfrozen),
    in training mode; and notes about it."""
    from .modeling import build_on_meta

    model = strategy.apply(build_on_meta(copy.deepcopy(config), num_labels))
    notes = []
    if hasattr(strategy, "set_stage") and hasattr(strategy, "num_stages"):
        strategy.set_stage(model, strategy.num_stages(model) - 1)
        notes.append(f"{strategy.name}: estimated at its peak, once every layer is unfrozen")
    if hasattr(strategy, "from_pretrained_kwargs"):
        notes.append(f"{strategy.name} loads the weights its own way: weights assume the config's dtype")
    model.train()
    return model, notes


def estimate_memory(model, spec, batch_size: int, seq_len: int, *, precision: str = "auto",
                    optimizer: str = "adamw", gradient_checkpointing: bool = False, num_labels: int = 2,
                    device: str = "auto", trust_remote_code: bool = False) -> MemoryEstimate:
    """Estimate peak training memory for ``model`` (a name as ``peftkit`` takes it, or a config) trained
    with ``spec`` (a SPEC string or a Strategy), without loading any weights."""
    from .modeling import load_config
    from .registry import strategy_from_spec

    _check_positive(batch_size=batch_size, seq_len=seq_len, num_labels=num_labels)
    _check_choices(precision, optimizer, device)  # before building anything
    config = load_config(model, trust_remote_code=trust_remote_code) if isinstance(model, str) else model
    strategy = strategy_from_spec(spec) if isinstance(spec, str) else spec
    with torch.random.fork_rng(devices=[]):  # building on meta draws random numbers: keep the caller's seed intact
        meta, notes = prepare_on_meta(config, strategy, num_labels)
    prompt, prefix = virtual_tokens(strategy)
    result = estimate_model(meta, batch_size, seq_len, precision=precision, optimizer=optimizer,
                            gradient_checkpointing=gradient_checkpointing, device=device,
                            prompt_tokens=prompt, prefix_tokens=prefix)
    result.notes[1:1] = notes
    return result
