#!/usr/bin/env python3
"""PyTorch reference of the BiGRU encoder of CMD / ISC / A²MC (ML-FACTS §2.2), transcribed
from CMD's moco/GRU.py and moco/builder_cmd.py: clips (N, C, T, V, M) flattened per frame as
`permute(0, 2, 3, 1, 4)` (index v*6 + c*2 + m), `BatchNorm1d(150)` over the features, then
`nn.GRU(bidirectional=True, batch_first=True)` driven one frame at a time with the hidden
state carried (`EncoderRNN.forward`), the feature being the output at the last frame. Also
the true bidirectional pass (one call over the whole sequence; last layer's final states,
forward after the last frame and reverse after the first), skelflow's `drive: bidirectional`.

Writes stages/tests/it/goldens/bigru_drive.json (same format as scripts/actclr_reference.py),
which stages/tests/it/learn_models.rs loads into skelflow's BiGRU: non-trivial random GRU
weights and BN running statistics (eval mode), one input batch, and the features of

  per_frame_h8_l1    frame-by-frame drive, hidden 8, 1 layer
  per_frame_h16_l2   frame-by-frame drive, hidden 16, 2 layers
  bidir_h16_l2       true bidirectional pass, the same h16_l2 weights

Re-run to regenerate (deterministic):
  ~/.cache/skelflow-venv/bin/python scripts/gru_reference.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from actclr_reference import arr, save  # noqa: E402  (the goldens' JSON format)

torch.set_default_dtype(torch.float32)

N, C, T, V, M = 3, 3, 12, 25, 2
IN = C * V * M


class EncoderRNN(nn.Module):  # CMD moco/GRU.py, less the device moves
    def __init__(self, input_size, hidden_size, num_layers):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers, bidirectional=True, batch_first=True)

    def forward(self, input_tensor, seq_len):
        encoder_hidden = torch.Tensor()
        for it in range(max(seq_len)):
            if it == 0:
                enout_tmp, hidden_tmp = self.gru(input_tensor[:, it:it + 1, :])
            else:
                enout_tmp, hidden_tmp = self.gru(input_tensor[:, it:it + 1, :], hidden_tmp)
            encoder_hidden = torch.cat((encoder_hidden, enout_tmp), 1)
        hidden = torch.empty((1, len(seq_len), encoder_hidden.shape[-1]))
        for count, ith_len in enumerate(seq_len):
            hidden[0, count, :] = encoder_hidden[count, ith_len - 1, :]
        return hidden


class BIGRU(nn.Module):  # CMD moco/GRU.py; knn_eval=True returns the feature before fc
    def __init__(self, en_input_size, en_hidden_size, en_num_layers):
        super().__init__()
        self.encoder = EncoderRNN(en_input_size, en_hidden_size, en_num_layers)
        self.input_norm = nn.BatchNorm1d(en_input_size)

    def forward(self, input_tensor):
        input_tensor = self.input_norm(input_tensor.permute(0, 2, 1).contiguous()).permute(0, 2, 1).contiguous()
        seq_len = torch.zeros(input_tensor.size(0), dtype=int) + input_tensor.size(1)
        return self.encoder(input_tensor, seq_len)[0]

    def bidirectional(self, input_tensor):
        """One pass over the whole sequence: the paper's bidirectional GRU."""
        x = self.input_norm(input_tensor.permute(0, 2, 1)).permute(0, 2, 1)
        _, h = self.encoder.gru(x)
        return torch.cat([h[-2], h[-1]], dim=1)


def flatten(x):  # CMD builder_cmd.py: permute(0,2,3,1,4).reshape(N,T,-1)
    n, c, t, v, m = x.size()
    return x.permute(0, 2, 3, 1, 4).reshape(n, t, -1)


