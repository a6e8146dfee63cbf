#!/usr/bin/env python3
"""PyTorch reference of SCD-Net's encoder as A²MC's public code uses it (A²MC scd/scd_encoder.py
+ SCD-Net model/ctrgcn.py, graph/ntu_rgb_d.py, graph/tools.py), transcribed from their
description. It exists so the Rust (burn) port of the SCD encoder can be checked against it:
trainable-parameter counts, forward features, and a training step's batch statistics and
gradients.

Differences from the public code: `Encoder.__init__` hard-codes c = 64 and frames = 64; here both
are arguments so a small test configuration can be used. No einops: the rearranges are written
with view/permute/reshape.

Subcommands (deterministic, CPU only, one thread):

  ~/.cache/skelflow-venv/bin/python scripts/scd_reference.py counts
      one JSON line per configuration (full size d=2048, heads=8, layers=1, c=64, frames=64,
      num_class=128; small d=32, heads=4, layers=1, c=8, frames=12, num_class=16) with the
      trainable parameter counts, total and per part, and the BatchNorm buffer element count
      (running_mean + running_var, not num_batches_tracked).

  ~/.cache/skelflow-venv/bin/python scripts/scd_reference.py golden OUT.json
      small configuration, every parameter and BN buffer set to non-trivial random values, eval
      mode (dropout off; weights N(0, 1/fan_in), CTRGC conv4 weights further / sqrt(25) and
      conv3 weights / sqrt(3) so the trunk stays O(1), BN/LayerNorm weight 0.5+U(0,1), bias
      0.2*N, running_mean 0.3*N, running_var 0.5+U(0,1.5), alpha 0.7, PA = A + 0.1*N); writes {"config", "x", "state_dict", "vt", "vs", "zt", "zs", "zi",
      "gcn_t_out", "gcn_s_out"}; every tensor is {"shape": [...], "data": flat row-major list of
      float32 values}. x is (N=3, C=3, T=12, V=25, M=2), sample 0 has person 2 all zeros.
      state_dict holds every entry of model.state_dict() except num_batches_tracked, named as
      PyTorch names them (e.g. encoder.gcn_t.l1.gcn1.convs.0.conv1.weight,
      encoder.gcn_t.l1.tcn1.branches.0.3.conv.weight, encoder.channel_t.1.weight,
      encoder.t_encoder.layers.0.self_attn.in_proj_weight). Note that
      `*.self_attn.in_proj_weight` is (3d, d) with rows [q; k; v] (in_proj_bias likewise (3d,)),
      and Linear weights are (out, in). gcn_t_out / gcn_s_out are the (N*M, c, T, V) outputs of
      the two CTR-GCN trunks (before the rearrange), for debugging.
      "train" is the same model (same state dict) in train mode with dropout off, as a
      pretraining step runs it: two forwards of x (encoder.features(x), then model(x), each
      updating the BN running statistics), the loss
      sum(cat(vt, vs) * w_v) + sum(zi * w_i) + sum(zt * w_t) + sum(zs * w_s) with fixed random
      weights, and its gradients: {"w_v", "w_i", "w_t", "w_s", "loss", "vt", "vs", "zi", "zt",
      "zs" (second forward), "grad_x", "grads" {parameter name: d loss / d parameter},
      "running_mean" {BN name: running_mean after the two forwards}}.
"""
import copy
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)
# plain (math) path of TransformerEncoderLayer in eval mode, not the fused fast path
torch.backends.mha.set_fastpath_enabled(False)

# ------------------------------------------------------------------ graph (CTR-GCN ntu_rgb_d)

