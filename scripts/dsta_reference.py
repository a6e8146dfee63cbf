#!/usr/bin/env python3
"""PyTorch reference of DSTA-Net (Shi et al., "Decoupled Spatial-Temporal Attention Network",
lshiwjx/DSTA-Net model/dstanet.py), the transformer encoder of A²MC's Table I, transcribed from its
description. It exists so the Rust (burn) port can be checked against it: trainable-parameter
counts and forward features.

Differences from the public code: DSTA-Net's classifier (dropout + Linear(out_c, num_class)) is
replaced by the MoCo pre-training head fc = Sequential(Linear(c, c), ReLU, Linear(c, num_class))
(state-dict names fc.0.*, fc.2.*). Only the default switches are implemented (num_subset=3,
kernel_size=1, glo_reg_s=True, att_s=True, glo_reg_t=False, att_t=True, use_pes=use_pet=True,
attentiondrop=0, LeakyReLU(0.1)).

Subcommands (deterministic, CPU only, one thread):

  ~/.cache/skelflow-venv/bin/python scripts/dsta_reference.py counts
      one JSON line per configuration (full: DSTA-Net's 8-layer config, num_frame 64, head
      256 -> 256 -> 128; small: [[8,8,4,1],[8,16,4,2],[16,16,4,1]], num_frame 12, head
      16 -> 16 -> 8) with the trainable parameter counts (total, backbone = input_map + layers,
      per graph layer, input_map, fc), the BatchNorm buffer element count (running_mean +
      running_var) and the names + shapes of the other buffers (pe / atts / attt).

  ~/.cache/skelflow-venv/bin/python scripts/dsta_reference.py golden OUT.json
      small configuration, eval mode, every parameter and BN buffer set to non-trivial random
      values (conv / linear weights N(0, 1/fan_in), out_nets / out_nett weights further times
      V**-0.75 / T**-0.75, ff_nets / ff_nett weights times 0.5 (see randomize), BN weight 0.5+U(0,1), bias 0.2*N, running_mean 0.3*N, running_var
      0.5+U(0,1.5), alphas / alphat 0.5+U(0,1), attention0s (1 + 0.5*N) / V); writes
      {"config", "x", "state_dict", "backbone", "projection", "input_map_out", "layer_outs"};
      every tensor is {"shape": [...], "data": flat row-major list of float32 values}.
      x is (N=3, C=3, T=12, V=25, M=2), sample 0 has person 2 all zeros. state_dict holds every
      entry of model.state_dict() (buffers pe / atts / attt included) except num_batches_tracked,
      named as PyTorch names them (e.g. graph_layers.1.pes.pe, graph_layers.1.in_nets.weight,
      graph_layers.1.downt2.0.weight, fc.2.bias). backbone is (N, c_out), projection
      (N, num_class). input_map_out (N*M, c0, T, V) and layer_outs (list, one (N*M, c, T_i, V)
      per graph layer) are intermediate activations for debugging.
"""
import json
import math
import sys
import time

import os

import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # run from tests: leave no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scd_reference import enc, make_input  # noqa: E402  (the goldens' input and tensor encoding)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)

# ------------------------------------------------------------------ DSTA-Net (model/dstanet.py)


class PositionalEncoding(nn.Module):
    def __init__(self, channel, joint_num, time_len, domain):
        super().__init__()
        if domain == 'temporal':
            pos_list = [t for t in range(time_len) for j in range(joint_num)]
        elif domain == 'spatial':
            pos_list = [j for t in range(time_len) for j in range(joint_num)]
        else:
            raise ValueError(domain)
        position = torch.tensor(pos_list).unsqueeze(1).float()
        pe = torch.zeros(time_len * joint_num, channel)
        div_term = torch.exp(torch.arange(0, channel, 2).float() * -(math.log(10000.0) / channel))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.view(time_len, joint_num, channel).permute(2, 0, 1).unsqueeze(0)  # (1, C, T, V)
        self.register_buffer('pe', pe)

    def forward(self, x):  # x: (N, C, T, V)
        return x + self.pe[:, :, :x.size(2)]


