"""Architecture knowledge, in one place.

For every supported model family this module says where the transformer blocks, the attention
projections, the feed-forward layers and the task head live; how its projections are stored (GPT-2's
Conv1D), whether its blocks are shared (ALBERT), how many positions it learned, how its attention
can take a prefix, and what its layers keep for backward (for ``peftkit estimate``). Strategies, the
estimate and the tasks ask this module; no other module names a model family.

Module roles inside a block are regular expressions relative to one block (``layers.<i>.``):

- ``query``/``key``/``value``: attention input projections (GPT-2 fuses all three in ``c_attn``);
- ``attn_out``: the attention output projection (Houlsby adapters go after it);
- ``ffn_in``: the feed-forward input projection(s) (Llama: gate and up);
- ``ffn_out``: the feed-forward down projection (adapters go after it; IA3 scales its input).

Adding a family means one ``ArchSpec`` below (plus its tiny config in ``peftkit/tiny.py`` for the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
from torch import nn

from .errors import PeftkitError, UnsupportedError


@dataclass(frozen=True)
class Memory:
    """What a family's layers keep for backward, as far as ``peftkit/estimate.py`` must be told.

    ``block`` is the block's shape: ``post-ln`` (BERT: attention, dropout + add + LayerNorm, feed-forward,
    dropout + add + LayerNorm), ``pre-ln`` (GPT-2: LayerNorm before each sub-layer) or ``pre-rms``
    (Llama: RMSNorm before each sub-layer, a gated feed-forward). Regexes are relative to a block unless
    said otherwise; config keys name where the config holds a dropout probability or the activation.
    """

    block: Literal["post-ln", "pre-ln", "pre-rms"]
    dropout: tuple[str, ...] = ("hidden_dropout_prob",)  # residual dropout
    attention_dropout: tuple[str, ...] = ("attention_probs_dropout_prob",)
    activation: tuple[str, ...] = ("hidden_act",)
    attention_sublayer_dropout: bool = True  # post-ln: dropout before the attention's add + LayerNorm
    norms: tuple[str, str] = ("", "")  # pre-rms: the block's two norm modules (their weights may train)
    embeddings: Literal["post-ln", "dropout", "none"] = "post-ln"  # what the embeddings save
    embedding_dropout: tuple[str, ...] | None = None  # default: ``dropout``
    embedding_projection: str | None = None  # model-relative regex of a projection to the hidden size
    pooler: str | None = None  # model-relative regex of the body's pooler (BERT, ALBERT)
    final_norm: str | None = None  # pre-norm families: model-relative regex of the final norm
    head_input: Literal["vector", "slice", "tokens"] = "vector"  # tokens: decoders; slice: a view of [CLS]
    head_vectors: int = 4  # "vector": per-example vectors the head saves (dropout masks, dense inputs, tanh)


PROJECTION_ROLES = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")  # a block's linear layers


@dataclass(frozen=True)
class ArchSpec:
    name: str  # human-readable family name
    model_types: tuple[str, ...]  # config.model_type values
    body: str  # attribute of the *ForSequenceClassification model holding the pretrained body
    layers: str  # dotted path to the ModuleList of transformer blocks
    head: tuple[str, ...]  # top-level modules that form the (new, randomly initialised) sentence head
    top: tuple[str, ...]  # body modules above the last block (pooler, final norm)
    query: str
    key: str
    value: str
    attn_out: str
    ffn_in: str
    ffn_out: str
    memory: Memory
    causal: bool = False  # decoder-only: classifies from the last non-padding token
    conv1d: bool = False  # projections are transformers' Conv1D, weights stored (in, out) (GPT-2)
    shared_blocks: bool = False  # the blocks are shared groups, run num_hidden_layers times (ALBERT)
    # how positions are encoded: "learned" (a table of max_position_embeddings), "rotary" (no hard
    # limit), "deberta" (relative; a learned table too only with position_biased_input)
    positions: Literal["learned", "rotary", "deberta"] = "learned"
    positions_after_padding: bool = False  # position ids start after the padding index (RoBERTa)
    # how attention is computed: through transformers' attention interface, or in the family's own
    # module with disentangled relative-position scores (DeBERTa); prefixes are injected accordingly
    attention: Literal["interface", "disentangled"] = "interface"
    # the head of the ...ForTokenClassification model: a linear layer on every position (no pooler, and
    # DistilBERT's pre_classifier and DeBERTa's ContextPooler are not there)
    token_head: tuple[str, ...] = ("classifier",)

    @property
    def heads(self) -> tuple[str, ...]:
        """The head modules of every task's model. A name that one task's model has, another's has not
        (GPT-2: ``score`` classifies sentences, ``classifier`` tokens), so they tell a head parameter apart
        in any model of the family."""
        return tuple(dict.fromkeys(self.head + self.token_head))

    @property
    def readout(self) -> int:
        """Position whose last hidden state the head reads: the first token (CLS) for encoders, the
        last for decoders (peftkit pads decoders on the left, so the last position is the last token)."""
        return -1 if self.causal else 0

    @property
    def fan_in_fan_out(self) -> bool:
        """peft's name for weights stored (in, out), as Conv1D stores them."""
        return self.conv1d

    def roles_alternation(self, *roles: str) -> str:
        """Block-relative regex matching any of ``roles`` (each once: GPT-2's fused roles are one module)."""
        return "|".join(dict.fromkeys(getattr(self, r) for r in roles))

    def role_regex(self, role: str) -> str:
        """Full-name regex (as peft's ``target_modules`` string form) for a role in every block."""
        return self.roles_regex(role)

    def roles_regex(self, *roles: str) -> str:
        return rf"{re.escape(self.layers)}\.\d+\.({self.roles_alternation(*roles)})"

    def projections_regex(self) -> str:
        """Every linear projection of every block (attention and feed-forward), never the head."""
        return self.roles_regex(*PROJECTION_ROLES)


