#!/usr/bin/env python3
"""PyTorch goldens of one recurrent layer's forward and backward, for skelflow's fused GRU and
LSTM ops (stages/src/learn/fused): `nn.GRU(bidirectional=True)` (both directions: the reverse
one reads the steps backwards) and `nn.LSTM`, one layer, batch_first=False, from zero states;
the loss is sum(outputs * R) for a fixed R, and the golden holds the outputs and the gradients
of the input and of every parameter (PyTorch's layout: weight_ih (G·H, I), gates r, z, n /
i, f, g, o). Weights are drawn wider than PyTorch's default so the gates leave their linear
range.

Writes stages/tests/it/goldens/recurrent_grads.json (the format of scripts/actclr_reference.py),
which stages/tests/it/learn_fused.rs loads. Re-run to regenerate (deterministic):
  ~/.cache/skelflow-venv/bin/python scripts/recurrent_reference.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from actclr_reference import arr, save  # noqa: E402  (the goldens' JSON format)

torch.set_default_dtype(torch.float32)

T, N, I, H = 7, 3, 5, 4


def case(layer, g):
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * 0.8)
    x = (torch.randn(T, N, I, generator=g) * 1.5).requires_grad_()
    out, _ = layer(x)
    upstream = torch.randn(out.shape, generator=g)
    (out * upstream).sum().backward()
    params = dict(layer.named_parameters())
    return {
        "x": arr(x),
        "upstream": arr(upstream),
        "out": arr(out),
        "grad_x": arr(x.grad),
        "weights": {k: arr(p) for k, p in params.items()},
        "grads": {k: arr(p.grad) for k, p in params.items()},
    }


def golden():
    g = torch.Generator().manual_seed(5)
    return {
        "gru": case(nn.GRU(I, H, bidirectional=True), g),
        "lstm": case(nn.LSTM(I, H), g),
    }


if __name__ == "__main__":
    save("recurrent_grads", golden())
