#!/usr/bin/env python3
"""PyTorch reference models for the training-speed benchmark (scripts/bench-train).

ST-GCN-16 exactly as AimCLR/ActCLR configure it (net/st_gcn.py: hidden 16, 10 blocks,
temporal kernel 9, spatial partition graph, edge importance, data BN over V*C shared across
persons, dropout 0.5, 256-d feature) with the pre-training MLP head, and the ISC/CMD BiGRU
(150 inputs, 1024 hidden, 3 layers, bidirectional, input BN, 2048 -> MLP head), run as a true
bidirectional pass (`--gru-drive bidirectional`, the default here) or frame by frame as CMD's
code does (`--gru-drive per_frame`, skelflow's default; scripts/gru_reference.py). One
training step = forward + backward + SGD(momentum 0.9, wd 1e-4) on a cross-entropy over
the 128-d head output (the same work as a MoCo query step without the queue); `moco`: a MoCo
v2 step over ST-GCN-16 (`MocoV2`), as skelflow's `moco` method runs it.

Prints one JSON line per model: {"model", "batch", "frames", "samples_per_s", ...}.
"""
import argparse
import copy
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EDGES = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
         (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]


def spatial_graph():
    """Graph('ntu-rgb+d', 'spatial'), max_hop 1 (st-gcn net/utils/graph.py)."""
    V, center = 25, 20
    A = np.zeros((V, V))
    for i in range(V):
        A[i, i] = 1
    for a, b in EDGES:
        A[a - 1, b - 1] = A[b - 1, a - 1] = 1
    hop = np.full((V, V), np.inf)
    hop[A > 0] = 1
    np.fill_diagonal(hop, 0)
    adj = (hop <= 1).astype(float)
    Dl = adj.sum(0)
    AD = adj / Dl[None, :]
    out = []
    for h in [0, 1]:
        root, close, further = np.zeros((V, V)), np.zeros((V, V)), np.zeros((V, V))
        for i in range(V):
            for j in range(V):
                if hop[j, i] == h:
                    if hop[j, center] == hop[i, center]:
                        root[j, i] = AD[j, i]
                    elif hop[j, center] > hop[i, center]:
                        close[j, i] = AD[j, i]
                    else:
                        further[j, i] = AD[j, i]
        if h == 0:
            out.append(root)
        else:
            out.append(root + close)
            out.append(further)
    return np.stack(out).astype(np.float32)


class ConvTemporalGraphical(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.k = k
        self.conv = nn.Conv2d(cin, cout * k, kernel_size=(1, 1))

    def forward(self, x, A):
        x = self.conv(x)
        n, kc, t, v = x.size()
        x = x.view(n, self.k, kc // self.k, t, v)
        return torch.einsum('nkctv,kvw->nctw', (x, A)).contiguous()


class StGcnBlock(nn.Module):
    def __init__(self, cin, cout, k, stride=1, dropout=0.0, residual=True):
        super().__init__()
        self.gcn = ConvTemporalGraphical(cin, cout, k)
        self.tcn = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                 nn.Conv2d(cout, cout, (9, 1), (stride, 1), (4, 0)),
                                 nn.BatchNorm2d(cout), nn.Dropout(dropout, inplace=True))
        if not residual:
            self.residual = lambda x: 0
        elif cin == cout and stride == 1:
            self.residual = lambda x: x
        else:
            self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x, A):
        res = self.residual(x)
        x = self.gcn(x, A)
        return self.relu(self.tcn(x) + res)


class StGcn(nn.Module):
    def __init__(self, hidden=16, feature=256, proj=128):
        super().__init__()
        self.register_buffer('A', torch.tensor(spatial_graph()))
        k = 3
        self.data_bn = nn.BatchNorm1d(3 * 25)
        h = hidden
        spec = [(3, h, 1, False), (h, h, 1, True), (h, h, 1, True), (h, h, 1, True), (h, 2 * h, 2, True),
                (2 * h, 2 * h, 1, True), (2 * h, 2 * h, 1, True), (2 * h, 4 * h, 2, True), (4 * h, 4 * h, 1, True),
                (4 * h, feature, 1, True)]
        self.blocks = nn.ModuleList([StGcnBlock(ci, co, k, s, 0.0 if i == 0 else 0.5, r)
                                     for i, (ci, co, s, r) in enumerate(spec)])
        self.edge_importance = nn.ParameterList([nn.Parameter(torch.ones(self.A.size())) for _ in self.blocks])
        self.fc = nn.Sequential(nn.Linear(feature, feature), nn.ReLU(), nn.Linear(feature, proj))

    def forward(self, x):
        N, C, T, V, M = x.size()
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(N * M, V * C, T)
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).contiguous().view(N * M, C, T, V)
        for blk, imp in zip(self.blocks, self.edge_importance):
            x = blk(x, self.A * imp)
        x = F.avg_pool2d(x, x.size()[2:])
        x = x.view(N, M, -1).mean(dim=1)
        return self.fc(x)


