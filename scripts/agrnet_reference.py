#!/usr/bin/env python3
"""PyTorch reference of AgRNet as skelflow reconstructs it. The paper's code is withheld, so this
is our own reconstruction from its description (an Informer-style encoder per branch with
AAGA = ProbSparse attention whose sparsity measure uses all keys, ADGA = attenuated distilling
z = maxpool(z) + lam * ConvLayer(z) between layers, PFM = a motion (first-difference) token
embedding, then a bidirectional tanh RNN per branch; trained by a "fixed state" GRU decoder per
branch). It exists so the Rust (burn) port can be checked against it: trainable-parameter counts,
forward features and the decoder loss.

The model (float32; x is (N, C=3, T, V=25, M)):
  body 0 -> (N, T, 75) joint-major (j0x j0y j0z j1x ...); valid frames = any value != 0 (mask m,
  (N, T, 1)); per sample and axis min-max over valid frames -> [-1, 1], padded frames kept 0 (xn).
  Branch "xyz" sees xn (tokens = frames, c_in 75), branch "t" sees xn^T (tokens = the 75
  coordinates, c_in T). Branch = circular Conv1d(k=3) token embedding (+ the same on the masked
  time difference of xn if pfm) + sinusoidal position embedding, dropout, `layers` Informer
  encoder layers (full or, if aaga, ProbSparse attention with u = min(factor*ceil(ln L), L) active
  queries, the others get mean(V)), with ADGA distilling between them if adga (L -> floor((L-1)/2)+1),
  final LayerNorm. Each branch output goes through its BiRnn; feature = cat(xyz final, t final)
  = (N, 4h).

Subcommands (deterministic, CPU only, one thread):

  ~/.cache/skelflow-venv/bin/python scripts/agrnet_reference.py counts
      one JSON line: the trainable parameter counts for the paper configuration (frames 50,
      d_model 512, heads 8, d_ff 512, layers 3, factor 5, rnn_hidden 1024, rnn_layers 3) with all
      switches on ("all_on") and all off ("all_off"): {"config", "all_on": {"aaga", "adga",
      "pfm", "encoder", "decoder", "total", "parts": {xyz, t, xyz_rnn, t_rnn, xyz_decoder,
      t_decoder}}, "all_off": {...}}.

  ~/.cache/skelflow-venv/bin/python scripts/agrnet_reference.py golden OUT.json
      small configuration (frames 12, d_model 16, heads 2, d_ff 24, layers 3, factor 2,
      rnn_hidden 8, rnn_layers 2, attenuation 0.5), eval mode (dropout off). x is
      (N=2, C=3, T=12, V=25, M=2) (scd_reference.make_input; sample 0 has body 1 all zeros and
      sample 1 has body 0's last 3 frames set to 0). Five switch sets (aaga, adga, pfm) =
      TTT, FTT, TFT, TTF, FFF, each with its own weights (torch.manual_seed(1000 + index)):
      Linear / Conv weights N(0, 1/fan_in), biases 0.1*N, LayerNorm weight 1+0.1*N, bias 0.1*N,
      BatchNorm weight 0.5+U(0,1), bias 0.2*N, running_mean 0.3*N, running_var 0.5+U(0,1.5).
      Writes
        {"config": {frames, d_model, heads, d_ff, layers, factor, rnn_hidden, rnn_layers,
                    attenuation},
         "x": tensor,
         "variants": [{"aaga", "adga", "pfm",
                       "state_dict": encoder entries (xyz.*, t.*, xyz_rnn.*, t_rnn.*),
                       "decoder_state_dict": xyz_decoder.*, t_decoder.*,
                       "xn": (N, T, 75), "xyz_out": (N, L', d), "t_out": (N, L'', d),
                       "feature": (N, 4h), "loss": float,
                       "counts": {"encoder", "decoder"}}, ...],
         "attention": {"q", "k", "v": (2, 2, 50, 8), "factor": 5, "u": 20, "sparse", "full",
                       "active": [[sorted active query indices] for each (n, h), n-major]}}
      every tensor is {"shape": [...], "data": flat row-major list of float32 values}; state-dict
      names are PyTorch's (e.g. xyz.token.weight, xyz.motion.weight, xyz.layers.0.query.weight,
      xyz.distil.0.norm.running_var, xyz_rnn.layers.1.bwd.hidden.weight,
      t_decoder.cell.input.weight); num_batches_tracked is left out; Linear weights are (out, in).
"""
import json
import math
import sys
import time

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # run from tests: leave no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scd_reference import enc, make_input  # noqa: E402  (the goldens' input and tensor encoding)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)