def model(hidden, layers, g):
    """CMD's BIGRU with weights wide enough to keep the gates away from 0.5 and ±1, and BN
    statistics far from (0, 1), so that a wrong order, drive or statistic shows."""
    m = BIGRU(IN, hidden, layers)
    with torch.no_grad():
        for name, p in m.encoder.gru.named_parameters():
            bound = 1.5 / (p.shape[-1] ** 0.5) if p.dim() == 2 else 0.5
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
        bn = m.input_norm
        bn.weight.copy_(0.5 + torch.rand(IN, generator=g))
        bn.bias.copy_(0.3 * torch.randn(IN, generator=g))
        bn.running_mean.copy_(0.5 * torch.randn(IN, generator=g))
        bn.running_var.copy_(0.3 + 2 * torch.rand(IN, generator=g))
    return m.eval()


def weights(m):
    """PyTorch's layout: gru.weight_ih_l{k}[_reverse] (3H, in), gates r, z, n."""
    d = {k: arr(v) for k, v in m.encoder.gru.state_dict().items()}
    bn = m.input_norm
    d.update({"bn.weight": arr(bn.weight), "bn.bias": arr(bn.bias),
              "bn.running_mean": arr(bn.running_mean), "bn.running_var": arr(bn.running_var)})
    return d


def forward_in_time(m, x):
    """What the frame-by-frame drive amounts to (ML-FACTS §2.2): per layer, each direction a
    forward-in-time recurrence with its own weights over the previous layer's outputs."""
    sd = m.encoder.gru.state_dict()
    h = m.input_norm(x.permute(0, 2, 1)).permute(0, 2, 1)
    for k in range(m.encoder.gru.num_layers):
        outs = []
        for sfx in ["", "_reverse"]:
            w_ih, w_hh = sd[f"weight_ih_l{k}{sfx}"], sd[f"weight_hh_l{k}{sfx}"]
            b_ih, b_hh = sd[f"bias_ih_l{k}{sfx}"], sd[f"bias_hh_l{k}{sfx}"]
            s, seq = torch.zeros(x.size(0), w_hh.size(1)), []
            for t in range(x.size(1)):
                gi, gh = h[:, t] @ w_ih.t() + b_ih, s @ w_hh.t() + b_hh
                r, z = torch.sigmoid(gi[:, :2 * s.size(1)] + gh[:, :2 * s.size(1)]).chunk(2, 1)
                n = torch.tanh(gi[:, 2 * s.size(1):] + r * gh[:, 2 * s.size(1):])
                s = (1 - z) * n + z * s
                seq.append(s)
            outs.append(torch.stack(seq, 1))
        h = torch.cat(outs, 2)
    return h[:, -1]


def golden():
    g = torch.Generator().manual_seed(11)
    # per-channel offsets and scales, as raw coordinates have
    x = torch.randn(N, C, T, V, M, generator=g) * (0.5 + torch.rand(1, C, 1, V, M, generator=g)) \
        + 0.3 * torch.randn(1, C, 1, V, M, generator=g)
    out = {"x": arr(x), "input_bn_eps": 1e-5}
    with torch.no_grad():
        for hidden, layers in [(8, 1), (16, 2)]:
            m = model(hidden, layers, g)
            tag = f"h{hidden}_l{layers}"
            per_frame = m(flatten(x))
            assert torch.allclose(per_frame, forward_in_time(m, flatten(x)), atol=1e-5)
            out[tag] = {"hidden": hidden, "layers": layers, "weights": weights(m), "per_frame": arr(per_frame)}
            bidir = m.bidirectional(flatten(x))
            out[tag]["bidirectional"] = arr(bidir)
            # the reverse halves differ between drives; the forward halves agree
            gap = (per_frame - bidir).abs()
            print(f"{tag}: |per_frame - bidirectional| forward half max {gap[:, :hidden].max():.2e}, "
                  f"reverse half max {gap[:, hidden:].max():.3f}; feature |max| {per_frame.abs().max():.3f}")
    return out


if __name__ == "__main__":
    save("bigru_drive", golden())
