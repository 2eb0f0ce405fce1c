"""Token classification (named entities) with a trained model: entities predicted as the transformers
``token-classification`` pipeline with ``aggregation_strategy="simple"`` returns them (the entity-level
scores, report and confusion are ``tagging.py``'s).

``predict_entities`` does not call the pipeline: it works on any model whose forward returns ``.logits``
[batch, seq, labels] (a peft-wrapped one included) and runs texts in padded batches, which the pipeline does
not (it runs one unpadded text at a time).
"""

from __future__ import annotations

import numpy as np
import torch

from . import architectures as arch
from .errors import PeftkitError
from .inference import usable_length


def predict_entities(model, tokenizer, texts: list[str], batch_size: int = 32,
                     max_length: int = 512) -> list[list[dict]]:
    """For each text, its entities as the pipeline's "simple" aggregation gives them: dicts with
    ``entity_group``, ``score``, ``word``, ``start`` and ``end`` (character offsets into the text).

    Mirrored from the pipeline: the special tokens are skipped (the tokenizer's special-tokens mask); each
    token's label is the argmax of its softmax (in float32 numpy) and its score that probability; a token's
    ``word`` is its vocabulary token (``convert_ids_to_tokens``), or the text under its offsets for the
    unknown token; tokens are grouped as ``_groups`` says and a group's ``word`` is
    ``convert_tokens_to_string`` of its tokens; groups whose type is ``O`` are dropped.

    Differences: texts run in batches, padded on the right whatever ``tokenizer.padding_side`` says (a
    decoder's tokenizer pads on the left): each real token then has the positions it has alone, whatever
    way the architecture numbers them (BERT counts from the row's start, so a left-padded row would shift
    them), and pads after it are masked. Truncation is at ``inference.usable_length(model, max_length)``
    (room for prompt-tuning tokens), not at ``tokenizer.model_max_length``; there is no ``stride``. Logits
    longer than the input (peft prompt tuning prepends its virtual tokens) are read from their last
    positions. E-/S- labels (IOBES) are grouped as IOBES reads them, see ``_groups``. The model predicts in
    eval mode (no dropout) and is put back in the mode it was in.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise PeftkitError(f"predicting entities needs a fast tokenizer (for character offsets); "
                           f"{type(tokenizer).__name__} is a slow one: load it with AutoTokenizer (use_fast=True)")
    names = arch.unwrap(model).config.id2label
    max_length = usable_length(model, max_length)
    device = arch.model_device(model)
    training, results = model.training, []
    model.eval()
    try:
        with torch.no_grad():
            for first in range(0, len(texts), batch_size):
                chunk = list(texts[first:first + batch_size])
                batch = tokenizer(chunk, padding=True, padding_side="right", truncation=True, max_length=max_length,
                                  return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
                offsets, special = batch.pop("offset_mapping"), batch.pop("special_tokens_mask")
                skip = (special.bool() | (batch["attention_mask"] == 0)).numpy()
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
                logits = logits[:, -batch["input_ids"].shape[1]:].float().cpu().numpy()
                for row, text in enumerate(chunk):
                    tokens = _tokens(tokenizer, text, batch["input_ids"][row].tolist(), offsets[row].tolist(),
                                     skip[row], _softmax(logits[row]), names)
                    results.append([_entity(tokenizer, group) for group in _groups(tokens)
                                    if group[0]["entity"].split("-", 1)[-1] != "O"])
    finally:
        model.train(training)
    return results


def _softmax(logits: np.ndarray) -> np.ndarray:
    """The pipeline's softmax, in numpy on float32 logits."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _tokens(tokenizer, text, ids, offsets, skip, scores, names) -> list[dict]:
    """The pipeline's gather_pre_entities and the per-token part of aggregate (SIMPLE): one dict per token
    that is not special (nor padding), with its argmax label, that label's probability, token and offsets."""
    tokens = []
    for index, token_id in enumerate(ids):
        if skip[index]:
            continue
        start, end = offsets[index]
        best = int(scores[index].argmax())
        word = text[start:end] if token_id == tokenizer.unk_token_id else tokenizer.convert_ids_to_tokens(token_id)
        tokens.append({"entity": names[best], "score": scores[index][best], "word": word, "start": start, "end": end})
    return tokens


def _tag(label: str) -> tuple[str, str]:
    """The pipeline's get_tag, extended to E- and S-: (prefix, type); a label without one of these prefixes
    (``O``, ``PER``) is ``("I", label)``, which is how the pipeline reads it: it continues a run of itself."""
    if label[:2] in ("B-", "I-", "E-", "S-"):
        return label[0], label[2:]
    return "I", label


def _groups(tokens: list[dict]) -> list[list[dict]]:
    """The pipeline's group_entities: a token joins the previous token's group when it has the same type
    and its prefix is not B- (two B- tokens make two entities). IOBES: E- continues a group as I- does, and
    nothing joins a group after its E- or S- token (S- is an entity of one token). The pipeline itself would
    take E-X and S-X for types of their own: B-X E-X made two X entities and S-X S-X one. With labels that
    have no E-/S- prefix, the grouping is the pipeline's exactly."""
    groups: list[list[dict]] = []
    for token in tokens:
        prefix, kind = _tag(token["entity"])
        if groups:
            last_prefix, last_kind = _tag(groups[-1][-1]["entity"])
            if kind == last_kind and prefix in ("I", "E") and last_prefix not in ("E", "S"):
                groups[-1].append(token)
                continue
        groups.append([token])
    return groups


def _entity(tokenizer, group: list[dict]) -> dict:
    """The pipeline's group_sub_entities: the type of the first token's label (after its prefix), the mean
    of the tokens' scores, the tokens joined by the tokenizer, from the first token's start to the last's end."""
    return {
        "entity_group": group[0]["entity"].split("-", 1)[-1],
        "score": float(np.mean(np.nanmean([token["score"] for token in group]))),
        "word": tokenizer.convert_tokens_to_string([token["word"] for token in group]),
        "start": group[0]["start"],
        "end": group[-1]["end"],
    }
