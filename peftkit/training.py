"""One training run: load data and model, apply a strategy, train with the Trainer, measure, evaluate.

``compare`` runs this in a fresh process per (strategy, seed) (see ``worker.py``) so that peak memory
is the run's own and a crash only loses that run.
"""

from __future__ import annotations

import contextlib
import math
import resource
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import architectures as arch
from . import flops
from .errors import PeftkitError
from .feature_cache import FeatureCache
from .params import count_parameters
from .registry import strategy_from_spec
from .launch import fsdp_launched
from .settings import PRECISIONS, RunConfig, resolve_precision  # noqa: F401  (importable from here, as before)


# -- measurement helpers ---------------------------------------------------------------------------

def peak_memory() -> tuple[int, str]:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated()), "cuda_allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "cpu_rss"  # Linux reports KiB


def model_bytes(model: torch.nn.Module) -> int:
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def training_state_bytes(model: torch.nn.Module, optimizer) -> dict[str, int]:
    """Gradient and optimizer-state memory of the run, measured: frozen parameters have neither."""
    gradients = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    inner = getattr(optimizer, "optimizer", optimizer)
    state = {id(t): t for s in inner.state.values() for t in s.values() if torch.is_tensor(t)}
    return {"gradient_bytes": int(gradients),
            "optimizer_state_bytes": int(sum(t.numel() * t.element_size() for t in state.values()))}


def _sorted_by_length(dataset):
    lengths = [len(ids) for ids in dataset["input_ids"]]
    return dataset.select(sorted(range(len(lengths)), key=lengths.__getitem__))


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    predictions = logits.argmax(-1)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(labels, predictions)), "f1_macro": float(f1),
            "precision_macro": float(precision), "recall_macro": float(recall)}


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of the gathered predictions (the same on one process or many)."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def _precision_flags(precision: str) -> dict[str, bool]:
    """The Trainer's flags for ``precision`` on this machine (settings.resolve_precision)."""
    resolved = resolve_precision(precision)
    return {"bf16": resolved == "bf16", "fp16": resolved == "fp16"}


def _estimate(config: RunConfig, model_config, num_labels: int):
    """`peftkit estimate` for this run, or None: a failing estimate must not fail the run."""
    from .estimate import estimate_memory

    try:
        return estimate_memory(model_config, config.strategy, config.batch_size, config.max_length,
                               precision=config.precision, gradient_checkpointing=config.gradient_checkpointing,
                               num_labels=num_labels)
    except Exception as e:  # noqa: BLE001 - reported, the run goes on
        warnings.warn(f"memory estimate unavailable: {type(e).__name__}: {e}")
        return None


def _compute_dtype(precision: str) -> str:
    return resolve_precision(precision)


class Diverged(PeftkitError):
    pass