def conv_bn(cin, cout, kernel=1, stride=1, pad=0):
    return nn.Sequential(nn.Conv2d(cin, cout, (kernel, 1), (stride, 1), padding=(pad, 0), bias=True),
                         nn.BatchNorm2d(cout))


class STAttentionBlock(nn.Module):
    def __init__(self, in_channels, out_channels, inter_channels, num_subset=3, num_node=25, num_frame=32,
                 kernel_size=1, stride=1):
        super().__init__()
        S, V = num_subset, num_node
        self.inter_channels = inter_channels
        self.out_channels = out_channels
        self.in_channels = in_channels
        self.num_subset = S
        pad = (kernel_size - 1) // 2
        # spatial (glo_reg_s=True, att_s=True, use_pes=True)
        self.register_buffer('atts', torch.zeros((1, S, V, V)))
        self.pes = PositionalEncoding(in_channels, V, num_frame, 'spatial')
        self.ff_nets = conv_bn(out_channels, out_channels)
        self.in_nets = nn.Conv2d(in_channels, 2 * S * inter_channels, 1, bias=True)
        self.alphas = nn.Parameter(torch.ones(1, S, 1, 1), requires_grad=True)
        self.attention0s = nn.Parameter(torch.ones(1, S, V, V) / V, requires_grad=True)
        self.out_nets = conv_bn(in_channels * S, out_channels)
        # temporal (glo_reg_t=False, att_t=True, use_pet=True)
        self.register_buffer('attt', torch.zeros((1, S, num_frame, num_frame)))
        self.pet = PositionalEncoding(out_channels, V, num_frame, 'temporal')
        self.ff_nett = conv_bn(out_channels, out_channels, kernel_size, stride, pad)
        self.in_nett = nn.Conv2d(out_channels, 2 * S * inter_channels, 1, bias=True)
        self.alphat = nn.Parameter(torch.ones(1, S, 1, 1), requires_grad=True)
        self.out_nett = conv_bn(out_channels * S, out_channels)
        if in_channels != out_channels or stride != 1:
            self.downs1 = conv_bn(in_channels, out_channels)
            self.downs2 = conv_bn(in_channels, out_channels)
            self.downt1 = conv_bn(out_channels, out_channels)
            self.downt2 = conv_bn(out_channels, out_channels, kernel_size, stride, pad)
        else:
            self.downs1 = nn.Identity()
            self.downs2 = nn.Identity()
            self.downt1 = nn.Identity()
            self.downt2 = nn.Identity()
        self.relu = nn.LeakyReLU(0.1)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        N, C, T, V = x.size()
        S, ic = self.num_subset, self.inter_channels
        # spatial attention
        attention = self.atts
        y = self.pes(x)
        q, k = torch.chunk(self.in_nets(y).view(N, 2 * S, ic, T, V), 2, dim=1)  # (N, S, ic, T, V)
        attention = attention + torch.tanh(torch.einsum('nsctu,nsctv->nsuv', q, k) / (ic * T)) * self.alphas
        attention = attention + self.attention0s.repeat(N, 1, 1, 1)
        attention = self.drop(attention)
        y = torch.einsum('nctu,nsuv->nsctv', x, attention).contiguous().view(N, S * self.in_channels, T, V)
        y = self.out_nets(y)
        y = self.relu(self.downs1(x) + y)
        y = self.ff_nets(y)
        y = self.relu(self.downs2(x) + y)
        # temporal attention
        attention = self.attt
        z = self.pet(y)
        q, k = torch.chunk(self.in_nett(z).view(N, 2 * S, ic, T, V), 2, dim=1)
        attention = attention + torch.tanh(torch.einsum('nsctv,nscqv->nstq', q, k) / (ic * V)) * self.alphat
        attention = self.drop(attention)
        z = torch.einsum('nctv,nstq->nscqv', y, attention).contiguous().view(N, S * self.out_channels, T, V)
        z = self.out_nett(z)
        z = self.relu(self.downt1(y) + z)
        z = self.ff_nett(z)
        z = self.relu(self.downt2(y) + z)
        return z


