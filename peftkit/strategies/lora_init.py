"""LoRA's initialisations, and the plain LoRA adapter that a PiSSA or OLoRA run is saved as.

peft's ``init_lora_weights``: the default (A Kaiming-uniform, B zero: the update starts at zero), ``gaussian``
(A Gaussian with std 1/r), and two that start the update at the weight's main directions and take those out of
the frozen weight, so that the model is unchanged at step 0:

- PiSSA (Meng et al., 2024): A and B from the top ``r`` singular vectors and values of each weight;
- OLoRA (Büyükakyüz, 2024): A and B from the QR decomposition of each weight.

Both change the base weights (the residual ``W - s·B0·A0`` stays frozen), so their adapter only works on the
residual model. peftkit therefore saves the trained update as a plain LoRA adapter on the *original* weights,
as peft's ``path_initial_model_for_weight_conversion`` does: ``ΔW = B·A - B0·A0 = [B | -B0]·[A ; A0]``, of rank
2r with alpha doubled (the same scaling). peft's conversion drops the ``modules_to_save`` (the trained task head);
peftkit's keeps it. ``PeftModel.from_pretrained`` on the original base model then gives the trained model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from peft import get_peft_model_state_dict
from safetensors.torch import load_file, save_file
from torch import nn

INITS = ("default", "gaussian", "pissa", "olora")
PEFT_INIT = {"default": True, "gaussian": "gaussian", "pissa": "pissa", "olora": "olora"}  # peft's init_lora_weights
CHANGES_BASE = ("pissa", "olora")  # inits that move part of each weight into the adapter
ADAPTER_FILE, CONFIG_FILE = "adapter_model.safetensors", "adapter_config.json"


def _is_lora_matrix(key: str) -> bool:
    return ".lora_A." in key or ".lora_B." in key


def remember_initial(model: nn.Module) -> None:
    """Keep the adapter's initial A and B (PiSSA / OLoRA: what was taken out of the weights) for the save."""
    model.peftkit_lora_initial = {key: value.detach().clone() for key, value in get_peft_model_state_dict(model).items()
                                  if _is_lora_matrix(key)}


def changed_base(model: nn.Module) -> bool:
    """True if ``model``'s adapter was initialised by moving part of the weights into it (and not yet saved as
    a plain adapter): its base weights are the residual, not the pretrained ones."""
    return str(model.peft_config["default"].init_lora_weights) in CHANGES_BASE


def save_as_plain_lora(model: nn.Module, directory: Path) -> None:
    """Save ``model`` (LoRA initialised by PiSSA or OLoRA, trained) as a plain LoRA adapter on the original
    weights, with its head."""
    initial = getattr(model, "peftkit_lora_initial", None)
    if initial is None:
        raise RuntimeError("the adapter's initial weights were not kept when it was applied")
    model.save_pretrained(directory)
    weights = load_file(directory / ADAPTER_FILE)
    for key, start in initial.items():
        trained = weights[key]
        weights[key] = (torch.cat([trained, start.to(trained)], dim=0) if ".lora_A." in key
                        else torch.cat([trained, -start.to(trained)], dim=1))
    save_file(weights, directory / ADAPTER_FILE, metadata={"format": "pt"})
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["r"] *= 2
    config["lora_alpha"] *= math.sqrt(2) if config.get("use_rslora") else 2  # same scaling at twice the rank
    config["init_lora_weights"] = True
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