_BERT_LIKE = dict(
    query=r"attention\.self\.query",
    key=r"attention\.self\.key",
    value=r"attention\.self\.value",
    attn_out=r"attention\.output\.dense",
    ffn_in=r"intermediate\.dense",
    ffn_out=r"output\.dense",
)
_LLAMA_LIKE = dict(
    body="model",
    layers="model.layers",
    head=("score",),
    token_head=("score",),
    top=("model.norm",),
    query=r"self_attn\.q_proj",
    key=r"self_attn\.k_proj",
    value=r"self_attn\.v_proj",
    attn_out=r"self_attn\.o_proj",
    ffn_in=r"mlp\.gate_proj|mlp\.up_proj",
    ffn_out=r"mlp\.down_proj",
    memory=Memory("pre-rms", attention_dropout=("attention_dropout",), norms=("input_layernorm", "post_attention_layernorm"),
                  embeddings="none", final_norm=r"model\.norm", head_input="tokens"),
    causal=True,
    positions="rotary",
)
_ALBERT_LAYER = r"albert_layers\.\d+\."

ARCHITECTURES: tuple[ArchSpec, ...] = (
    ArchSpec("BERT", ("bert",), "bert", "bert.encoder.layer", ("classifier",), ("bert.pooler",), **_BERT_LIKE,
             memory=Memory("post-ln", pooler=r"bert\.pooler\.dense", head_vectors=1)),
    ArchSpec("RoBERTa", ("roberta",), "roberta", "roberta.encoder.layer", ("classifier",), (), **_BERT_LIKE,
             memory=Memory("post-ln"), positions_after_padding=True),
    # embedding_size may differ from hidden_size: prompts use the embedding size
    ArchSpec("ELECTRA", ("electra",), "electra", "electra.encoder.layer", ("classifier",), (), **_BERT_LIKE,
             memory=Memory("post-ln", embedding_projection=r"electra\.embeddings_project")),
    ArchSpec(
        "DistilBERT", ("distilbert",), "distilbert", "distilbert.transformer.layer",
        ("pre_classifier", "classifier"), (),
        query=r"attention\.q_lin", key=r"attention\.k_lin", value=r"attention\.v_lin",
        attn_out=r"attention\.out_lin", ffn_in=r"ffn\.lin1", ffn_out=r"ffn\.lin2",
        memory=Memory("post-ln", dropout=("dropout",), attention_dropout=("attention_dropout",),
                      activation=("activation",), attention_sublayer_dropout=False, head_input="slice"),
    ),
    # the blocks are ALBERT's shared layer groups: modules a strategy adds are shared like the weights
    ArchSpec(
        "ALBERT", ("albert",), "albert", "albert.encoder.albert_layer_groups", ("classifier",),
        ("albert.pooler",),
        query=_ALBERT_LAYER + r"attention\.query", key=_ALBERT_LAYER + r"attention\.key",
        value=_ALBERT_LAYER + r"attention\.value", attn_out=_ALBERT_LAYER + r"attention\.dense",
        ffn_in=_ALBERT_LAYER + "ffn", ffn_out=_ALBERT_LAYER + "ffn_output",
        memory=Memory("post-ln", embedding_projection=r"albert\.encoder\.embedding_hidden_mapping_in",
                      pooler=r"albert\.pooler", head_vectors=1),
        shared_blocks=True,
    ),
    # the pooler (ContextPooler) is new at fine-tuning time and counts as head; prefix keys get content
    # scores only (no relative position)
    ArchSpec(
        "DeBERTa-v2", ("deberta-v2",), "deberta", "deberta.encoder.layer", ("pooler", "classifier"), (),
        query=r"attention\.self\.query_proj", key=r"attention\.self\.key_proj",
        value=r"attention\.self\.value_proj", attn_out=r"attention\.output\.dense", ffn_in=r"intermediate\.dense",
        ffn_out=r"output\.dense", memory=Memory("post-ln", head_input="slice"), positions="deberta",
        attention="disentangled",
    ),
    # query, key and value are one fused Conv1D (c_attn): LoRA and IA3 act on all three
    ArchSpec(
        "GPT-2", ("gpt2",), "transformer", "transformer.h", ("score",), ("transformer.ln_f",),
        query=r"attn\.c_attn", key=r"attn\.c_attn", value=r"attn\.c_attn",
        attn_out=r"attn\.c_proj", ffn_in=r"mlp\.c_fc", ffn_out=r"mlp\.c_proj",
        memory=Memory("pre-ln", dropout=("resid_pdrop",), attention_dropout=("attn_pdrop",),
                      activation=("activation_function",), embeddings="dropout", embedding_dropout=("embd_pdrop",),
                      final_norm=r"transformer\.ln_f", head_input="tokens"),
        causal=True, conv1d=True,
    ),
    ArchSpec("Llama", ("llama",), **_LLAMA_LIKE),
    ArchSpec("Qwen2", ("qwen2",), **_LLAMA_LIKE),
)