class DSTANet(nn.Module):
    def __init__(self, num_frame, config, num_class, num_subset=3, num_channel=3, num_point=25,
                 num_person=2):
        super().__init__()
        self.out_channels = config[-1][1]
        c0 = config[0][0]
        self.input_map = nn.Sequential(nn.Conv2d(num_channel, c0, 1), nn.BatchNorm2d(c0), nn.LeakyReLU(0.1))
        layers = []
        nf = num_frame
        for in_c, out_c, inter_c, stride in config:
            layers.append(STAttentionBlock(in_c, out_c, inter_c, num_subset=num_subset, num_node=num_point,
                                           num_frame=nf, stride=stride))
            nf = int(nf / stride + 0.5)
        self.graph_layers = nn.ModuleList(layers)
        c = self.out_channels
        self.fc = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, num_class))

    def features(self, x):  # x: (N, C, T, V, M)
        N, C, T, V, M = x.shape
        x = x.permute(0, 4, 1, 2, 3).contiguous().view(N * M, C, T, V)
        x = self.input_map(x)
        first = x
        outs = []
        for layer in self.graph_layers:
            x = layer(x)
            outs.append(x)
        c = self.out_channels
        x = x.view(N, M, c, -1).permute(0, 1, 3, 2).contiguous().view(N, -1, c, 1)
        return x.mean(3).mean(1), first, outs  # (N, c)

    def forward(self, x):
        feature = self.features(x)[0]
        return feature, self.fc(feature)


# ------------------------------------------------------------------ configurations

FULL = dict(num_frame=64, num_class=128,
            config=[[64, 64, 16, 1], [64, 64, 16, 1], [64, 128, 32, 2], [128, 128, 32, 1],
                    [128, 256, 64, 2], [256, 256, 64, 1], [256, 256, 64, 1], [256, 256, 64, 1]])
SMALL = dict(num_frame=12, num_class=8, config=[[8, 8, 4, 1], [8, 16, 4, 2], [16, 16, 4, 1]])
HAND_FULL_BACKBONE = 3436744


def build(cfg):
    return DSTANet(cfg['num_frame'], cfg['config'], cfg['num_class'])