def _callbacks(progress: Callable[[int, int], None] | None):
    from transformers import TrainerCallback

    class Watch(TrainerCallback):
        """Progress reports, and a stop as soon as the logged loss is NaN or inf."""

        def on_step_end(self, args, state, control, **kwargs):
            if progress:
                progress(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in ("loss", "grad_norm"):
                value = (logs or {}).get(key)
                if value is not None and not math.isfinite(float(value)):
                    raise Diverged(f"training {key.replace('_', ' ')} became {value} at step {state.global_step}")

    return [Watch()]


# -- the run -----------------------------------------------------------------------------------------

def load_model_and_tokenizer(config: RunConfig, model_config, num_labels: int, label_names: list[str], strategy=None):
    """The weights and tokenizer of ``config.model``, whose (checked) config ``preflight`` returned."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .modeling import prepare_tokenizer, resolve_model

    path = resolve_model(config.model)
    # a strategy may need the weights loaded its own way (qlora: in 4-bit)
    load_kwargs = getattr(strategy, "from_pretrained_kwargs", lambda _config: {})(model_config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, trust_remote_code=config.trust_remote_code,
            use_safetensors=True, **load_kwargs)  # never unpickle a user's weights
    except OSError as e:
        raise PeftkitError(f"cannot load model '{config.model}': {str(e).strip().splitlines()[0]}") from None
    return model, prepare_tokenizer(tokenizer, model)


def preflight(config: RunConfig, specs: tuple[str, ...] = ()):
    """The model's config, checked, then the data, loaded: ``(model_config, data)``. A model or dataset that
    cannot load fails here with one clear line, before a comparison writes its store or a run spends
    minutes. The model comes first: it is the cheaper check, and a missing local model must not send the
    dataset name to the hub. ``--max-length`` is checked against the model's positions for
    ``config.strategy`` and every SPEC of ``specs`` (prompt tuning's virtual tokens take positions too)."""
    from .data import load_text_classification
    from .estimate import check_length, virtual_tokens
    from .modeling import check_local_weights, load_config

    model_config = load_config(config.model, trust_remote_code=config.trust_remote_code)
    arch.arch_for_config(model_config)  # clear error if unsupported
    check_local_weights(config.model)  # no, pickled or truncated weights: refused here, not as a failed run
    for spec in dict.fromkeys((config.strategy, *specs)):
        check_length(model_config, config.max_length, virtual_tokens(strategy_from_spec(spec))[0], "--max-length")
    return model_config, load_text_classification(
        config.dataset, text_column=config.text_column, text_pair_column=config.text_pair_column,
        label_column=config.label_column, eval_split=config.eval_split, holdout=config.holdout, seed=config.seed,
        max_train_samples=config.max_train_samples, max_eval_samples=config.max_eval_samples,
        drop_invalid_rows=config.drop_invalid_rows)


def train_and_evaluate(config: RunConfig, work_dir: str | Path,
                       progress: Callable[[int, int], None] | None = None,
                       before_training: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Run one (strategy, seed) and return its measurements (``train_info``). Raises on failure.

    ``before_training(model)`` runs once the strategy is applied, before any step (``train`` checks its
    output there). The trained artifact (what ``peftkit.save`` writes) is left in ``work_dir/artifact``."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    from .artifacts import directory_bytes, save
    from .data import tokenize

    config = config.resolved()
    strategy = strategy_from_spec(config.strategy)
    set_seed(config.seed)
    model_config, data = preflight(config)
    model, tokenizer = load_model_and_tokenizer(config, model_config, data.num_labels, data.label_names, strategy)
    loaded_model_bytes = model_bytes(model)
    estimate = _estimate(config, model.config, data.num_labels)
    model = strategy.apply(model)  # may raise UnsupportedError: the caller records it
    if before_training is not None:
        before_training(model)
    train_set, eval_set = tokenize(data, tokenizer, config.max_length)
    eval_set = _sorted_by_length(eval_set)  # less padding; metrics do not depend on the order
    collator = DataCollatorWithPadding(tokenizer)
    # the cache swaps the body's forward, which FSDP's sharded modules must run themselves
    use_cache = getattr(strategy, "uses_feature_cache", lambda: False)() and not fsdp_launched()

    args = TrainingArguments(
        output_dir=str(Path(work_dir) / "trainer"), num_train_epochs=config.epochs,
        learning_rate=config.learning_rate, warmup_steps=config.warmup, weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=max(64, config.batch_size),
        seed=config.seed, data_seed=config.seed, eval_strategy="no", save_strategy="no", logging_steps=10,
        logging_nan_inf_filter=False,  # a NaN loss must show, so that the run stops as diverged
        report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        # batches of similar lengths (shuffled, seeded): far less padding on real text
        train_sampling_strategy="random" if use_cache else "group_by_length",
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        # non-reentrant checkpointing also works when the embeddings are frozen (PEFT); it recomputes, it does
        # not change what trains
        gradient_checkpointing=config.gradient_checkpointing and not use_cache,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        **_precision_flags(config.precision))
    trainer = Trainer(model=model, args=args, train_dataset=train_set, data_collator=collator,
                      callbacks=[*strategy.callbacks(), *_callbacks(progress)])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    cache, cache_seconds = None, 0.0
    if use_cache:  # after the Trainer has put the model on its device
        start = time.perf_counter()
        cache = FeatureCache.build(model, train_set, collator, batch_size=max(64, config.batch_size))
        cache_seconds = time.perf_counter() - start
        trainer.train_dataset = cache.dataset(train_set["labels"])
    start = time.perf_counter()
    with cache.serving() if cache is not None else contextlib.nullcontext():
        train_output = trainer.train()
    train_seconds = time.perf_counter() - start + cache_seconds
    if not math.isfinite(train_output.training_loss):
        raise Diverged(f"training loss is {train_output.training_loss}")
    peak_bytes, memory_kind = peak_memory()
    counts = count_parameters(model)  # after training: gradual unfreezing has grown the trainable set
    training_state = training_state_bytes(model, trainer.optimizer)

    prediction = trainer.predict(eval_set)
    metrics = classification_metrics(prediction.predictions, prediction.label_ids)
    artifact = save(model, Path(work_dir) / "artifact", base_model=config.model, label_names=data.label_names)
    checkpoint_bytes = directory_bytes(artifact)  # what the strategy must save, without the tokenizer
    tokenizer.save_pretrained(artifact)
    train_tokens = int(sum(len(ids) for ids in train_set["input_ids"]))  # real tokens: padding is added later
    tokens_per_second = train_tokens * config.epochs / train_seconds
    per_token = flops.training_flops_per_token(
        model, backward_through_body=cache is None and counts.trainable > counts.head_trainable,
        seq_len=train_tokens / max(len(train_set), 1))
    # with the feature cache the body ran once over the data, not once per epoch
    model_flops_per_second = per_token * train_tokens * (1 if cache is not None else config.epochs) / train_seconds
    return {
        "status": "ok", "error": None,
        "trainable_params": counts.trainable, "total_params": counts.total,
        "trainable_percent": counts.percent, "head_params": counts.head_trainable,
        "params_breakdown": counts.breakdown,
        "peak_memory_bytes": peak_bytes, "memory_kind": memory_kind, "model_memory_bytes": loaded_model_bytes,
        **training_state,
        # predicted before training (peftkit estimate; padded to max_length, so an upper bound with dynamic padding)
        "estimated_peak_bytes": estimate.total if estimate else None,
        "estimate": estimate.to_dict() if estimate else None,
        "feature_cache": None if cache is None else {"examples": len(cache), "seconds": cache_seconds},
        "train_seconds": train_seconds, "train_steps": train_output.global_step,
        "train_samples_per_second": len(train_set) * config.epochs / train_seconds,
        "train_tokens_per_second": tokens_per_second,
        "model_flops_per_second": model_flops_per_second,
        "mfu": flops.mfu(model_flops_per_second, _compute_dtype(config.precision)),
        "attention": getattr(arch.unwrap(model).config, "_attn_implementation", None),
        "strategy_options": strategy.saved_options(model),  # as applied (prefix: the route it took)
        "train_loss": train_output.training_loss,
        "train_loss_curve": [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h],
        **{f"eval_{k}": v for k, v in metrics.items()},
        "eval_loss": cross_entropy(prediction.predictions, prediction.label_ids),
        "checkpoint_bytes": checkpoint_bytes,
        "num_train_samples": len(train_set), "num_eval_samples": len(eval_set),
        "label_names": data.label_names, "eval_split": data.eval_split, "data_notes": data.notes,
    }


def run_in_temp_dir(config: RunConfig, progress=None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="peftkit-run-") as tmp:
        return train_and_evaluate(config, tmp, progress)
