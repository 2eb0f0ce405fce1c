"""Train a head on cached features of a frozen body.

When only the task head trains and the body runs in eval mode, the body's output for an example
never changes: computing it once and training the head on the stored vectors gives the same
result as running the body every step, at the cost of one forward pass instead of one per epoch.

The cache keeps, per example, what the model's head reads from the body: the last hidden state at
the read-out position (first token for encoders, last for left-padded decoders; the mean when the
strategy pools by mean) and the pooler output where the body has one (BERT, ALBERT). While serving,
the body's ``forward`` is replaced by a lookup, and the training examples become one-token inputs
whose single "token" is the example's row in the cache. The model's own head code then runs
unchanged (dropout, pooler-free heads, decoders' last-token selection), so what trains is the real
head, saved and reloaded like any other.

For a task that labels tokens (``per_token``), the cache keeps the last hidden state of every real
(non-padding) token, one row each, and an example's "tokens" are its rows: the head classifies each
of them as it would the body's output. ``nbytes`` says what the cache holds in memory.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Iterator

import torch
from torch import nn

from . import architectures as arch


class FeatureCache:
    def __init__(self, model: nn.Module, hidden: torch.Tensor, pooled: torch.Tensor | None, output_type: type,
                 lengths: list[int] | None = None):
        self.model = model
        self.hidden = hidden  # [N, H]: the read-out position's last hidden state; per token: [tokens, H]
        self.pooled = pooled  # [N, H'] or None
        self.output_type = output_type
        self.lengths = lengths  # per token: each example's number of rows (its tokens), in order
        self.seconds = 0.0  # how long building it took (the run's training time includes it)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.hidden, self.pooled) if t is not None)

    @classmethod
    @torch.no_grad()
    def build(cls, model: nn.Module, dataset, collator, batch_size: int = 128,
              per_token: bool = False) -> "FeatureCache":
        """Run the frozen body once over ``dataset`` (tokenized, in order) in eval mode; ``per_token``: keep
        every token's state (a token-classification head), not the read-out position's."""
        body = arch.body(model)
        readout = arch.arch_for(model).readout
        device = arch.model_device(model)
        was_training = body.training
        body.eval()
        hidden, pooled, output_type, lengths = [], [], None, []
        columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names]
        try:
            for start in range(0, len(dataset), batch_size):
                rows = dataset[start:start + batch_size]
                features = [{c: rows[c][i] for c in columns} for i in range(len(rows[columns[0]]))]
                inputs = {k: v.to(device) for k, v in collator(features).items() if k in columns}
                out = body(**inputs)
                output_type = type(out)
                if per_token:  # the real tokens of each example, in order, whichever side was padded
                    mask = inputs["attention_mask"].bool()
                    hidden.append(out.last_hidden_state[mask].float().cpu())
                    lengths += mask.sum(1).tolist()
                    continue
                hidden.append(out.last_hidden_state[:, readout].float().cpu())
                if getattr(out, "pooler_output", None) is not None:
                    pooled.append(out.pooler_output.float().cpu())
        finally:
            body.train(was_training)
        return cls(model, torch.cat(hidden), torch.cat(pooled) if pooled else None, output_type,
                   lengths if per_token else None)

    def __len__(self) -> int:
        """The number of examples."""
        return len(self.lengths) if self.lengths is not None else len(self.hidden)

    def dataset(self, labels):
        """Training examples for the cached head: input_ids = [row in the cache] (per token: its rows)."""
        import datasets

        if self.lengths is None:
            rows = [[i] for i in range(len(self))]
        else:
            starts = [0, *itertools.accumulate(self.lengths)]
            rows = [list(range(start, start + n)) for start, n in zip(starts, self.lengths)]
        return datasets.Dataset.from_dict({"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows],
                                           "labels": list(labels)})

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Replace the body's forward by a cache lookup while the head trains."""
        body = arch.body(self.model)
        dtype = next(p for p in self.model.parameters()).dtype

        def forward(input_ids=None, *args, **kwargs):
            device = input_ids.device
            if self.lengths is not None:  # [B, L, H]; padding (any id) looks up some row, its label is -100
                rows = input_ids.cpu().clamp(0, len(self.hidden) - 1)
                fields = {"last_hidden_state": self.hidden[rows].to(device, dtype)}
                return self.output_type(**fields)
            rows = input_ids[:, 0].cpu()
            hidden = self.hidden[rows].to(device, dtype).unsqueeze(1)  # [B, 1, H]: position 0 = read-out
            fields = {"last_hidden_state": hidden}
            if self.pooled is not None:
                fields["pooler_output"] = self.pooled[rows].to(device, dtype)
            return self.output_type(**fields)

        body.forward = forward
        try:
            yield
        finally:
            del body.forward
