"""Prefix tuning without ``past_key_values``: peftkit's own route, for models whose forward offers
peft no ``past_key_values`` (ALBERT, DistilBERT and DeBERTa-v2 always; every family from transformers
5.24, which renamed the argument to ``cache``).

Each attention module gets learned key and value vectors prepended to its keys and values. They are
injected through transformers' attention interface: the model's attention implementation is
replaced by a thin wrapper (``peftkit_prefix_<impl>``) that concatenates the prefix and widens the
mask, then calls the original implementation (sdpa, eager, ...). Every query may attend to every
prefix position; decoders keep their causal order among the real tokens. The prefix parameters live in
one ``PrefixEncoder`` (the same parameterisation as peft's, so parameter counts agree) registered on
the model as ``peftkit_prefix``. Positions are not shifted (peft's route numbers the real tokens from
the prefix length on), so a model keeps all of its learned positions.

The first forward checks that every attention module went through the wrapper: a transformers release
that stops routing attention through the interface is refused (``UpstreamError``), never trained
silently without its prefix.

DeBERTa-v2 computes attention in its own module (no attention interface), with disentangled
relative-position scores between every query and key. Its attention forward is replaced by the same
computation plus the prefix: prefix keys get content scores only (they have no position), as in
P-tuning v2's DeBERTa implementation.
"""

from __future__ import annotations

import sys
import types

import torch
import torch.nn.functional as F
from torch import nn

from ... import architectures as arch
from ...errors import UpstreamError
from ...params import AddedModule

try:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
except ImportError as e:  # checked at apply time, so that the rest of peftkit still imports
    _INTERFACE_ERROR: str | None = f"transformers has no attention interface ({e})"
else:
    _INTERFACE_ERROR = None

PREFIX = "peftkit_prefix_"


class PrefixEncoder(AddedModule):
    """[num_virtual_tokens] -> per layer, key and value prefixes of width kv_dim."""

    def __init__(self, num_layers: int, num_virtual_tokens: int, kv_dim: int, projection: bool,
                 projection_hidden_size: int, device=None, dtype=None):
        super().__init__()
        self.num_layers, self.num_virtual_tokens, self.kv_dim = num_layers, num_virtual_tokens, kv_dim
        out = num_layers * 2 * kv_dim
        if projection:
            self.embedding = nn.Embedding(num_virtual_tokens, kv_dim, device=device, dtype=dtype)
            self.transform = nn.Sequential(
                nn.Linear(kv_dim, projection_hidden_size, device=device, dtype=dtype),
                nn.Tanh(),
                nn.Linear(projection_hidden_size, out, device=device, dtype=dtype),
            )
        else:
            self.embedding = nn.Embedding(num_virtual_tokens, out, device=device, dtype=dtype)
            self.transform = None

    def forward(self) -> torch.Tensor:
        x = self.embedding.weight
        if self.transform is not None:
            x = self.transform(x)
        return x.view(self.num_virtual_tokens, self.num_layers, 2, self.kv_dim)


def _base_implementation(module: nn.Module, base_impl: str):
    implementation = ALL_ATTENTION_FUNCTIONS.get(base_impl)
    if implementation is None:  # "eager": each modeling file defines its own eager function
        implementation = sys.modules[type(module).__module__].eager_attention_forward
    return implementation


def _causal_mask(query: torch.Tensor, key: torch.Tensor, boolean: bool) -> torch.Tensor:
    """The causal mask the implementation would have built itself ([1, 1, queries, keys]); the last
    queries are the last keys (a decoding step sees every key before it)."""
    q, k = query.shape[2], key.shape[2]
    allowed = torch.ones(q, k, dtype=torch.bool, device=query.device).tril(diagonal=k - q)[None, None]
    if boolean:
        return allowed
    return torch.zeros(allowed.shape, dtype=query.dtype, device=query.device).masked_fill(
        ~allowed, torch.finfo(query.dtype).min)


def _prefixed_attention(module, query, key, value, attention_mask, **kwargs):
    base_impl = module.config._attn_implementation[len(PREFIX):]
    state = module.__dict__.get("_peftkit_prefix")
    if state is None:  # another model sharing the config object: no prefix there
        return _base_implementation(module, base_impl)(module, query, key, value, attention_mask, **kwargs)
    encoder, layer = state.encoder, state.layer
    state.calls += 1
    if attention_mask is None and state.causal and query.shape[2] > 1:
        attention_mask = _causal_mask(query, key, boolean=base_impl != "eager")
    batch, heads, _, head_dim = key.shape
    prefix = encoder()[:, layer]  # [P, 2, kv_dim]
    n = prefix.shape[0]

    def expand(t: torch.Tensor) -> torch.Tensor:
        return t.view(n, heads, head_dim).transpose(0, 1).unsqueeze(0).expand(batch, -1, -1, -1).to(key.dtype)

    key = torch.cat([expand(prefix[:, 0]), key], dim=2)
    value = torch.cat([expand(prefix[:, 1]), value], dim=2)
    if attention_mask is not None:  # every query may attend to every prefix position
        fill = True if attention_mask.dtype == torch.bool else 0.0
        attention_mask = F.pad(attention_mask, (n, 0), value=fill)
    return _base_implementation(module, base_impl)(module, query, key, value, attention_mask, **kwargs)


