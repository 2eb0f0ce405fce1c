"""The standard transformers text-classification script, plus peftkit (the three lines marked `peftkit`).

    python examples/trainer_script.py --model builtin:all-minilm-l6-v2 --data ../shared/data/sst2 --strategy lora
    python examples/trainer_script.py --model distilbert-base-uncased --data imdb --strategy adapter:variant=pfeiffer

--data is a hub dataset name or a directory of train/validation CSV files with `text,label` columns.
"""

import argparse
from pathlib import Path

import numpy as np
from datasets import DatasetDict, load_dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

import peftkit
from peftkit.modeling import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--strategy", default="lora", help="a peftkit SPEC, e.g. lora:r=16")
    parser.add_argument("--output", default="trainer-output")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the strategy's own")
    parser.add_argument("--max-samples", type=int, default=None)
    args = parser.parse_args()

    if Path(args.data).is_dir():
        files = {s: str(Path(args.data) / f"{s}.csv") for s in ("train", "validation")}
        data = load_dataset("csv", data_files=files)
    else:
        data = load_dataset(args.data)
    if args.max_samples:
        data = DatasetDict({k: v.shuffle(seed=0).select(range(min(args.max_samples, len(v)))) for k, v in data.items()})
    model_path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenized = data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=128), batched=True)
    num_labels = len(set(data["train"]["label"]))
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)

    strategy = peftkit.strategy_from_spec(args.strategy)                  # peftkit
    model = strategy.apply(model)                                         # peftkit
    print(peftkit.count_parameters(model))

    def compute_metrics(prediction):
        return {"accuracy": float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}

    training_args = TrainingArguments(
        output_dir=args.output, num_train_epochs=args.epochs,
        learning_rate=args.learning_rate or strategy.defaults.learning_rate,
        per_device_train_batch_size=16, per_device_eval_batch_size=64, eval_strategy="epoch",
        save_strategy="no", report_to=[], seed=0)
    trainer = Trainer(model=model, args=training_args, train_dataset=tokenized["train"],
                      eval_dataset=tokenized["validation"], data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=compute_metrics,
                      callbacks=strategy.callbacks())                     # peftkit
    trainer.train()
    print(trainer.evaluate())
    peftkit.save(model, Path(args.output) / "artifact", base_model=args.model, tokenizer=tokenizer)


if __name__ == "__main__":
    main()
