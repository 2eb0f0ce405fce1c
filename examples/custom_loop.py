"""A hand-written PyTorch training loop (AdamW, linear warm-up, gradient clipping; no Trainer) with peftkit.

    python examples/custom_loop.py --model builtin:all-minilm-l6-v2 --data ../shared/data/sst2 --strategy gradual

The strategy gives the loop its optimizer parameter groups (with layer-wise learning-rate decay for
`gradual`) and a hook to call before each step (gradual unfreezing); everything else is plain PyTorch.
"""

import argparse
import csv
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

import peftkit
from peftkit.modeling import resolve_model


def read_csv(path: Path, limit: int | None) -> list[tuple[str, int]]:
    with open(path, newline="") as f:
        rows = [(r["text"], int(r["label"])) for r in csv.DictReader(f)]
    return rows[:limit] if limit else rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="directory with train.csv and validation.csv (text,label)")
    parser.add_argument("--strategy", default="lora")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the strategy's own")
    parser.add_argument("--max-samples", type=int, default=None)
    parser.add_argument("--output", default=None, help="save the trained artifact here")
    args = parser.parse_args()
    torch.manual_seed(0)

    train = read_csv(Path(args.data) / "train.csv", args.max_samples)
    valid = read_csv(Path(args.data) / "validation.csv", args.max_samples)
    num_labels = len({label for _, label in train})
    model_path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)

    strategy = peftkit.strategy_from_spec(args.strategy)
    model = strategy.apply(model)
    lr = args.learning_rate or strategy.defaults.learning_rate
    optimizer = torch.optim.AdamW(strategy.parameter_groups(model, lr=lr, weight_decay=0.01))

    def collate(rows):
        batch = tokenizer([t for t, _ in rows], padding=True, truncation=True, max_length=128, return_tensors="pt")
        batch["labels"] = torch.tensor([label for _, label in rows])
        return batch

    loader = DataLoader(train, batch_size=16, shuffle=True, collate_fn=collate)
    total_steps = args.epochs * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.06 * total_steps), total_steps)
    strategy.on_train_begin(model, total_steps=total_steps)  # adalora fits its rank budget schedule to these
    step = 0
    for epoch in range(args.epochs):
        model.train()
        for i, batch in enumerate(loader):
            # the fraction of epochs done, as a Trainer's state.epoch: gradual unfreezes within the first epoch
            strategy.on_train_step(model, epoch=epoch + i / len(loader), global_step=step)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            strategy.on_optimizer_step(model, global_step=step)  # adalora reallocates its rank budget here
            scheduler.step()
            optimizer.zero_grad()
            step += 1
        model.eval()
        correct = 0
        with torch.no_grad():
            for batch in DataLoader(valid, batch_size=64, collate_fn=collate):
                labels = batch.pop("labels")
                correct += int((model(**batch).logits.argmax(-1) == labels).sum())
        print(f"epoch {epoch}: loss {loss.item():.4f}, validation accuracy {correct / len(valid):.4f}")
    if args.output:
        peftkit.save(model, args.output, base_model=args.model, tokenizer=tokenizer)


if __name__ == "__main__":
    main()
