"""Architecture knowledge, in one place.

For every supported model family this module says where the transformer blocks, the attention
projections, the feed-forward output and the task head live. Strategies ask this module; they never
hard-code module names themselves.

Module roles inside a block are regular expressions relative to one block (``layers.<i>.``):

- ``query``/``key``/``value``: attention input projections (GPT-2 fuses all three in ``c_attn``);
- ``attn_out``: the attention output projection (Houlsby adapters go after it);
- ``ffn_out``: the feed-forward down projection (adapters go after it; IA3 scales its input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from .errors import PeftkitError, UnsupportedError

ROLES = ("query", "key", "value", "attn_out", "ffn_out")


@dataclass(frozen=True)
class ArchSpec:
    name: str  # human-readable family name
    model_types: tuple[str, ...]  # config.model_type values
    body: str  # attribute of the *ForSequenceClassification model holding the pretrained body
    layers: str  # dotted path to the ModuleList of transformer blocks
    head: tuple[str, ...]  # top-level modules that form the (new, randomly initialised) task head
    top: tuple[str, ...]  # body modules above the last block (pooler, final norm)
    query: str
    key: str
    value: str
    attn_out: str
    ffn_out: str
    causal: bool = False  # decoder-only: classifies from the last non-padding token
    notes: str = ""

    @property
    def readout(self) -> int:
        """Position whose last hidden state the head reads: the first token (CLS) for encoders, the
        last for decoders (peftkit pads decoders on the left, so the last position is the last token)."""
        return -1 if self.causal else 0

    def role_regex(self, role: str) -> str:
        """Full-name regex (as peft's ``target_modules`` string form) for a role in every block."""
        return rf"{re.escape(self.layers)}\.\d+\.({getattr(self, role)})"

    def roles_regex(self, *roles: str) -> str:
        alternatives = "|".join(getattr(self, r) for r in dict.fromkeys(roles))
        return rf"{re.escape(self.layers)}\.\d+\.({alternatives})"


_BERT_LIKE = dict(
    query=r"attention\.self\.query",
    key=r"attention\.self\.key",
    value=r"attention\.self\.value",
    attn_out=r"attention\.output\.dense",
    ffn_out=r"output\.dense",
)
_LLAMA_LIKE = dict(
    body="model",
    layers="model.layers",
    head=("score",),
    top=("model.norm",),
    query=r"self_attn\.q_proj",
    key=r"self_attn\.k_proj",
    value=r"self_attn\.v_proj",
    attn_out=r"self_attn\.o_proj",
    ffn_out=r"mlp\.down_proj",
    causal=True,
)

ARCHITECTURES: tuple[ArchSpec, ...] = (
    ArchSpec("BERT", ("bert",), "bert", "bert.encoder.layer", ("classifier",), ("bert.pooler",), **_BERT_LIKE),
    ArchSpec("RoBERTa", ("roberta",), "roberta", "roberta.encoder.layer", ("classifier",), (), **_BERT_LIKE),
    ArchSpec(
        "ELECTRA", ("electra",), "electra", "electra.encoder.layer", ("classifier",), (), **_BERT_LIKE,
        notes="embedding_size may differ from hidden_size; prompts use the embedding size",
    ),
    ArchSpec(
        "DistilBERT", ("distilbert",), "distilbert", "distilbert.transformer.layer",
        ("pre_classifier", "classifier"), (),
        query=r"attention\.q_lin", key=r"attention\.k_lin", value=r"attention\.v_lin",
        attn_out=r"attention\.out_lin", ffn_out=r"ffn\.lin2",
    ),
    ArchSpec(
        "ALBERT", ("albert",), "albert", "albert.encoder.albert_layer_groups", ("classifier",),
        ("albert.pooler",),
        query=r"albert_layers\.\d+\.attention\.query", key=r"albert_layers\.\d+\.attention\.key",
        value=r"albert_layers\.\d+\.attention\.value", attn_out=r"albert_layers\.\d+\.attention\.dense",
        ffn_out=r"albert_layers\.\d+\.ffn_output",
        notes="blocks are ALBERT's shared layer groups: added modules are shared like the weights",
    ),
    ArchSpec(
        "DeBERTa-v2", ("deberta-v2",), "deberta", "deberta.encoder.layer", ("pooler", "classifier"), (),
        query=r"attention\.self\.query_proj", key=r"attention\.self\.key_proj",
        value=r"attention\.self\.value_proj", attn_out=r"attention\.output\.dense", ffn_out=r"output\.dense",
        notes="the pooler (ContextPooler) is new at fine-tuning time and counts as head; prefix keys get "
              "content scores only (no relative position)",
    ),
    ArchSpec(
        "GPT-2", ("gpt2",), "transformer", "transformer.h", ("score",), ("transformer.ln_f",),
        query=r"attn\.c_attn", key=r"attn\.c_attn", value=r"attn\.c_attn",
        attn_out=r"attn\.c_proj", ffn_out=r"mlp\.c_proj", causal=True,
        notes="query, key and value are one fused projection (c_attn): LoRA and IA3 act on all three",
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


def find_modules(model: nn.Module, *roles: str) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module that plays one of ``roles`` in a block, in model order."""
    spec = arch_for(model)
    pattern = re.compile(spec.roles_regex(*roles))
    return [(n, m) for n, m in unwrap(model).named_modules() if pattern.fullmatch(n)]


def out_features(module: nn.Module) -> int:
    """Output width of a Linear or GPT-2 Conv1D."""
    if isinstance(module, nn.Linear):
        return module.out_features
    nf = getattr(module, "nf", None)  # transformers.pytorch_utils.Conv1D
    if nf is not None:
        return int(nf)
    raise PeftkitError(f"cannot tell the output width of {type(module).__name__}")


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
    return canonical_name(name).split(".", 1)[0] in spec.head


def head_modules(model: nn.Module) -> list[nn.Module]:
    spec = arch_for(model)
    base = unwrap(model)
    return [base.get_submodule(h) for h in spec.head]


def layer_depth(spec: ArchSpec, name: str, num_blocks: int) -> int:
    """Depth of a parameter counted from the top: 0 head, 1 the top block (with pooler / final
    norm), ..., num_blocks the bottom block, num_blocks + 1 embeddings and everything else."""
    name = canonical_name(name)
    if name.split(".", 1)[0] in spec.head:
        return 0
    prefix = spec.layers + "."
    if name.startswith(prefix):
        index = int(name[len(prefix):].split(".", 1)[0])
        return num_blocks - index
    if any(name == t or name.startswith(t + ".") for t in spec.top):
        return 1
    return num_blocks + 1


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