def _deberta_prefixed_forward(self, hidden_states, attention_mask, output_attentions=False, query_states=None,
                              relative_pos=None, rel_embeddings=None):
    """DebertaV2 DisentangledSelfAttention.forward with a prefix (transformers 5 layout)."""
    state = self.__dict__["_peftkit_prefix"]
    encoder, layer = state.encoder, state.layer
    state.calls += 1
    heads = self.num_attention_heads
    if query_states is None:
        query_states = hidden_states
    query = self.transpose_for_scores(self.query_proj(query_states), heads)  # [B*H, T, d]
    key = self.transpose_for_scores(self.key_proj(hidden_states), heads)
    value = self.transpose_for_scores(self.value_proj(hidden_states), heads)
    scale_factor = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
    scale = torch.sqrt(torch.tensor(query.size(-1), dtype=torch.float) * scale_factor).to(query.dtype)
    scores = torch.bmm(query, key.transpose(-1, -2) / scale)
    if self.relative_attention:
        scores = scores + self.disentangled_attention_bias(
            query, key, relative_pos, self.pos_dropout(rel_embeddings), scale_factor)

    batch, length = hidden_states.shape[:2]
    prefix = encoder()[:, layer].to(query.dtype)  # [P, 2, hidden]
    n = prefix.shape[0]

    def per_head(t: torch.Tensor) -> torch.Tensor:  # [P, hidden] -> [B*H, P, d], as transpose_for_scores
        t = t.view(n, heads, query.size(-1)).transpose(0, 1)
        return t.unsqueeze(0).expand(batch, -1, -1, -1).reshape(batch * heads, n, query.size(-1))

    prefix_key, prefix_value = per_head(prefix[:, 0]), per_head(prefix[:, 1])
    scores = torch.cat([torch.bmm(query, prefix_key.transpose(-1, -2) / scale), scores], dim=-1)
    scores = scores.view(-1, heads, length, n + length)
    mask = F.pad(attention_mask.bool(), (n, 0), value=True)
    scores = scores.masked_fill(~mask, torch.finfo(query.dtype).min)
    probs = self.dropout(F.softmax(scores, dim=-1))
    context = torch.bmm(probs.view(-1, length, n + length), torch.cat([prefix_value, value], dim=1))
    context = context.view(-1, heads, length, context.size(-1)).permute(0, 2, 1, 3).contiguous()
    context = context.view(batch, length, -1)
    return (context, probs if output_attentions else None)


def _register(base_impl: str) -> str:
    name = PREFIX + base_impl
    if name not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(name, _prefixed_attention)
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[base_impl])
    return name


class _LayerState:
    """What one attention module needs of its prefix; kept out of the module's parameters."""

    def __init__(self, encoder: PrefixEncoder, layer: int, causal: bool):
        self.encoder, self.layer, self.causal, self.calls = encoder, layer, causal, 0


# implementations whose masks peftkit knows how to widen (and, for decoders, build when they skip it)
CAUSAL_IMPLEMENTATIONS = ("eager", "sdpa")


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The attention modules of ``model``: the parents of its key projections, in order."""
    return [model.get_submodule(name.rsplit(".", 1)[0]) for name, _ in arch.find_modules(model, "key")]


def attach(model: nn.Module, *, num_virtual_tokens: int, projection: bool, projection_hidden_size: int | None) -> None:
    """Add a trainable prefix to every attention module of ``model`` (a transformers model)."""
    if _INTERFACE_ERROR:
        raise UpstreamError("prefix", arch.model_label(model), _INTERFACE_ERROR, ("transformers",))
    attentions = attention_modules(model)
    weight = arch.find_modules(model, "key")[0][1].weight
    base_impl = model.config._attn_implementation or "eager"
    if base_impl.startswith(PREFIX):
        raise ValueError("this model already has a peftkit prefix")
    causal = arch.arch_for(model).causal
    if causal and base_impl not in CAUSAL_IMPLEMENTATIONS:
        raise arch.unsupported("prefix", model, f"peftkit's prefixes on a decoder need attention "
                               f"{' or '.join(CAUSAL_IMPLEMENTATIONS)}, not '{base_impl}' (load the model "
                               "with attn_implementation='sdpa')")
    encoder = PrefixEncoder(len(attentions), num_virtual_tokens, arch.kv_width(model.config), projection,
                            projection_hidden_size or model.config.hidden_size,
                            device=weight.device, dtype=weight.dtype)
    model.peftkit_prefix = encoder
    disentangled = arch.arch_for(model).attention == "disentangled"
    for layer, module in enumerate(attentions):
        module.__dict__["_peftkit_prefix"] = _LayerState(encoder, layer, causal)
        if disentangled:
            module.forward = types.MethodType(_deberta_prefixed_forward, module)
    if not disentangled:
        model.config._attn_implementation = _register(base_impl)
    model.register_forward_hook(_check_first_forward(attentions), with_kwargs=True)


def _check_first_forward(attentions: list[nn.Module]):
    """A forward hook that, once, checks that every attention module used its prefix."""
    def hook(model, args, kwargs, output):
        if getattr(hook, "done", False):
            return output
        missed = [i for i, m in enumerate(attentions) if m.__dict__["_peftkit_prefix"].calls == 0]
        if missed:
            raise UpstreamError(
                "prefix", arch.model_label(model),
                f"{len(missed)} of {len(attentions)} attention layers of {type(attentions[0]).__name__} do not "
                "go through transformers' attention interface, so their prefix would be ignored", ("transformers",))
        hook.done = True
        return output
    return hook