NUM_NODE = 25
SELF_LINK = [(i, i) for i in range(NUM_NODE)]
INWARD_ORI_INDEX = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
                    (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
                    (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]
INWARD = [(i - 1, j - 1) for (i, j) in INWARD_ORI_INDEX]
OUTWARD = [(j, i) for (i, j) in INWARD]


def edge2mat(link, num_node):
    A = np.zeros((num_node, num_node))
    for i, j in link:
        A[j, i] = 1
    return A


def normalize_digraph(A):
    Dl = np.sum(A, 0)
    h, w = A.shape
    Dn = np.zeros((w, w))
    for i in range(w):
        if Dl[i] > 0:
            Dn[i, i] = Dl[i] ** (-1)
    return np.dot(A, Dn)


def spatial_graph():
    I = edge2mat(SELF_LINK, NUM_NODE)
    In = normalize_digraph(edge2mat(INWARD, NUM_NODE))
    Out = normalize_digraph(edge2mat(OUTWARD, NUM_NODE))
    return np.stack((I, In, Out))  # (3, 25, 25)


# ------------------------------------------------------------------ CTR-GCN (SCD-Net model/ctrgcn.py)


class CTRGC(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.rel_channels = 8 if in_channels in (3, 9) else in_channels // 8
        self.conv1 = nn.Conv2d(in_channels, self.rel_channels, kernel_size=1)
        self.conv2 = nn.Conv2d(in_channels, self.rel_channels, kernel_size=1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.conv4 = nn.Conv2d(self.rel_channels, out_channels, kernel_size=1)
        self.tanh = nn.Tanh()

    def forward(self, x, A, alpha):
        x1, x2, x3 = self.conv1(x).mean(-2), self.conv2(x).mean(-2), self.conv3(x)
        x1 = self.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2))  # (N, R, V, V)
        x1 = self.conv4(x1) * alpha + A[None, None]  # (N, C, V, V)
        return torch.einsum('ncuv,nctv->nctu', x1, x3)


class UnitGCN(nn.Module):  # unit_gcn
    def __init__(self, in_channels, out_channels, A):
        super().__init__()
        self.num_subset = A.shape[0]
        self.convs = nn.ModuleList([CTRGC(in_channels, out_channels) for _ in range(self.num_subset)])
        if in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        else:
            self.down = None
        self.PA = nn.Parameter(torch.from_numpy(A.astype(np.float32)))
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        y = None
        for i in range(self.num_subset):
            z = self.convs[i](x, self.PA[i], self.alpha)
            y = z + y if y is not None else z
        y = self.bn(y)
        y = y + (self.down(x) if self.down is not None else x)
        return self.relu(y)


class TemporalConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1):
        super().__init__()
        pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=(kernel_size, 1), padding=(pad, 0),
                              stride=(stride, 1), dilation=(dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class MultiScaleTemporalConv(nn.Module):  # MultiScale_TemporalConv, residual=False
    def __init__(self, in_channels, out_channels, kernel_size=5, stride=1, dilations=(1, 2)):
        super().__init__()
        num_branches = len(dilations) + 2
        bc = out_channels // num_branches
        branches = [nn.Sequential(nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(),
                                  TemporalConv(bc, bc, kernel_size, stride=stride, dilation=d))
                    for d in dilations]
        branches.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(),
                                      nn.MaxPool2d(kernel_size=(3, 1), stride=(stride, 1), padding=(1, 0)),
                                      nn.BatchNorm2d(bc)))
        branches.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1, stride=(stride, 1)), nn.BatchNorm2d(bc)))
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)  # + residual (0)


class UnitTCN(nn.Module):  # unit_tcn(in, out, kernel_size=1)
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=(1, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class TCNGCNUnit(nn.Module):  # TCN_GCN_unit
    def __init__(self, in_channels, out_channels, A, residual=True):
        super().__init__()
        self.gcn1 = UnitGCN(in_channels, out_channels, A)
        self.tcn1 = MultiScaleTemporalConv(out_channels, out_channels, kernel_size=5, dilations=(1, 2))
        self.relu = nn.ReLU()
        if not residual:
            self.residual = None
            self.res_kind = 'zero'
        elif in_channels == out_channels:
            self.residual = None
            self.res_kind = 'identity'
        else:
            self.residual = UnitTCN(in_channels, out_channels)
            self.res_kind = 'tcn'

    def forward(self, x):
        if self.res_kind == 'zero':
            res = 0
        elif self.res_kind == 'identity':
            res = x
        else:
            res = self.residual(x)
        return self.relu(self.tcn1(self.gcn1(x)) + res)


class CTRGCNModel(nn.Module):  # SCD-Net ctrgcn.Model (3 units)
    def __init__(self, base_channel=64, num_point=25, num_person=2, in_channels=3):
        super().__init__()
        A = spatial_graph()
        self.num_point = num_point
        self.data_bn = nn.BatchNorm1d(num_person * in_channels * num_point)
        c = base_channel
        self.l1 = TCNGCNUnit(in_channels, c, A, residual=False)
        self.l2 = TCNGCNUnit(c, 4 * c, A)
        self.l3 = TCNGCNUnit(4 * c, c, A)

    def forward(self, x):  # x: (N, C, T, V, M)
        N, C, T, V, M = x.shape
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(N, M * V * C, T)
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).contiguous().view(N * M, C, T, V)
        return self.l3(self.l2(self.l1(x)))  # (N*M, c, T, V)