_BY_MODEL_TYPE = {mt: spec for spec in ARCHITECTURES for mt in spec.model_types}


def supported_model_types() -> list[str]:
    return sorted(_BY_MODEL_TYPE)


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside a peft wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def arch_for_config(config) -> ArchSpec:
    model_type = getattr(config, "model_type", None)
    spec = _BY_MODEL_TYPE.get(model_type)
    if spec is None:
        raise PeftkitError(
            f"architecture '{model_type}' is not supported; supported model types: "
            f"{', '.join(supported_model_types())}"
        )
    return spec


def arch_for(model: nn.Module) -> ArchSpec:
    return arch_for_config(unwrap(model).config)


def model_label(model: nn.Module) -> str:
    return type(unwrap(model)).__name__


def unsupported(strategy: str, model: nn.Module, reason: str) -> UnsupportedError:
    return UnsupportedError(strategy, model_label(model), reason)


def body(model: nn.Module) -> nn.Module:
    """The pretrained body (``model.bert``, ``model.model``...) under the task head."""
    return unwrap(model).get_submodule(arch_for(model).body)


def blocks(model: nn.Module) -> list[nn.Module]:
    spec = arch_for(model)
    return list(unwrap(model).get_submodule(spec.layers))


def block_sequence(model: nn.Module) -> list[nn.Module]:
    """The blocks in the order the forward runs them (shared groups run num_hidden_layers times)."""
    found = blocks(model)
    if not arch_for(model).shared_blocks:
        return found
    layers = unwrap(model).config.num_hidden_layers
    return [found[int(i / (layers / len(found)))] for i in range(layers)]