def ntrain(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def is_bn_buffer(name):
    return name.endswith(('running_mean', 'running_var', 'num_batches_tracked'))


def counts(name, cfg):
    model = build(cfg)
    layers = [ntrain(l) for l in model.graph_layers]
    inp, fc = ntrain(model.input_map), ntrain(model.fc)
    total = ntrain(model)
    assert total == inp + sum(layers) + fc
    bn = sum(b.numel() for n, b in model.named_buffers() if n.endswith(('running_mean', 'running_var')))
    other = {n: list(b.shape) for n, b in model.named_buffers() if not is_bn_buffer(n)}
    return {'config': name, **cfg, 'total': total, 'backbone': inp + sum(layers), 'input_map': inp,
            'graph_layers': layers, 'fc': fc, 'bn_buffer_elements': bn,
            'other_buffer_elements': sum(math.prod(s) for s in other.values()), 'other_buffers': other}


def cmd_counts():
    t0 = time.time()
    res = {}
    for name, cfg in (('full', FULL), ('small', SMALL)):
        res[name] = counts(name, cfg)
        print(json.dumps(res[name]))
    bb = res['full']['backbone']
    print(json.dumps({'cross_check': 'hand count of the full backbone (input_map + 8 layers)',
                      'hand': HAND_FULL_BACKBONE, 'computed': bb, 'matches': bb == HAND_FULL_BACKBONE,
                      'diff_computed_minus_hand': bb - HAND_FULL_BACKBONE,
                      'total_M': round(res['full']['total'] / 1e6, 4)}))
    print(f'# counts took {time.time() - t0:.2f} s', file=sys.stderr)


# ------------------------------------------------------------------ golden


def randomize(model, g):
    def n(shape):
        return torch.randn(shape, generator=g)

    def u(shape):
        return torch.rand(shape, generator=g)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + u(m.weight.shape))
                m.bias.copy_(0.2 * n(m.bias.shape))
                m.running_mean.copy_(0.3 * n(m.running_mean.shape))
                m.running_var.copy_(0.5 + 1.5 * u(m.running_var.shape))
        for pname, p in model.named_parameters():
            owner = model.get_submodule(pname.rsplit('.', 1)[0])
            leaf = pname.rsplit('.', 1)[-1]
            if isinstance(owner, nn.BatchNorm2d):
                continue
            if leaf in ('alphas', 'alphat'):
                p.copy_(0.5 + u(p.shape))
            elif leaf == 'attention0s':
                V = p.shape[-1]
                p.copy_((1.0 + 0.5 * n(p.shape)) / V)
            elif p.dim() >= 2:  # Linear (out, in), Conv2d (out, in, kh, kw)
                p.copy_(n(p.shape) / math.sqrt(p[0].numel()))
            else:  # biases
                p.copy_(0.2 * n(p.shape))
        # keep activations O(1) (otherwise they grow ~4-6x per block, max ~135 after 3 blocks):
        # the attention-weighted sums run over V joints (spatial, entries ~1/V + alpha*tanh) or
        # T frames (temporal, alpha*tanh) of mostly non-negative inputs, so damp the convolution
        # right after each attention product by L**-0.75 (L = V resp. this block's T); each block
        # also adds its input back four times, so halve the ff_nets / ff_nett conv weights. The
        # attention branches then stay about as large as the residual paths.
        for m in model.graph_layers:
            m.out_nets[0].weight.mul_(m.atts.shape[-1] ** -0.75)
            m.out_nett[0].weight.mul_(m.attt.shape[-1] ** -0.75)
            m.ff_nets[0].weight.mul_(0.5)
            m.ff_nett[0].weight.mul_(0.5)


def cmd_golden(path):
    t0 = time.time()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(20240613)
    cfg = SMALL
    model = build(cfg)
    randomize(model, g)
    model.eval()
    x = make_input(g, T=cfg['num_frame'])
    with torch.no_grad():
        backbone, first, outs = model.features(x)
        projection = model.fc(backbone)
        b2, p2 = model(x)
    assert torch.equal(backbone, b2) and torch.equal(projection, p2)
    sd = {k: enc(v) for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    out = {'config': {**cfg, 'N': x.shape[0], 'C': 3, 'T': cfg['num_frame'], 'V': 25, 'M': 2,
                      'num_subset': 3, 'kernel_size': 1, 'leaky_relu_slope': 0.1, 'bn_eps': 1e-5,
                      'glo_reg_s': True, 'att_s': True, 'glo_reg_t': False, 'att_t': True,
                      'use_pes': True, 'use_pet': True, 'dropout': 'eval (off)', 'x_layout': 'N C T V M',
                      'head': 'fc.0 Linear(c, c), ReLU, fc.2 Linear(c, num_class)'},
           'x': enc(x), 'state_dict': sd, 'backbone': enc(backbone), 'projection': enc(projection),
           'input_map_out': enc(first), 'layer_outs': [enc(o) for o in outs]}
    with open(path, 'w') as f:
        json.dump(out, f)
    info = {'written': path, 'state_dict_entries': len(sd),
            'state_dict_elements': sum(len(v['data']) for v in sd.values()),
            'trainable_params': ntrain(model),
            'max_abs_backbone': float(backbone.abs().max()),
            'max_abs_projection': float(projection.abs().max()),
            'max_abs_input_map_out': float(first.abs().max()),
            'max_abs_layer_outs': [float(o.abs().max()) for o in outs],
            'layer_out_shapes': [list(o.shape) for o in outs]}
    print(json.dumps(info))
    print(f'# golden took {time.time() - t0:.2f} s', file=sys.stderr)


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'counts':
        cmd_counts()
    elif len(sys.argv) >= 3 and sys.argv[1] == 'golden':
        cmd_golden(sys.argv[2])
    else:
        sys.exit(__doc__)