# ------------------------------------------------------------------ A²MC scd/scd_encoder.py


class Encoder(nn.Module):
    def __init__(self, d_model, heads, layers, c=64, frames=64, num_person=2, num_point=25):
        super().__init__()
        self.M = num_person
        self.gcn_t = CTRGCNModel(c)
        self.gcn_s = CTRGCNModel(c)
        self.channel_t = nn.Sequential(nn.Linear(num_person * num_point * c, d_model), nn.LayerNorm(d_model),
                                       nn.ReLU(True), nn.Linear(d_model, d_model))
        self.channel_s = nn.Sequential(nn.Linear(frames * c, d_model), nn.LayerNorm(d_model),
                                       nn.ReLU(True), nn.Linear(d_model, d_model))
        # local in the public code (not a registered submodule); TransformerEncoder deep-copies it
        encoder_layer = nn.TransformerEncoderLayer(d_model, heads, d_model, batch_first=True)
        self.t_encoder = nn.TransformerEncoder(encoder_layer, layers, enable_nested_tensor=False)
        self.s_encoder = nn.TransformerEncoder(encoder_layer, layers, enable_nested_tensor=False)

    def features(self, x):
        B = x.shape[0]
        M = self.M
        gt = self.gcn_t(x)  # (B*M, C, T, V)
        _, C, T, V = gt.shape
        # '(B M) C T V -> B T (M V C)'
        vt = gt.view(B, M, C, T, V).permute(0, 3, 1, 4, 2).reshape(B, T, M * V * C)
        vt = self.channel_t(vt)
        gs = self.gcn_s(x)
        # '(B M) C T V -> B (M V) (T C)'
        vs = gs.view(B, M, C, T, V).permute(0, 1, 4, 3, 2).reshape(B, M * V, T * C)
        vs = self.channel_s(vs)
        vt = self.t_encoder(vt)
        vs = self.s_encoder(vs)
        return vt.amax(dim=1), vs.amax(dim=1), gt, gs

    def forward(self, x):
        vt, vs, _, _ = self.features(x)
        return vt, vs


class PretrainingEncoder(nn.Module):
    def __init__(self, d_model, heads, layers, num_class=128, c=64, frames=64):
        super().__init__()
        self.encoder = Encoder(d_model, heads, layers, c=c, frames=frames)
        self.t_proj = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(True), nn.Linear(d_model, num_class))
        self.s_proj = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(True), nn.Linear(d_model, num_class))
        self.i_proj = nn.Sequential(nn.Linear(2 * d_model, d_model), nn.ReLU(True), nn.Linear(d_model, num_class))

    def heads(self, vt, vs):
        return self.t_proj(vt), self.s_proj(vs), self.i_proj(torch.cat([vt, vs], dim=1))

    def forward(self, x):
        vt, vs = self.encoder(x)
        return self.heads(vt, vs)


# ------------------------------------------------------------------ configurations

FULL = dict(d_model=2048, heads=8, layers=1, c=64, frames=64, num_class=128)
SMALL = dict(d_model=32, heads=4, layers=1, c=8, frames=12, num_class=16)
PARTS = ['encoder.gcn_t', 'encoder.gcn_s', 'encoder.channel_t', 'encoder.channel_s',
         'encoder.t_encoder', 'encoder.s_encoder', 't_proj', 's_proj', 'i_proj']