SMALL = {'frames': 12, 'd_model': 16, 'heads': 2, 'd_ff': 24, 'layers': 3, 'factor': 2,
         'rnn_hidden': 8, 'rnn_layers': 2, 'attenuation': 0.5}
PAPER = {'frames': 50, 'd_model': 512, 'heads': 8, 'd_ff': 512, 'layers': 3, 'factor': 5,
         'rnn_hidden': 1024, 'rnn_layers': 3, 'attenuation': 0.5}
DROPOUT = 0.05
COORDS = 75  # 25 joints x 3 axes

# ------------------------------------------------------------------ input preparation


def prepare(x):
    """x (N, 3, T, 25, M) -> xn (N, T, 75) normalised, m (N, T, 1) valid-frame mask."""
    N, C, T, V, _ = x.shape
    s = x[:, :, :, :, 0].permute(0, 2, 3, 1)  # (N, T, 25, 3)
    m = (s.reshape(N, T, V * C) != 0).any(-1, keepdim=True).to(x.dtype)  # (N, T, 1)
    valid = (m > 0).unsqueeze(-1)  # (N, T, 1, 1)
    big = torch.finfo(x.dtype).max
    lo = torch.where(valid, s, torch.full_like(s, big)).amin(dim=(1, 2), keepdim=True)  # (N,1,1,3)
    hi = torch.where(valid, s, torch.full_like(s, -big)).amax(dim=(1, 2), keepdim=True)
    any_valid = valid.any(dim=1, keepdim=True)  # (N, 1, 1, 1)
    lo = torch.where(any_valid, lo, torch.zeros_like(lo))
    hi = torch.where(any_valid, hi, torch.zeros_like(hi))
    xn = 2 * (s - lo) / torch.clamp(hi - lo, min=1e-6) - 1
    xn = xn.reshape(N, T, V * C) * m
    return xn, m


def time_diff(xn, m):
    """masked first difference along time: dx[:, t] = xn[:, t] - xn[:, t-1], dx[:, 0] = 0."""
    dx = torch.zeros_like(xn)
    dx[:, 1:] = xn[:, 1:] - xn[:, :-1]
    return dx * m


# ------------------------------------------------------------------ attention (AAGA / full)


def sparse_u(factor, L):
    return min(factor * math.ceil(math.log(L)), L)


def attention(q, k, v, aaga, factor):
    """q, k, v (N, H, L, dh) -> (context (N, H, L, dh), active indices (N, H, u) or None)."""
    L, dh = q.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(dh)
    qk = q @ k.transpose(-2, -1)  # unscaled (N, H, L, L)
    s = qk * scale
    if not aaga:
        return torch.softmax(s, dim=-1) @ v, None
    u = sparse_u(factor, L)
    M = qk.max(dim=-1).values - qk.mean(dim=-1)  # Informer's sparsity measure, all keys
    top = M.topk(u, dim=-1).indices  # (N, H, u)
    ctx = v.mean(dim=-2, keepdim=True).expand_as(v).clone()
    idx = top.unsqueeze(-1)
    s_top = torch.gather(s, -2, idx.expand(-1, -1, -1, L))  # (N, H, u, L)
    ctx.scatter_(-2, idx.expand(-1, -1, -1, v.shape[-1]), torch.softmax(s_top, dim=-1) @ v)
    return ctx, top


# ------------------------------------------------------------------ encoder


