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
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from . import architectures as arch


class FeatureCache:
    def __init__(self, model: nn.Module, hidden: torch.Tensor, pooled: torch.Tensor | None, output_type: type):
        self.model = model
        self.hidden = hidden  # [N, H]: the read-out position's last hidden state
        self.pooled = pooled  # [N, H'] or None
        self.output_type = output_type
        self.seconds = 0.0  # how long building it took (the run's training time includes it)

    @classmethod
    @torch.no_grad()
    def build(cls, model: nn.Module, dataset, collator, batch_size: int = 128) -> "FeatureCache":
        """Run the frozen body once over ``dataset`` (tokenized, in order) in eval mode."""
        body = arch.body(model)
        readout = arch.arch_for(model).readout
        device = arch.model_device(model)
        was_training = body.training
        body.eval()
        hidden, pooled, output_type = [], [], None
        columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names]
        try:
            for start in range(0, len(dataset), batch_size):
                rows = dataset[start:start + batch_size]
                features = [{c: rows[c][i] for c in columns} for i in range(len(rows[columns[0]]))]
                inputs = {k: v.to(device) for k, v in collator(features).items() if k in columns}
                out = body(**inputs)
                output_type = type(out)
                hidden.append(out.last_hidden_state[:, readout].float().cpu())
                if getattr(out, "pooler_output", None) is not None:
                    pooled.append(out.pooler_output.float().cpu())
        finally:
            body.train(was_training)
        return cls(model, torch.cat(hidden), torch.cat(pooled) if pooled else None, output_type)

    def __len__(self) -> int:
        return len(self.hidden)

    def dataset(self, labels):
        """Training examples for the cached head: input_ids = [row in the cache]."""
        import datasets

        return datasets.Dataset.from_dict({"input_ids": [[i] for i in range(len(self))],
                                           "attention_mask": [[1]] * len(self), "labels": list(labels)})

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Replace the body's forward by a cache lookup while the head trains."""
        body = arch.body(self.model)
        dtype = next(p for p in self.model.parameters()).dtype

        def forward(input_ids=None, *args, **kwargs):
            rows = input_ids[:, 0].cpu()
            device = input_ids.device
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
