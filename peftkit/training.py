"""One training run: load data and model, apply a strategy, train with the Trainer, measure, evaluate.

``compare`` runs this in a fresh process per (strategy, seed) (see ``worker.py``) so that peak memory
is the run's own and a crash only loses that run.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from . import architectures as arch
from . import measure
from .errors import PeftkitError
from .feature_cache import FeatureCache
from .registry import strategy_from_spec
from .launch import fsdp_launched
from .settings import PRECISIONS, RunConfig, resolve_precision  # noqa: F401  (importable from here, as before)


# -- measurement helpers ---------------------------------------------------------------------------

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
                               num_labels=num_labels, task=task_for(config).name)
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
    from transformers import AutoTokenizer

    from .modeling import load_for_task, prepare_tokenizer, resolve_model

    path, task = resolve_model(config.model), task_for(config)
    # a strategy may need the weights loaded its own way (qlora: in 4-bit)
    load_kwargs = strategy.from_pretrained_kwargs(model_config) if strategy is not None else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
        again = task.tokenizer_kwargs(tokenizer)
        if again:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code, **again)
        model = load_for_task(task, path, label_names, trust_remote_code=config.trust_remote_code, **load_kwargs)
    except OSError as e:
        raise PeftkitError(f"cannot load model '{config.model}': {str(e).strip().splitlines()[0]}") from None
    return model, prepare_tokenizer(tokenizer, model)


def task_for(config: RunConfig):
    """The run's task: as given, or what the dataset's format says."""
    from .tasks import get_task, infer_task

    return get_task(config.task or infer_task(config.dataset))


def preflight(config: RunConfig, specs: tuple[str, ...] = ()):
    """The model's config, checked, then the data, loaded: ``(config, model_config, data)``, ``config`` with
    its task settled (as given, or what the data's format says). A model or dataset that cannot load fails
    here with one clear line, before a comparison writes its store or a run spends minutes. The model comes
    first: it is the cheaper check, and a missing local model must not send the dataset name to the hub.
    ``--max-length`` is checked against the model's positions for ``config.strategy`` and every SPEC of
    ``specs`` (prompt tuning's virtual tokens take positions too)."""
    from .estimate import check_length
    from .modeling import check_local_weights, load_config

    model_config = load_config(config.model, trust_remote_code=config.trust_remote_code)
    arch.arch_for_config(model_config)  # clear error if unsupported
    check_local_weights(config.model)  # no, pickled or truncated weights: refused here, not as a failed run
    for spec in dict.fromkeys((config.strategy, *specs)):
        check_length(model_config, config.max_length, strategy_from_spec(spec).virtual_tokens().prompt, "--max-length")
    config = config.with_task()
    for spec in dict.fromkeys((config.strategy, *specs)):
        refusal = strategy_from_spec(spec).refuses_task(task_for(config))
        if refusal:
            raise PeftkitError(f"strategy '{spec}': {refusal}")
    return config, model_config, load_data(config)


def load_data(config: RunConfig):
    """The data of ``config`` (its task settled, or settled here from the data's format), as its runs see it."""
    config = config.with_task()
    task = task_for(config)
    if config.subword_labels != "first" and not task.per_token:
        raise PeftkitError(f"--subword-labels says which sub-tokens of a word carry its tag; {task.name} has one "
                           "label per text: leave it out")
    return task.load_data(
        config.dataset, text_column=config.text_column, text_pair_column=config.text_pair_column,
        label_column=config.label_column, eval_split=config.eval_split, holdout=config.holdout, seed=config.seed,
        max_train_samples=config.max_train_samples, max_eval_samples=config.max_eval_samples,
        drop_invalid_rows=config.drop_invalid_rows)


def with_train_examples(config: RunConfig, found: int) -> RunConfig:
    """``config`` with the number of training examples its data has; the one a comparison planned with (its
    run ids say the epochs that number gives) must be the one found now."""
    if config.train_examples is not None and config.train_examples != found:
        raise PeftkitError(f"the training data has {found} examples, but this run was planned for "
                           f"{config.train_examples}: the data changed since; rerun the command to plan again")
    return replace(config, train_examples=found)


@dataclass
class Run:
    """One run, prepared: the strategy applied to the loaded model, the data tokenized."""

    config: RunConfig  # resolved: the strategy's defaults filled in
    strategy: Any
    task: Any
    data: Any
    model: Any
    tokenizer: Any
    train_set: Any
    eval_set: Any
    loaded_model_bytes: int
    estimate: Any  # peftkit estimate's prediction, or None

    @property
    def uses_cache(self) -> bool:
        # the cache swaps the body's forward, which FSDP's sharded modules must run themselves
        return self.strategy.uses_feature_cache() and not fsdp_launched()


def prepare(config: RunConfig, before_training: Callable[[Any], None] | None = None) -> Run:
    """Seed, check and load everything, apply the strategy (may raise UnsupportedError), tokenize."""
    from transformers import set_seed

    set_seed(config.seed)
    config, model_config, data = preflight(config)
    config = with_train_examples(config, len(data.train)).resolved()  # the epochs rule counts these
    strategy, task = strategy_from_spec(config.strategy), task_for(config)
    model, tokenizer = load_model_and_tokenizer(config, model_config, data.num_labels, data.label_names, strategy)
    loaded = measure.model_bytes(model)
    estimate = _estimate(config, model.config, data.num_labels)
    model = strategy.apply(model)
    if before_training is not None:
        before_training(model)
    train_set, eval_set = task.tokenize(data, tokenizer, config.max_length, config.subword_labels)
    eval_set = _sorted_by_length(eval_set)  # less padding; metrics do not depend on the order
    return Run(config, strategy, task, data, model, tokenizer, train_set, eval_set, loaded, estimate)


def _sorted_by_length(dataset):
    lengths = [len(ids) for ids in dataset["input_ids"]]
    return dataset.select(sorted(range(len(lengths)), key=lengths.__getitem__))


def build_trainer(run: Run, work_dir: Path, progress: Callable[[int, int], None] | None):
    from transformers import Trainer, TrainingArguments

    config = run.config
    warmup_fraction = config.warmup  # transformers 5 reads a warmup_steps below 1 as this fraction of all steps
    args = TrainingArguments(
        output_dir=str(work_dir / "trainer"), num_train_epochs=config.epochs,
        learning_rate=config.learning_rate, warmup_steps=warmup_fraction, weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=max(64, config.batch_size),
        seed=config.seed, data_seed=config.seed, eval_strategy="no", save_strategy="no", logging_steps=10,
        logging_nan_inf_filter=False,  # a NaN loss must show, so that the run stops as diverged
        report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        # batches of similar lengths (shuffled, seeded): far less padding on real text
        train_sampling_strategy="random" if run.uses_cache else "group_by_length",
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        # non-reentrant checkpointing also works when the embeddings are frozen (PEFT); it recomputes, it does
        # not change what trains
        gradient_checkpointing=config.gradient_checkpointing and not run.uses_cache,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        **_precision_flags(config.precision))
    return Trainer(model=run.model, args=args, train_dataset=run.train_set, data_collator=run.task.collator(run.tokenizer),
                   callbacks=[*run.strategy.callbacks(), *_callbacks(progress)])


def train(run: Run, trainer) -> tuple[Any, float, FeatureCache | None]:
    """(the Trainer's output, seconds including building the feature cache, the cache or None)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start, cache = time.perf_counter(), None
    if run.uses_cache:  # after the Trainer has put the model on its device
        cache = FeatureCache.build(run.model, run.train_set, trainer.data_collator,
                                   batch_size=max(64, run.config.batch_size), per_token=run.task.per_token)
        trainer.train_dataset = cache.dataset(run.train_set["labels"])
        cache.seconds = time.perf_counter() - start
    cache_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with cache.serving() if cache is not None else contextlib.nullcontext():
        output = trainer.train()
    if not math.isfinite(output.training_loss):
        raise Diverged(f"training loss is {output.training_loss}")
    return output, time.perf_counter() - start + cache_seconds, cache


def save_artifact(run: Run, work_dir: Path) -> tuple[Path, int]:
    """What ``peftkit.save`` writes, in ``work_dir/artifact``, and its size without the tokenizer."""
    from .artifacts import directory_bytes, save

    artifact = save(run.model, work_dir / "artifact", base_model=run.config.model, label_names=run.data.label_names)
    size = directory_bytes(artifact)  # what the strategy must save
    run.tokenizer.save_pretrained(artifact)
    return artifact, size


def train_and_evaluate(config: RunConfig, work_dir: str | Path,
                       progress: Callable[[int, int], None] | None = None,
                       before_training: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Run one (strategy, seed) and return its measurements (``train_info``). Raises on failure.

    ``before_training(model)`` runs once the strategy is applied, before any step (``train`` checks its
    output there). The trained artifact (what ``peftkit.save`` writes) is left in ``work_dir/artifact``."""
    work_dir = Path(work_dir)
    run = prepare(config, before_training)
    trainer = build_trainer(run, work_dir, progress)
    output, seconds, cache = train(run, trainer)
    peak_bytes, memory_kind = measure.peak_memory()
    training_state = measure.training_state_bytes(run.model, trainer.optimizer)
    # in order: under group_by_length transformers also groups the eval batches by length, which would reorder
    # the predictions (the eval split is sorted by length already); the token task scores them by row
    trainer.args.train_sampling_strategy = "sequential"
    prediction = trainer.predict(run.eval_set)
    metrics = run.task.metrics(prediction.predictions, prediction.label_ids, run.data, run.eval_set)
    _, checkpoint_bytes = save_artifact(run, work_dir)
    config, estimate = run.config, run.estimate
    return {
        "status": "ok", "error": None, "task": run.task.name,
        **measure.parameters(run.model),
        "peak_memory_bytes": peak_bytes, "memory_kind": memory_kind, "model_memory_bytes": run.loaded_model_bytes,
        **training_state,
        # predicted before training (peftkit estimate; padded to max_length, so an upper bound with dynamic padding)
        "estimated_peak_bytes": estimate.total if estimate else None,
        "estimate": estimate.to_dict() if estimate else None,
        "feature_cache": None if cache is None else {"examples": len(cache), "seconds": cache.seconds,
                                                     "bytes": cache.nbytes},
        "train_seconds": seconds, "train_steps": output.global_step,
        **measure.throughput(run.model, run.train_set, epochs=config.epochs, seconds=seconds,
                             cached=cache is not None, compute_dtype=_compute_dtype(config.precision)),
        "strategy_options": run.strategy.saved_options(run.model),  # as applied (prefix: the route it took)
        "train_loss": output.training_loss,
        "train_loss_curve": [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h],
        **{f"eval_{k}": v for k, v in metrics.items()},
        "checkpoint_bytes": checkpoint_bytes,
        "num_train_samples": len(run.train_set), "num_eval_samples": len(run.eval_set),
        "label_names": run.data.label_names, "eval_split": run.data.eval_split, "data_notes": run.data.notes,
    }


def run_in_temp_dir(config: RunConfig, progress=None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="peftkit-run-") as tmp:
        return train_and_evaluate(config, tmp, progress)