def positional(L, d):
    pos = torch.arange(L, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * -(math.log(10000.0) / d))
    pe = torch.zeros(L, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def seq_conv(conv, z):
    """apply a Conv1d / MaxPool1d along the sequence axis of (N, L, c)."""
    return conv(z.transpose(1, 2)).transpose(1, 2)


class Layer(nn.Module):  # Informer EncoderLayer + AttentionLayer (ff convs k=1 == Linear)
    def __init__(self, d, heads, d_ff, aaga, factor):
        super().__init__()
        self.heads, self.aaga, self.factor = heads, aaga, factor
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.ff1 = nn.Linear(d, d_ff)
        self.ff2 = nn.Linear(d_ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, z):
        N, L, d = z.shape
        H = self.heads

        def split(t):
            return t.view(N, L, H, d // H).transpose(1, 2)

        a, _ = attention(split(self.query(z)), split(self.key(z)), split(self.value(z)),
                         self.aaga, self.factor)
        a = a.transpose(1, 2).reshape(N, L, d)
        z = z + self.dropout(self.out(a))
        y = z = self.norm1(z)
        y = self.dropout(F.gelu(self.ff1(y)))
        y = self.dropout(self.ff2(y))
        return self.norm2(z + y)


class Distil(nn.Module):  # Informer ConvLayer
    def __init__(self, d):
        super().__init__()
        self.conv = nn.Conv1d(d, d, 3, padding=1, padding_mode='circular')
        self.norm = nn.BatchNorm1d(d)
        self.act = nn.ELU()
        self.pool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)

    def forward(self, z):  # (N, L, d) -> (N, L', d)
        return self.pool(self.act(self.norm(self.conv(z.transpose(1, 2))))).transpose(1, 2)


class Branch(nn.Module):
    def __init__(self, c_in, cfg, aaga, adga, pfm):
        super().__init__()
        d = cfg['d_model']
        self.d, self.adga, self.pfm, self.lam = d, adga, pfm, cfg['attenuation']
        self.token = nn.Conv1d(c_in, d, kernel_size=3, padding=1, padding_mode='circular', bias=False)
        if pfm:
            self.motion = nn.Conv1d(c_in, d, kernel_size=3, padding=1, padding_mode='circular',
                                    bias=False)
        self.dropout = nn.Dropout(DROPOUT)
        self.layers = nn.ModuleList([Layer(d, cfg['heads'], cfg['d_ff'], aaga, cfg['factor'])
                                     for _ in range(cfg['layers'])])
        self.distil = nn.ModuleList([Distil(d) for _ in range(cfg['layers'] - 1)] if adga else [])
        self.pool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)
        self.norm = nn.LayerNorm(d)

    def forward(self, inp, dinp=None):  # inp, dinp: (N, L, c_in) -> (N, L', d)
        L = inp.shape[1]
        emb = seq_conv(self.token, inp)
        if self.pfm:
            emb = emb + seq_conv(self.motion, dinp)
        z = self.dropout(emb + positional(L, self.d))
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            z = layer(z)
            if self.adga and i < n - 1:
                z = seq_conv(self.pool, z) + self.lam * self.distil[i](z)  # ADGA
        return self.norm(z)


class RnnCell(nn.Module):
    def __init__(self, n_in, h):
        super().__init__()
        self.input = nn.Linear(n_in, h)
        self.hidden = nn.Linear(h, h)

    def forward(self, x, hprev):
        return torch.tanh(self.input(x) + self.hidden(hprev))


class RnnLayer(nn.Module):
    def __init__(self, n_in, h):
        super().__init__()
        self.fwd = RnnCell(n_in, h)
        self.bwd = RnnCell(n_in, h)

    def forward(self, x):  # (N, L, n_in) -> outputs (N, L, 2h), final fwd (N, h), final bwd (N, h)
        N, L, _ = x.shape
        h = self.fwd.hidden.in_features
        hf = x.new_zeros(N, h)
        hb = x.new_zeros(N, h)
        outf, outb = [None] * L, [None] * L
        for t in range(L):
            hf = self.fwd(x[:, t], hf)
            outf[t] = hf
        for t in reversed(range(L)):
            hb = self.bwd(x[:, t], hb)
            outb[t] = hb
        out = torch.cat([torch.stack(outf, 1), torch.stack(outb, 1)], dim=-1)
        return out, hf, hb


