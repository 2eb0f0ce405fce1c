"""What autograd keeps for backward in one forward of a batch: the activations of ``peftkit estimate``.

The accounting is done tensor by tensor (``Saved``), per family (``layout_for``, built from what
``architectures.py`` says of the family's block shape, roles and dropouts); see ``estimate.py`` for the
model behind it (Korthikanti et al., 2022) and what is and is not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import nn

from . import architectures as arch

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
    attention: str = "interface"  # "interface" (transformers' sdpa by default) or "disentangled" (DeBERTa's eager)
    attention_dropout: tuple[str, ...] = ("attention_probs_dropout_prob",)
    activation: tuple[str, ...] = ("hidden_act",)
    head_input: str = "vector"  # "tokens": the head reads every position (decoders); "slice": a view of [CLS]
    head_vectors: int = 4  # otherwise: per-example vectors the head saves (dropout masks, dense inputs, tanh)

def _embeddings(m: arch.Memory) -> tuple[Saved, ...]:
    if m.embeddings == "none":
        return ()
    if m.embeddings == "dropout":
        return (Saved("embedding dropout mask", dtype="mask", dropout=m.embedding_dropout or m.dropout),)
    saved = (*_norm("embedding layer norm"),
             Saved("embedding dropout mask", "embed", "mask", dropout=m.embedding_dropout or m.dropout))
    if m.embedding_projection:
        saved += (Saved("embedding projection input", "embed", if_trains=m.embedding_projection),)
    return saved


def _block(spec: arch.ArchSpec) -> tuple[Saved, ...]:
    m = spec.memory
    qkv, ffn_in, ffn_out = (f"(?:{spec.roles_alternation(*r)})" for r in (("query", "key", "value"), ("ffn_in",),
                                                                             ("ffn_out",)))
    if m.block == "post-ln":
        return _post_ln_block(qkv, ffn_in, ffn_out, m.dropout, m.attention_sublayer_dropout)
    if m.block == "pre-ln":
        return (*_pre_norm("first layer norm", False, ""), Saved("attention input", if_trains=qkv),
                Saved("attention dropout mask", dtype="mask", dropout=m.dropout),
                *_pre_norm("second layer norm", False, ""), Saved("feed-forward input", if_trains=ffn_in),
                Saved("activation", "ffn", count="activation"),
                Saved("feed-forward hidden", "ffn", if_trains=ffn_out),
                Saved("feed-forward dropout mask", dtype="mask", dropout=m.dropout))
    return (*_pre_norm("input norm", True, m.norms[0]), Saved("attention input", if_trains=qkv),
            *_pre_norm("post-attention norm", True, m.norms[1]), Saved("feed-forward input", if_trains=ffn_in),
            Saved("gate and up projections", "ffn", count=2),  # SiLU's input and the product's other factor
            Saved("activation output", "ffn"),
            Saved("feed-forward hidden", "ffn", if_trains=ffn_out))


def _top(m: arch.Memory) -> tuple[Saved, ...]:
    if m.block == "post-ln":
        return (Saved("pooler input", dtype="res", rows="slice", if_trains=m.pooler),) if m.pooler else ()
    name = "final norm" if m.block == "pre-rms" else "final layer norm"
    return _pre_norm(name, m.block == "pre-rms", m.final_norm or "")


def layout_for(spec: arch.ArchSpec, per_token: bool = False) -> Layout:
    """What the family of ``spec`` saves, from what ``architectures.py`` declares of it; ``per_token``: its
    token-classification model, whose head reads every position."""
    m = spec.memory
    return Layout(block=_block(spec), attn_out=f"(?:{spec.attn_out})", embeddings=_embeddings(m), top=_top(m),
                  attention=spec.attention, attention_dropout=m.attention_dropout, activation=m.activation,
                  head_input="tokens" if per_token else m.head_input, head_vectors=m.head_vectors)


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
        if arch.is_top_name(spec, name):
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
    if layout.attention == "disentangled":
        total += disentangled_relative_bytes(config, s, d)
    return total


def disentangled_relative_bytes(config, s: Shapes, d: Dtypes) -> int:
    """Disentangled attention (DeBERTa), on top of eager attention: per position type (c2p, p2c) the
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
        if arch.is_projection(m) and isinstance(weight, torch.Tensor) \
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
    eager = (layout.attention == "disentangled" or getattr(config, "_attn_implementation", "sdpa") == "eager"
             or (device == "cpu" and attn_dropout))  # CPU's fused kernel has no dropout
    return (_terms_bytes(layout.block, trainable, config, layout, s, d, block.training)
            + attention_bytes(layout, config, s, d, eager=eager, dropout=attn_dropout,
                              out_proj_trains=_trained_weights(trainable, layout.attn_out) > 0)
            + added_module_bytes(block, added, s, d))


def activation_breakdown(model: nn.Module, s: Shapes, d: Dtypes, *, gradient_checkpointing: bool = False,
                         device: str = "cuda", prefix_tokens: int = 0) -> dict[str, int]:
    """Saved-for-backward bytes by region: embeddings, layers, top of the body, head, weight copies."""
    from .params import _added_parameter_ids
    from .tasks import task_of

    base = arch.unwrap(model)
    config, layout = base.config, layout_for(arch.arch_for(model), task_of(model).per_token)
    blocks = arch.block_sequence(model)
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