class BiGru(nn.Module):
    def __init__(self, hidden=1024, layers=3, proj=128, drive='bidirectional'):
        super().__init__()
        self.drive = drive
        self.input_norm = nn.BatchNorm1d(150)
        self.gru = nn.GRU(150, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.fc = nn.Sequential(nn.Linear(2 * hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, proj))

    def forward(self, x):
        N, C, T, V, M = x.size()
        x = x.permute(0, 2, 3, 1, 4).reshape(N, T, -1)
        x = self.input_norm(x.permute(0, 2, 1)).permute(0, 2, 1)
        if self.drive == 'per_frame':
            # CMD's EncoderRNN: one frame per call, hidden carried; the last frame's output
            h = None
            for t in range(T):
                out, h = self.gru(x[:, t:t + 1], h)
            feat = out[:, 0]
        else:
            _, h = self.gru(x)
            # last layer's final states, forward and reverse
            feat = torch.cat([h[-2], h[-1]], dim=1)
        return self.fc(feat)


class MocoV2:
    """A MoCo v2 training step as AimCLR / CMD run it: query encoder with the MLP head, a
    momentum key encoder (m 0.999, updated before the keys, train-mode BN), L2-normalised
    embeddings, InfoNCE over the positive and a FIFO queue of K keys (τ 0.07), SGD on the
    query encoder, then the keys enqueued. Called like a model by `bench`: the loss of a step."""

    def __init__(self, encoder, queue=32768, dim=128, m=0.999, t=0.07):
        self.q, self.k = encoder, copy.deepcopy(encoder)
        for p in self.k.parameters():
            p.requires_grad = False
        self.queue = F.normalize(torch.randn(dim, queue), dim=0)
        self.ptr, self.m, self.t = 0, m, t

    def parameters(self):
        return self.q.parameters()

    def train(self):
        self.q.train()
        self.k.train()

    def loss(self, xq, xk):
        q = F.normalize(self.q(xq), dim=1)
        with torch.no_grad():
            for pq, pk in zip(self.q.parameters(), self.k.parameters()):
                pk.mul_(self.m).add_(pq.detach(), alpha=1 - self.m)
            k = F.normalize(self.k(xk), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ self.queue], dim=1) / self.t
        self.keys = k
        return F.cross_entropy(logits, torch.zeros(q.size(0), dtype=torch.long))

    def after_step(self):
        n = self.keys.size(0)
        self.queue[:, self.ptr:self.ptr + n] = self.keys.t()
        self.ptr = (self.ptr + n) % self.queue.size(1)


def peak_rss_mb():
    """VmHWM of this process (MB) since the last reset; 0 where /proc does not say."""
    try:
        for line in open('/proc/self/status'):
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def bench(model, batch, frames, steps, warmup):
    try:  # reset the peak RSS, so that each model reports its own
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass
    x = torch.randn(batch, 3, frames, 25, 2)
    x_key = torch.randn(batch, 3, frames, 25, 2)
    y = torch.randint(0, 128, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    times, cpu = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        if isinstance(model, MocoV2):
            loss = model.loss(x, x_key)
        else:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if isinstance(model, MocoV2):
            model.after_step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    s, c = float(np.median(times)), float(np.median(cpu))
    # cpu = user + system seconds of the process: the work, whatever else the machine runs
    return {"seconds_per_step": s, "samples_per_s": batch / s, "cpu_seconds_per_step": c, "samples_per_cpu_s": batch / c,
            "peak_rss_mb": peak_rss_mb()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', choices=['stgcn', 'bigru', 'moco', 'all'], default='all')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--stgcn-batch', type=int, default=128)
    ap.add_argument('--stgcn-frames', type=int, default=50)
    ap.add_argument('--gru-batch', type=int, default=64)
    ap.add_argument('--gru-frames', type=int, default=64)
    ap.add_argument('--gru-hidden', type=int, default=1024)
    ap.add_argument('--gru-drive', choices=['bidirectional', 'per_frame'], default='bidirectional')
    ap.add_argument('--params', action='store_true', help='print trainable parameter counts and exit')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.params:
        for name, m in [('stgcn16', StGcn()), ('bigru', BiGru())]:
            print(json.dumps({"model": name, "trainable": sum(p.numel() for p in m.parameters() if p.requires_grad)}))
        return
    if a.model in ('stgcn', 'all'):
        r = bench(StGcn(), a.stgcn_batch, a.stgcn_frames, a.steps, a.warmup)
        print(json.dumps({"model": "stgcn16", "batch": a.stgcn_batch, "frames": a.stgcn_frames, "threads": a.threads, **r}))
    if a.model in ('bigru', 'all'):
        r = bench(BiGru(a.gru_hidden, drive=a.gru_drive), a.gru_batch, a.gru_frames, a.steps, a.warmup)
        print(json.dumps({"model": f"bigru {a.gru_drive}", "batch": a.gru_batch, "frames": a.gru_frames, "hidden": a.gru_hidden, "threads": a.threads, **r}))
    if a.model in ('moco', 'all'):
        r = bench(MocoV2(StGcn()), a.stgcn_batch, a.stgcn_frames, a.steps, a.warmup)
        print(json.dumps({"model": "moco_stgcn16", "batch": a.stgcn_batch, "frames": a.stgcn_frames, "threads": a.threads, **r}))


if __name__ == '__main__':
    main()