def build(cfg):
    return PretrainingEncoder(cfg['d_model'], cfg['heads'], cfg['layers'], num_class=cfg['num_class'],
                              c=cfg['c'], frames=cfg['frames'])


def ntrain(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def counts(name, cfg):
    with torch.device('meta'):  # shapes only, no storage / init cost
        model = build(cfg)
    parts = {p: ntrain(model.get_submodule(p)) for p in PARTS}
    total = ntrain(model)
    assert total == sum(parts.values())
    bn = sum(b.numel() for n, b in model.named_buffers() if n.endswith(('running_mean', 'running_var')))
    return {'config': name, **cfg, 'total': total, 'parts': parts,
            'total_without_i_proj': total - parts['i_proj'],
            'encoder_only': ntrain(model.encoder),
            'bn_buffer_elements': bn}


def cmd_counts():
    t0 = time.time()
    for name, cfg in (('full', FULL), ('small', SMALL)):
        print(json.dumps(counts(name, cfg)))
    full = counts('full', FULL)
    ref = 83.26e6
    msg = {'cross_check': 'A2MC paper table / ML-FACTS: SCD-Net 83.26M',
           'total_M': round(full['total'] / 1e6, 2),
           'total_without_i_proj_M': round(full['total_without_i_proj'] / 1e6, 2),
           'encoder_only_M': round(full['encoder_only'] / 1e6, 2),
           'matches_total': round(full['total'] / 1e6, 2) == 83.26,
           'matches_without_i_proj': round(full['total_without_i_proj'] / 1e6, 2) == 83.26,
           'diff_total_vs_ref': full['total'] - int(ref)}
    print(json.dumps(msg))
    print(f'# counts took {time.time() - t0:.2f} s', file=sys.stderr)


# ------------------------------------------------------------------ golden


def randomize(model, g):
    def n(shape):
        return torch.randn(shape, generator=g)

    def u(shape):
        return torch.rand(shape, generator=g)

    norm_types = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)
    with torch.no_grad():
        for mname, m in model.named_modules():
            if isinstance(m, norm_types):
                m.weight.copy_(0.5 + u(m.weight.shape))
                m.bias.copy_(0.2 * n(m.bias.shape))
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    m.running_mean.copy_(0.3 * n(m.running_mean.shape))
                    m.running_var.copy_(0.5 + 1.5 * u(m.running_var.shape))
            elif isinstance(m, UnitGCN):
                m.PA.copy_(torch.from_numpy(spatial_graph().astype(np.float32)) + 0.1 * n(m.PA.shape))
                m.alpha.fill_(0.7)
        for pname, p in model.named_parameters():
            leaf = pname.rsplit('.', 1)[-1]
            owner = model.get_submodule(pname.rsplit('.', 1)[0]) if '.' in pname else model
            if isinstance(owner, norm_types) or leaf in ('PA', 'alpha'):
                continue
            if p.dim() >= 2:  # Linear (out, in), Conv2d (out, in, kh, kw), in_proj (3d, d)
                fan_in = p[0].numel()
                p.copy_(n(p.shape) / math.sqrt(fan_in))
            else:  # biases
                p.copy_(0.2 * n(p.shape))
        # keep the CTR-GCN trunk O(1): conv4's learned topology is summed over V joints and the
        # three CTRGC outputs are summed, so damp those two weights (otherwise ~10x per unit)
        for m in model.modules():
            if isinstance(m, CTRGC):
                m.conv4.weight.mul_(1.0 / math.sqrt(NUM_NODE))
                m.conv3.weight.mul_(1.0 / math.sqrt(3.0))