class BiRnn(nn.Module):
    def __init__(self, n_in, h, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([RnnLayer(n_in if i == 0 else 2 * h, h) for i in range(num_layers)])

    def forward(self, x):  # (N, L, n_in) -> (N, 2h)
        for layer in self.layers:
            x, hf, hb = layer(x)
        return torch.cat([hf, hb], dim=-1)


class GruCell(nn.Module):  # torch.nn.GRUCell's gates (r, z, n) and formula
    def __init__(self, n_in, h):
        super().__init__()
        self.input = nn.Linear(n_in, 3 * h)
        self.hidden = nn.Linear(h, 3 * h)

    def forward(self, x, hprev):
        ir, iz, in_ = self.input(x).chunk(3, dim=-1)
        hr, hz, hn = self.hidden(hprev).chunk(3, dim=-1)
        r = torch.sigmoid(ir + hr)
        z = torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * hprev


class Decoder(nn.Module):
    def __init__(self, c_in, h2):
        super().__init__()
        self.cell = GruCell(c_in, h2)
        self.out = nn.Linear(h2, c_in)

    def loss(self, y, mask, e):
        """fixed-state decoding: y, mask (N, L, c_in), e (N, h2) -> masked L1 over steps 1..L-1."""
        L = y.shape[1]
        pred = y[:, 0]
        num = y.new_zeros(())
        for t in range(L - 1):
            pred = pred + self.out(self.cell(pred, e))
            num = num + ((pred - y[:, t + 1]).abs() * mask[:, t + 1]).sum()
        den = torch.clamp(mask[:, 1:].sum(), min=1.0)
        return num / den


class AgRNet(nn.Module):
    def __init__(self, cfg, aaga=True, adga=True, pfm=True):
        super().__init__()
        T, h = cfg['frames'], cfg['rnn_hidden']
        self.xyz = Branch(COORDS, cfg, aaga, adga, pfm)
        self.t = Branch(T, cfg, aaga, adga, pfm)
        self.xyz_rnn = BiRnn(cfg['d_model'], h, cfg['rnn_layers'])
        self.t_rnn = BiRnn(cfg['d_model'], h, cfg['rnn_layers'])
        self.xyz_decoder = Decoder(COORDS, 2 * h)
        self.t_decoder = Decoder(T, 2 * h)
        self.pfm = pfm

    def run(self, x):
        xn, m = prepare(x)
        dx = time_diff(xn, m) if self.pfm else None
        xyz_out = self.xyz(xn, dx)
        t_out = self.t(xn.transpose(1, 2), None if dx is None else dx.transpose(1, 2))
        xyz_final = self.xyz_rnn(xyz_out)
        t_final = self.t_rnn(t_out)
        feature = torch.cat([xyz_final, t_final], dim=-1)
        mask = m.expand_as(xn)
        loss = (self.xyz_decoder.loss(xn, mask, xyz_final)
                + self.t_decoder.loss(xn.transpose(1, 2), mask.transpose(1, 2), t_final))
        return {'xn': xn, 'm': m, 'xyz_out': xyz_out, 't_out': t_out, 'feature': feature,
                'loss': loss}

    def forward(self, x):
        return self.run(x)['feature']


ENCODER_PARTS = ('xyz', 't', 'xyz_rnn', 't_rnn')
DECODER_PARTS = ('xyz_decoder', 't_decoder')


def ntrain(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def part_counts(model):
    parts = {k: ntrain(getattr(model, k)) for k in ENCODER_PARTS + DECODER_PARTS}
    enc_n = sum(parts[k] for k in ENCODER_PARTS)
    dec_n = sum(parts[k] for k in DECODER_PARTS)
    assert enc_n + dec_n == ntrain(model)
    return enc_n, dec_n, parts


def split_state_dict(model):
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    e = {k: v for k, v in sd.items() if k.split('.', 1)[0] in ENCODER_PARTS}
    d = {k: v for k, v in sd.items() if k.split('.', 1)[0] in DECODER_PARTS}
    assert len(e) + len(d) == len(sd)
    return e, d


# ------------------------------------------------------------------ counts


def cmd_counts():
    t0 = time.time()
    res = {'config': PAPER}
    for name, sw in (('all_on', True), ('all_off', False)):
        model = AgRNet(PAPER, sw, sw, sw)
        e, d, parts = part_counts(model)
        res[name] = {'aaga': sw, 'adga': sw, 'pfm': sw, 'encoder': e, 'decoder': d,
                     'total': e + d, 'parts': parts}
        del model
    print(json.dumps(res))
    print(f'# counts took {time.time() - t0:.2f} s', file=sys.stderr)


# ------------------------------------------------------------------ golden


def randomize(model):
    """draws from the global generator (seed it first)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Linear, nn.Conv1d)):
                w = mod.weight
                w.copy_(torch.randn(w.shape) / math.sqrt(w[0].numel()))
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape))
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape))
            elif isinstance(mod, nn.BatchNorm1d):
                mod.weight.copy_(0.5 + torch.rand(mod.weight.shape))
                mod.bias.copy_(0.2 * torch.randn(mod.bias.shape))
                mod.running_mean.copy_(0.3 * torch.randn(mod.running_mean.shape))
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(mod.running_var.shape))
            else:
                assert not list(mod.parameters(recurse=False)), type(mod)


def self_checks(model, res):
    """cross-check the hand-written cells against torch's own modules (nothing is written)."""
    with torch.no_grad():
        for dec, e in ((model.xyz_decoder, res['feature'][:, :res['feature'].shape[1] // 2]),
                       (model.t_decoder, res['feature'][:, res['feature'].shape[1] // 2:])):
            ref = nn.GRUCell(dec.cell.input.in_features, dec.cell.hidden.in_features)
            ref.weight_ih.copy_(dec.cell.input.weight)
            ref.bias_ih.copy_(dec.cell.input.bias)
            ref.weight_hh.copy_(dec.cell.hidden.weight)
            ref.bias_hh.copy_(dec.cell.hidden.bias)
            x = torch.randn(e.shape[0], dec.cell.input.in_features)
            assert torch.allclose(ref(x, e), dec.cell(x, e), atol=1e-6)
        for rnn, z in ((model.xyz_rnn, res['xyz_out']), (model.t_rnn, res['t_out'])):
            h = rnn.layers[0].fwd.hidden.in_features
            ref = nn.RNN(z.shape[-1], h, num_layers=len(rnn.layers), batch_first=True,
                         bidirectional=True)
            for i, layer in enumerate(rnn.layers):
                for cell, sfx in ((layer.fwd, ''), (layer.bwd, '_reverse')):
                    getattr(ref, f'weight_ih_l{i}{sfx}').copy_(cell.input.weight)
                    getattr(ref, f'bias_ih_l{i}{sfx}').copy_(cell.input.bias)
                    getattr(ref, f'weight_hh_l{i}{sfx}').copy_(cell.hidden.weight)
                    getattr(ref, f'bias_hh_l{i}{sfx}').copy_(cell.hidden.bias)
            _, hn = ref(z)
            assert torch.allclose(torch.cat([hn[-2], hn[-1]], -1), rnn(z), atol=1e-5)


def cmd_golden(path):
    t0 = time.time()
    cfg = SMALL
    g = torch.Generator().manual_seed(20240613)
    x = make_input(g, N=2, T=cfg['frames'])
    x[1, :, -3:, :, 0] = 0.0  # sample 1: body 0's last 3 frames are padding
    variants, info = [], []
    switch_sets = ((True, True, True), (False, True, True), (True, False, True),
                   (True, True, False), (False, False, False))
    for i, (aaga, adga, pfm) in enumerate(switch_sets):
        torch.manual_seed(1000 + i)
        model = AgRNet(cfg, aaga, adga, pfm)
        randomize(model)
        model.eval()
        with torch.no_grad():
            res = model.run(x)
        self_checks(model, res)
        e_sd, d_sd = split_state_dict(model)
        e_n, d_n, _ = part_counts(model)
        variants.append({'aaga': aaga, 'adga': adga, 'pfm': pfm,
                         'state_dict': {k: enc(v) for k, v in e_sd.items()},
                         'decoder_state_dict': {k: enc(v) for k, v in d_sd.items()},
                         'xn': enc(res['xn']), 'xyz_out': enc(res['xyz_out']),
                         't_out': enc(res['t_out']), 'feature': enc(res['feature']),
                         'loss': float(res['loss']), 'counts': {'encoder': e_n, 'decoder': d_n}})
        info.append({'switches': [aaga, adga, pfm], 'xyz_out': list(res['xyz_out'].shape),
                     't_out': list(res['t_out'].shape), 'feature': list(res['feature'].shape),
                     'loss': float(res['loss']), 'encoder': e_n, 'decoder': d_n,
                     'max_abs_feature': float(res['feature'].abs().max()),
                     'valid_frames': res['m'].sum((1, 2)).tolist()})

    # standalone attention check
    torch.manual_seed(2000)
    q, k, v = (torch.randn(2, 2, 50, 8) for _ in range(3))
    factor = 5
    u = sparse_u(factor, 50)
    sparse, top = attention(q, k, v, True, factor)
    full, _ = attention(q, k, v, False, factor)
    assert torch.allclose(full, F.scaled_dot_product_attention(q, k, v), atol=1e-5)
    vmean = v.mean(dim=-2, keepdim=True)
    n_mean = (sparse == vmean).all(-1).sum(-1)  # rows equal to mean(V) per (n, h)
    assert bool((n_mean == 50 - u).all()), n_mean
    active = [sorted(top[n, h].tolist()) for n in range(2) for h in range(2)]
    for n in range(2):
        for h in range(2):
            idx = active[2 * n + h]
            assert torch.allclose(sparse[n, h, idx], full[n, h, idx], atol=1e-6)
    att = {'q': enc(q), 'k': enc(k), 'v': enc(v), 'factor': factor, 'u': u,
           'sparse': enc(sparse), 'full': enc(full), 'active': active}

    out = {'config': cfg, 'x': enc(x), 'variants': variants, 'attention': att}
    with open(path, 'w') as f:
        json.dump(out, f)
    print(json.dumps({'written': path, 'variants': info, 'attention_u': u,
                      'attention_mean_rows': n_mean.tolist()}))
    print(f'# golden took {time.time() - t0:.2f} s', file=sys.stderr)


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'counts':
        cmd_counts()
    elif len(sys.argv) >= 3 and sys.argv[1] == 'golden':
        cmd_golden(sys.argv[2])
    else:
        sys.exit(__doc__)