def find_modules(model: nn.Module, *roles: str) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module that plays one of ``roles`` in a block, in model order."""
    spec = arch_for(model)
    pattern = re.compile(spec.roles_regex(*roles))
    return [(n, m) for n, m in unwrap(model).named_modules() if pattern.fullmatch(n)]


def is_norm(module: nn.Module) -> bool:
    """A LayerNorm, or an RMSNorm (each decoder family names its own: LlamaRMSNorm, Qwen2RMSNorm)."""
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith(("LayerNorm", "RMSNorm"))


def norm_names(model: nn.Module) -> list[str]:
    """Names of the body's normalisation modules (embeddings, every block, the final norm); never the head's."""
    spec = arch_for(model)
    return [n for n, m in unwrap(model).named_modules() if n.startswith(spec.body + ".") and is_norm(m)]


# -- projections -------------------------------------------------------------------------------

def is_conv1d(module: nn.Module) -> bool:
    """transformers' Conv1D (GPT-2's projections): a linear layer whose weight is stored (in, out)."""
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, Conv1D)


def is_projection(module: nn.Module) -> bool:
    """A linear layer, as nn.Linear or as Conv1D."""
    return isinstance(module, nn.Linear) or is_conv1d(module)


def out_features(module: nn.Module) -> int:
    """Output width of a Linear or Conv1D."""
    if isinstance(module, nn.Linear):
        return module.out_features
    if is_conv1d(module):
        return int(module.nf)
    raise PeftkitError(f"cannot tell the output width of {type(module).__name__}")


# -- positions ---------------------------------------------------------------------------------

def position_limit(config) -> int | None:
    """Longest sequence a model with learned absolute positions takes (None: no hard limit, e.g. RoPE)."""
    spec = arch_for_config(config)
    if spec.positions == "rotary" or (spec.positions == "deberta" and not getattr(config, "position_biased_input", True)):
        return None
    limit = next((v for k in ("max_position_embeddings", "n_positions") if (v := getattr(config, k, None)) is not None), None)
    if limit and spec.positions_after_padding:  # positions start after the padding index
        limit -= (config.pad_token_id or 0) + 1
    return limit


# -- parameter names -------------------------------------------------------------------------

_PEFT_PREFIXES = ("base_model.model.", "base_model.")
_PEFT_INFIXES = (".modules_to_save.default", ".original_module", ".base_layer")


def canonical_name(name: str) -> str:
    """A parameter name as in the plain transformers model: peft prefixes and wrappers removed."""
    for prefix in _PEFT_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    for infix in _PEFT_INFIXES:
        name = name.replace(infix, "")
    return name


def is_head_name(spec: ArchSpec, name: str) -> bool:
    return canonical_name(name).split(".", 1)[0] in spec.heads


def is_top_name(spec: ArchSpec, name: str) -> bool:
    """A parameter of the body above the last block (pooler, final norm)."""
    name = canonical_name(name)
    return any(name == t or name.startswith(t + ".") for t in spec.top)


def layer_depth(spec: ArchSpec, name: str, num_blocks: int) -> int:
    """Depth of a parameter counted from the top: 0 head, 1 the top block (with pooler / final
    norm), ..., num_blocks the bottom block, num_blocks + 1 embeddings and everything else."""
    name = canonical_name(name)
    if name.split(".", 1)[0] in spec.heads:
        return 0
    prefix = spec.layers + "."
    if name.startswith(prefix):
        index = int(name[len(prefix):].split(".", 1)[0])
        return num_blocks - index
    if is_top_name(spec, name):
        return 1
    return num_blocks + 1


# -- sizes -------------------------------------------------------------------------------------

def input_embedding_dim(model: nn.Module) -> int:
    return unwrap(model).get_input_embeddings().embedding_dim


def num_attention_heads(config) -> int:
    for key in ("num_attention_heads", "n_heads", "n_head"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    raise PeftkitError(f"cannot find the number of attention heads in {type(config).__name__}")


def kv_width(config) -> int:
    """Width of one attention layer's keys (and values): head size times key/value heads (fewer than
    the query heads under grouped-query attention)."""
    heads = num_attention_heads(config)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return head_dim * kv_heads


def model_device(model: nn.Module) -> torch.device:
    return next(unwrap(model).parameters()).device


def iter_head_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    spec = arch_for(model)
    for name, p in model.named_parameters():
        if is_head_name(spec, name):
            yield name, p