def make_input(g, N=3, C=3, T=12, V=25, M=2):
    chan_joint = 0.5 * torch.randn((1, C, 1, V, 1), generator=g)  # per channel/joint offset
    person = 0.3 * torch.randn((N, C, 1, 1, M), generator=g)  # per body position
    drift = 0.05 * torch.randn((N, C, T, 1, M), generator=g).cumsum(2)  # slow motion
    noise = 0.05 * torch.randn((N, C, T, V, M), generator=g)
    x = chan_joint + person + drift + noise
    x[0, :, :, :, 1] = 0.0  # sample 0: single actor, person 2 zero-padded
    return x.float()


def enc(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'shape': list(t.shape), 'data': t.reshape(-1).tolist()}


def without_dropout(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0


def train_step(model, x, g):
    """Batch statistics and gradients of a pretraining-style step (see the docstring)."""
    model = copy.deepcopy(model)
    without_dropout(model)
    model.train()
    xg = x.clone().requires_grad_(True)
    vt, vs, _, _ = model.encoder.features(xg)
    zt, zs, zi = model(xg)
    n, k = x.shape[0], zi.shape[1]
    w = {'w_v': torch.randn((n, 2 * vt.shape[1]), generator=g), 'w_i': torch.randn((n, k), generator=g),
         'w_t': torch.randn((n, k), generator=g), 'w_s': torch.randn((n, k), generator=g)}
    loss = ((torch.cat([vt, vs], 1) * w['w_v']).sum() + (zi * w['w_i']).sum()
            + (zt * w['w_t']).sum() + (zs * w['w_s']).sum())
    loss.backward()
    grads = {name: enc(p.grad if p.grad is not None else torch.zeros_like(p))
             for name, p in model.named_parameters()}
    running = {name[:-len('.running_mean')]: enc(b) for name, b in model.named_buffers()
               if name.endswith('running_mean')}
    return {**{k: enc(v) for k, v in w.items()}, 'loss': float(loss.detach()),
            'vt': enc(vt), 'vs': enc(vs), 'zi': enc(zi), 'zt': enc(zt), 'zs': enc(zs),
            'grad_x': enc(xg.grad), 'grads': grads, 'running_mean': running}


def cmd_golden(path):
    t0 = time.time()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(20240613)
    cfg = SMALL
    model = build(cfg)
    randomize(model, g)
    model.eval()
    x = make_input(g, T=cfg['frames'])
    with torch.no_grad():
        vt, vs, gt, gs = model.encoder.features(x)
        zt, zs, zi = model.heads(vt, vs)
        zt2, zs2, zi2 = model(x)
    assert torch.equal(zt, zt2) and torch.equal(zs, zs2) and torch.equal(zi, zi2)
    sd = {k: enc(v) for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    out = {'config': {**cfg, 'N': x.shape[0], 'C': 3, 'T': cfg['frames'], 'V': 25, 'M': 2,
                      'dim_feedforward': cfg['d_model'], 'activation': 'relu', 'norm_first': False,
                      'layer_norm_eps': 1e-5, 'bn_eps': 1e-5, 'dropout': 'eval (off)',
                      'x_layout': 'N C T V M', 'note': 'in_proj_weight is (3d, d) with rows [q; k; v]'},
           'x': enc(x), 'state_dict': sd,
           'vt': enc(vt), 'vs': enc(vs), 'zt': enc(zt), 'zs': enc(zs), 'zi': enc(zi),
           'gcn_t_out': enc(gt), 'gcn_s_out': enc(gs),
           'train': train_step(model, x, g)}
    with open(path, 'w') as f:
        json.dump(out, f)
    info = {'written': path, 'state_dict_entries': len(sd),
            'state_dict_elements': sum(len(v['data']) for v in sd.values()),
            'trainable_params': ntrain(model)}
    for k, t in (('vt', vt), ('vs', vs), ('zt', zt), ('zs', zs), ('zi', zi), ('gcn_t_out', gt), ('gcn_s_out', gs)):
        info[f'max_abs_{k}'] = float(t.abs().max())
    print(json.dumps(info))
    print(f'# golden took {time.time() - t0:.2f} s', file=sys.stderr)


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'counts':
        cmd_counts()
    elif len(sys.argv) >= 3 and sys.argv[1] == 'golden':
        cmd_golden(sys.argv[2])
    else:
        sys.exit(__doc__)
