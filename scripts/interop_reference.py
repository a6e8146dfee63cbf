#!/usr/bin/env python3
"""PyTorch side of skelflow's checkpoint interop tests: files in the formats the reference
repositories write and read, so that the Rust loaders and exporters are checked against the
real thing (PyTorch pickles, state-dict names, layouts) rather than against themselves.
The Rust tests run it at test time in a temp dir; nothing it writes is committed.

  checkpoints OUT
      Writes, with fixed seeds, into OUT: checkpoints of
        aimclr.pt          AimCLR/ActCLR ST-GCN-16 (net/st_gcn.py `Model`, MLP head),
                           torchlight's save_model layout: OrderedDict encoder_q.* / encoder_k.*,
                           queue, queue_ptr
        cmd_h8_l1.pt,      CMD's BiGRU x 3 streams (moco/GRU.py, builder_cmd.py), as
        cmd_h16_l2.pt      pretrain_moco_cmd.py saves it under DDP: {epoch, state_dict with
                           module.*, optimizer}
        ascal.pt           AS-CAL's unidirectional LSTM (ML-FACTS §2.4): encoder_q.lstm.* ...
      with the inputs (stgcn_x.npy, gru_x.npy, lstm_x.npy, float32 (N, C, T, V, M)) and the
      features PyTorch computes in eval mode (*_backbone.npy, *_projection.npy, float32),
      which the Rust side must reproduce after loading the checkpoints.

  verify-export FILE aimclr|cmd|ascal X.npy FEATURES.npy [--stream joint|motion|bone]
                [--feature backbone|projection] [--hidden H --layers L]
      Loads a checkpoint the Rust side exported (torch.load weights_only=True, strict
      load_state_dict), computes the features of X (its joint, motion or bone stream, as
      builder_cmd.py computes them; any format) and compares them with FEATURES
      (rel err |a-b| / max(|b|, 0.01), b = PyTorch's); exit 1 above 1e-4.

  train-grads OUT
      ST-GCN-16 in training mode (batch statistics, dropout off) on a batch of 3 with T = 13
      (odd through both stride-2 blocks), as is (prefix two_) and with sample 0's second
      person zeroed (one_): OUT/stgcn_train.pt (aimclr.pt's layout), an upstream gradient
      stgcn_train_r.npy for the backbone features, and per prefix the input x.npy, the
      features features.npy and the gradients of Σ features · r: grad_x.npy and
      grad_<state-dict name>.npy for parameters the fused ops touch (a graph conv, a strided
      temporal conv, a residual projection, batch norms, an edge importance).

  gendata FIXTURES_NTU_DIR OUT
      ST-GCN tools/ntu_gendata.py, benchmark xview, on real .skeleton files:
      OUT/xview/{train,val}_data.npy (N, 3, 300, 25, 2) float32 memmap, {train,val}_label.pkl.

Usage: ~/.cache/skelflow-venv/bin/python scripts/interop_reference.py <subcommand> ...
CPU only, one thread, deterministic.
"""
import argparse
import os
import pickle
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # run from tests: leave no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gru_reference import EncoderRNN  # noqa: E402  (CMD moco/GRU.py, frame-by-frame drive)
from ntu_read_xyz import MAX_BODY, MAX_FRAME, NUM_JOINT, read_xyz  # noqa: E402  (ST-GCN read_xyz)
from torch_reference import StGcnBlock, spatial_graph  # noqa: E402  (ST-GCN st_gcn block, graph)

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)

TOL = 1e-4
BONES = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
         (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (21, 21), (22, 23), (23, 8),
         (24, 25), (25, 12)]  # CMD / AimCLR `Bone`, 1-based (v1, v2): bone[v1] = x[v1] - x[v2]
CMD_STREAMS = {"joint": "encoder_q", "motion": "encoder_q_motion", "bone": "encoder_q_bone"}


# ------------------------------------------------------------------ models, named as in the repos

class StGcnModel(nn.Module):
    """AimCLR/ActCLR net/st_gcn.py `Model` (hidden 16, spatial graph, edge importance), with the
    pre-training MLP head that aimclr.py puts in place of `fc` (mlp=True). The blocks are
    torch_reference.StGcnBlock, whose attributes (gcn.conv, tcn, residual) are st_gcn's."""

    def __init__(self, hidden=16, feature=256, proj=128, mlp=True):
        super().__init__()
        self.register_buffer("A", torch.tensor(spatial_graph()))
        h = hidden
        spec = [(3, h, 1, False), (h, h, 1, True), (h, h, 1, True), (h, h, 1, True), (h, 2 * h, 2, True),
                (2 * h, 2 * h, 1, True), (2 * h, 2 * h, 1, True), (2 * h, 4 * h, 2, True), (4 * h, 4 * h, 1, True),
                (4 * h, feature, 1, True)]
        self.data_bn = nn.BatchNorm1d(3 * 25)
        self.st_gcn_networks = nn.ModuleList([StGcnBlock(ci, co, 3, s, 0.0 if i == 0 else 0.5, r)
                                              for i, (ci, co, s, r) in enumerate(spec)])
        self.fc = (nn.Sequential(nn.Linear(feature, feature), nn.ReLU(), nn.Linear(feature, proj)) if mlp
                   else nn.Linear(feature, proj))
        self.edge_importance = nn.ParameterList([nn.Parameter(torch.ones(self.A.size()))
                                                 for _ in self.st_gcn_networks])

    def backbone(self, x):
        N, C, T, V, M = x.size()
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(N * M, V * C, T)
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).contiguous().view(N * M, C, T, V)
        for gcn, importance in zip(self.st_gcn_networks, self.edge_importance):
            x = gcn(x, self.A * importance)
        x = F.avg_pool2d(x, x.size()[2:])
        return x.view(N, M, -1).mean(dim=1)

    def forward(self, x):
        return self.fc(self.backbone(x))


class CmdBIGRU(nn.Module):
    """CMD moco/GRU.py `BIGRU` with builder_cmd's MLP head (mlp=True); attribute order as there
    (encoder, fc, input_norm). Input (N, T, 150) already flattened by `cmd_flatten`."""

    def __init__(self, input_size=150, hidden=1024, layers=3, proj=128, mlp=True):
        super().__init__()
        self.encoder = EncoderRNN(input_size, hidden, layers)
        self.fc = (nn.Sequential(nn.Linear(2 * hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, proj)) if mlp
                   else nn.Linear(2 * hidden, proj))
        self.input_norm = nn.BatchNorm1d(input_size)

    def backbone(self, x):  # knn_eval=True
        x = self.input_norm(x.permute(0, 2, 1).contiguous()).permute(0, 2, 1).contiguous()
        seq_len = torch.zeros(x.size(0), dtype=int) + x.size(1)
        return self.encoder(x, seq_len)[0]

    def forward(self, x):
        return self.fc(self.backbone(x))


class AscalLSTM(nn.Module):
    """AS-CAL models/Models.py `Bi_lstm` with the NTU defaults: model='lstm' (unidirectional),
    256 hidden, 1 layer, tap='mean', no head. AS-CAL feeds (T, N, 150) with batch_first=False;
    batch_first=True here changes neither the parameters nor the result."""

    def __init__(self, input_size=150, hidden=256, layers=1):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, batch_first=True)

    def backbone(self, x):  # x (N, C, T, V, M) -> [C][V][M] per frame -> mean over time
        N, C, T, V, M = x.size()
        out, _ = self.lstm(x.permute(0, 2, 1, 3, 4).reshape(N, T, C * V * M))
        return out.mean(dim=1)

    def forward(self, x):
        return self.backbone(x)


def cmd_flatten(x):  # builder_cmd.py: permute(0,2,3,1,4).reshape(N,T,-1), index v*6 + c*2 + m
    N, C, T, V, M = x.size()
    return x.permute(0, 2, 3, 1, 4).reshape(N, T, -1)


def cmd_stream(x, stream):  # builder_cmd.py MoCo.forward
    if stream == "joint":
        return x
    out = torch.zeros_like(x)
    if stream == "motion":
        out[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    elif stream == "bone":
        for v1, v2 in BONES:
            out[:, :, :, v1 - 1] = x[:, :, :, v1 - 1] - x[:, :, :, v2 - 1]
    else:
        raise ValueError(stream)
    return out


# ------------------------------------------------------------------ non-trivial random weights

def init_bn(bn, g, k):
    c = bn.num_features
    bn.weight.copy_(0.5 + torch.rand(c, generator=g))
    bn.bias.copy_(0.2 * torch.randn(c, generator=g))
    bn.running_mean.copy_(0.3 * torch.randn(c, generator=g))
    bn.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
    bn.num_batches_tracked.fill_(1000 + 37 * k)


def init_linear_conv(m, g):
    fan_in = m.weight[0].numel()
    m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
    if m.bias is not None:
        m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))


@torch.no_grad()
def random_stgcn(g):
    """Weights ~ N(0, 1/fan_in), BN weights/statistics away from (1, 0, 0, 1), edge importance
    0.5..1.5: activations stay O(1) through the 10 blocks and a wrong name, order or layout shows."""
    m = StGcnModel()
    for k, mod in enumerate(m.modules()):
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init_bn(mod, g, k)
        elif isinstance(mod, (nn.Conv2d, nn.Linear)):
            init_linear_conv(mod, g)
    for p in m.edge_importance:
        p.copy_(0.5 + torch.rand(p.shape, generator=g))
    return m.eval()


@torch.no_grad()
def random_bigru(hidden, layers, g):
    """As gru_reference.model(): GRU weights U(±1.5/sqrt(fan)), biases U(±0.5), input BN
    statistics far from (0, 1); plus the MLP head, N(0, 1/fan_in)."""
    m = CmdBIGRU(150, hidden, layers)
    for _, p in m.encoder.gru.named_parameters():
        bound = 1.5 / (p.shape[-1] ** 0.5) if p.dim() == 2 else 0.5
        p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    bn = m.input_norm
    bn.weight.copy_(0.5 + torch.rand(150, generator=g))
    bn.bias.copy_(0.3 * torch.randn(150, generator=g))
    bn.running_mean.copy_(0.5 * torch.randn(150, generator=g))
    bn.running_var.copy_(0.3 + 2 * torch.rand(150, generator=g))
    bn.num_batches_tracked.fill_(int(torch.randint(100, 5000, (1,), generator=g)))
    for mod in m.fc.modules():
        if isinstance(mod, nn.Linear):
            init_linear_conv(mod, g)
    return m.eval()


@torch.no_grad()
def random_lstm(g):
    m = AscalLSTM()
    bound = 1.5 / 256 ** 0.5
    for p in m.lstm.parameters():
        p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    return m.eval()


def raw_like(shape, g):
    """Raw-camera-coordinate-like clips: per (sample, channel, joint, person) offsets (z around
    3 m), a smooth per-sample motion and some noise, so that the samples' features differ well
    beyond the tolerance even after pooling over time and joints."""
    N, C, T, V, M = shape
    offset = torch.tensor([0.0, 0.2, 3.0]).view(1, C, 1, 1, 1) + 0.3 * torch.randn(N, C, 1, V, M, generator=g)
    t = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1)
    freq = 0.5 + 2.5 * torch.rand(N, 1, 1, 1, 1, generator=g)
    phase = 6.2832 * torch.rand(N, C, 1, V, M, generator=g)
    amp = 0.1 + 0.4 * torch.rand(N, C, 1, V, M, generator=g)
    motion = amp * torch.sin(6.2832 * freq * t / T + phase)
    return offset + motion + 0.05 * torch.randn(shape, generator=g)


def prefixed(prefix, sd):
    return [(prefix + k, v.detach().clone()) for k, v in sd.items()]


def normalized_queue(dim, k, g):
    return F.normalize(torch.randn(dim, k, generator=g), dim=0)


def save_npy(path, t):
    np.save(path, t.detach().numpy().astype(np.float32))


# ------------------------------------------------------------------ subcommands

@torch.no_grad()
def cmd_checkpoints(out):
    os.makedirs(out, exist_ok=True)
    written = []

    def npy(name, t):
        save_npy(os.path.join(out, name), t)
        written.append(name)

    def pt(name, obj):
        torch.save(obj, os.path.join(out, name))
        written.append(name)

    # 1. AimCLR / ActCLR ST-GCN-16 (torchlight IO.save_model: an OrderedDict, no `module.`)
    g = torch.Generator().manual_seed(20240601)
    q, k = random_stgcn(g), random_stgcn(g)
    x = raw_like((4, 3, 50, 25, 2), g)
    x[0, :, :, :, 1] = 0  # sample 0: one person
    sd = OrderedDict(prefixed("encoder_q.", q.state_dict()) + prefixed("encoder_k.", k.state_dict()))
    sd["queue"] = normalized_queue(128, 32, g)
    sd["queue_ptr"] = torch.tensor([8], dtype=torch.long)
    pt("aimclr.pt", sd)
    npy("stgcn_x.npy", x)
    feat = q.backbone(x)
    npy("aimclr_backbone.npy", feat)
    npy("aimclr_projection.npy", q.fc(feat))

    # 2. CMD: three streams, query and key encoders, saved as pretrain_moco_cmd.py does under DDP
    g = torch.Generator().manual_seed(20240602)
    x = raw_like((3, 3, 12, 25, 2), g)
    npy("gru_x.npy", x)
    for hidden, layers in [(8, 1), (16, 2)]:
        tag = f"cmd_h{hidden}_l{layers}"
        enc = {name: random_bigru(hidden, layers, g) for name in
               ["encoder_q", "encoder_k", "encoder_q_motion", "encoder_k_motion", "encoder_q_bone", "encoder_k_bone"]}
        sd = OrderedDict()
        for name, m in enc.items():
            sd.update(prefixed(f"module.{name}.", m.state_dict()))
        # builder_cmd registers one queue per stream
        for sfx in ["", "_motion", "_bone"]:
            sd[f"module.queue{sfx}"] = normalized_queue(128, 16, g)
            sd[f"module.queue_ptr{sfx}"] = torch.tensor([4], dtype=torch.long)
        # a real optimizer state: SGD(momentum) after one step has momentum buffers
        params = [p.detach().clone().requires_grad_() for p in enc["encoder_q"].parameters()]
        opt = torch.optim.SGD(params, lr=0.001, momentum=0.9, weight_decay=1e-4)
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
        pt(f"{tag}.pt", {"epoch": 7, "state_dict": sd, "optimizer": opt.state_dict()})
        for stream, name in CMD_STREAMS.items():
            feat = enc[name].backbone(cmd_flatten(cmd_stream(x, stream)))
            npy(f"{tag}_{stream}_backbone.npy", feat)
            npy(f"{tag}_{stream}_projection.npy", enc[name].fc(feat))

    # 3. AS-CAL LSTM
    g = torch.Generator().manual_seed(20240603)
    q, k = random_lstm(g), random_lstm(g)
    x = raw_like((3, 3, 20, 25, 2), g)
    sd = OrderedDict(prefixed("encoder_q.", q.state_dict()) + prefixed("encoder_k.", k.state_dict()))
    sd["queue"] = normalized_queue(256, 64, g)
    pt("ascal.pt", sd)
    npy("lstm_x.npy", x)
    npy("ascal_backbone.npy", q.backbone(x))

    print(f"checkpoints: {len(written)} files in {out}")


def fail(msg):
    print(f"verify-export: {msg}")
    sys.exit(1)


def sub_state(sd, prefix):
    return OrderedDict((k[len(prefix):], v) for k, v in sd.items() if k.startswith(prefix))


def strict_load(model, sd):
    """load_state_dict(strict=True), plus a dtype check: load_state_dict would silently cast,
    say, a float num_batches_tracked, which a real state_dict never has."""
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        fail(f"strict load_state_dict failed: {e}")
    own = model.state_dict()
    bad = [f"{k}: {v.dtype} (expected {own[k].dtype})" for k, v in sd.items() if v.dtype != own[k].dtype]
    if bad:
        fail("dtype mismatch: " + "; ".join(bad))


def gru_shape(sd):
    hidden = sd["encoder.gru.weight_hh_l0"].shape[1]
    layers = sum(1 for k in sd if k.startswith("encoder.gru.weight_hh_l") and not k.endswith("_reverse"))
    return hidden, layers


@torch.no_grad()
def cmd_verify(a):
    try:
        ckpt = torch.load(a.file, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any failure of the safe unpickler is the finding)
        fail(f"torch.load(weights_only=True) failed: {type(e).__name__}: {e}")
    x = torch.from_numpy(np.load(a.x).astype(np.float32))
    if x.dim() != 5:
        fail(f"X must be (N, C, T, V, M), got {tuple(x.shape)}")

    if a.format == "aimclr":
        if not isinstance(ckpt, dict):
            fail(f"expected a dict, got {type(ckpt).__name__}")
        sd = sub_state(ckpt, "encoder_q.")
        if "st_gcn_networks.0.gcn.conv.weight" not in sd:
            fail("no encoder_q.st_gcn_networks.0.gcn.conv.weight")
        hidden = sd["st_gcn_networks.0.gcn.conv.weight"].shape[0] // 3
        feature = sd["st_gcn_networks.9.tcn.0.weight"].shape[0] if "st_gcn_networks.9.tcn.0.weight" in sd else 256
        mlp = "fc.0.weight" in sd
        proj = sd["fc.2.weight" if mlp else "fc.weight"].shape[0] if ("fc.2.weight" in sd or "fc.weight" in sd) else 128
        model = StGcnModel(hidden, feature, proj, mlp)
        strict_load(model, sd)
        A = torch.tensor(spatial_graph())
        if not torch.allclose(model.A, A, atol=1e-6):
            fail(f"A differs from Graph('ntu-rgb+d', 'spatial') by {(model.A - A).abs().max():.3g}")
        inp = cmd_stream(x, a.stream)
    elif a.format == "cmd":
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
            fail("expected a dict with 'state_dict'")
        sd = sub_state(ckpt["state_dict"], f"module.{CMD_STREAMS[a.stream]}.")
        if "encoder.gru.weight_hh_l0" not in sd:
            fail(f"no module.{CMD_STREAMS[a.stream]}.encoder.gru.weight_hh_l0")
        hidden, layers = gru_shape(sd)
        if a.hidden is not None and a.hidden != hidden or a.layers is not None and a.layers != layers:
            fail(f"checkpoint has hidden {hidden}, layers {layers}; asked for {a.hidden}, {a.layers}")
        mlp = "fc.0.weight" in sd
        proj = sd["fc.2.weight" if mlp else "fc.weight"].shape[0] if ("fc.2.weight" in sd or "fc.weight" in sd) else 128
        model = CmdBIGRU(sd["encoder.gru.weight_ih_l0"].shape[1], hidden, layers, proj, mlp)
        strict_load(model, sd)
        inp = cmd_flatten(cmd_stream(x, a.stream))
    else:  # ascal
        if not isinstance(ckpt, dict):
            fail(f"expected a dict, got {type(ckpt).__name__}")
        sd = sub_state(ckpt, "encoder_q.")
        if "lstm.weight_hh_l0" not in sd:
            fail("no encoder_q.lstm.weight_hh_l0")
        hidden = sd["lstm.weight_hh_l0"].shape[1]
        layers = sum(1 for k in sd if k.startswith("lstm.weight_hh_l"))
        model = AscalLSTM(sd["lstm.weight_ih_l0"].shape[1], hidden, layers)
        strict_load(model, sd)
        if a.feature != "backbone":
            fail("AS-CAL has no projection head")
        inp = cmd_stream(x, a.stream)
    model.eval()

    feat = model.backbone(inp)
    if a.feature == "projection":
        feat = model.fc(feat)
    ref = feat.double().numpy()
    got = np.load(a.features)
    if got.shape != ref.shape:
        fail(f"shape {got.shape} of {a.features} != PyTorch's {ref.shape}")
    got = got.astype(np.float64)
    if not np.isfinite(got).all():
        fail("non-finite values in FEATURES")
    err = float((np.abs(got - ref) / np.maximum(np.abs(ref), 0.01)).max())
    n, d = ref.shape
    print(f"verify-export: max rel error {err:.3g} over {n}\u00d7{d}")
    if err > TOL:
        fail(f"FAIL, {err:.3g} > {TOL:g}")


def cmd_gendata(src, out):
    """ST-GCN tools/ntu_gendata.py for benchmark xview (sorted listing, as AimCLR/ActCLR's copy)."""
    training_cameras = [2, 3]
    dest = os.path.join(out, "xview")
    os.makedirs(dest, exist_ok=True)
    counts = {}
    files = sorted(f for f in os.listdir(src) if f.endswith(".skeleton"))
    for part in ["train", "val"]:
        sample_name, sample_label = [], []
        for filename in files:
            action_class = int(filename[filename.find("A") + 1:filename.find("A") + 4])
            camera_id = int(filename[filename.find("C") + 1:filename.find("C") + 4])
            istraining = camera_id in training_cameras
            if istraining == (part == "train"):
                sample_name.append(filename)
                sample_label.append(action_class - 1)
        with open(os.path.join(dest, f"{part}_label.pkl"), "wb") as f:
            pickle.dump((sample_name, list(sample_label)), f)
        fp = np.lib.format.open_memmap(os.path.join(dest, f"{part}_data.npy"), dtype="float32", mode="w+",
                                       shape=(len(sample_label), 3, MAX_FRAME, NUM_JOINT, MAX_BODY))
        for i, s in enumerate(sample_name):
            data = read_xyz(os.path.join(src, s), max_body=MAX_BODY, num_joint=NUM_JOINT)
            fp[i, :, 0:data.shape[1], :, :] = data
        fp.flush()
        del fp
        counts[part] = len(sample_name)
    print(f"gendata: train {counts['train']}, val {counts['val']}")


# the parameters whose gradients train-grads writes
TRAIN_GRADS = ["data_bn.weight", "st_gcn_networks.0.gcn.conv.weight", "st_gcn_networks.1.tcn.0.weight",
               "st_gcn_networks.4.tcn.2.weight", "st_gcn_networks.4.residual.0.weight",
               "st_gcn_networks.4.residual.1.bias", "st_gcn_networks.7.tcn.3.weight", "st_gcn_networks.9.tcn.3.bias",
               "edge_importance.3"]


def cmd_train_grads(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(20261207)
    with torch.no_grad():
        m = random_stgcn(g)
    for mod in m.modules():
        if isinstance(mod, nn.Dropout):
            mod.p = 0.0
    m.train()
    sd = OrderedDict(prefixed("encoder_q.", m.state_dict()) + prefixed("encoder_k.", m.state_dict()))
    torch.save(sd, os.path.join(out, "stgcn_train.pt"))
    x = raw_like((3, 3, 13, 25, 2), g)
    r = torch.randn((3, 256), generator=g)
    save_npy(os.path.join(out, "stgcn_train_r.npy"), r)
    for persons in ["two", "one"]:
        xp = x.clone()
        if persons == "one":
            xp[0, :, :, :, 1] = 0  # sample 0: one person
        save_npy(os.path.join(out, f"{persons}_x.npy"), xp)
        xp.requires_grad_(True)
        m.zero_grad()
        feat = m.backbone(xp)
        save_npy(os.path.join(out, f"{persons}_features.npy"), feat.detach())
        (feat * r).sum().backward()
        save_npy(os.path.join(out, f"{persons}_grad_x.npy"), xp.grad)
        params = dict(m.named_parameters())
        for name in TRAIN_GRADS:
            save_npy(os.path.join(out, f"{persons}_grad_{name}.npy"), params[name].grad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("checkpoints")
    p.add_argument("out")
    p = sub.add_parser("verify-export")
    p.add_argument("file")
    p.add_argument("format", choices=["aimclr", "cmd", "ascal"])
    p.add_argument("x")
    p.add_argument("features")
    p.add_argument("--stream", choices=list(CMD_STREAMS), default="joint")
    p.add_argument("--feature", choices=["backbone", "projection"], default="backbone")
    p.add_argument("--hidden", type=int)
    p.add_argument("--layers", type=int)
    p = sub.add_parser("train-grads")
    p.add_argument("out")
    p = sub.add_parser("gendata")
    p.add_argument("src")
    p.add_argument("out")
    a = ap.parse_args()
    if a.cmd == "checkpoints":
        cmd_checkpoints(a.out)
    elif a.cmd == "train-grads":
        cmd_train_grads(a.out)
    elif a.cmd == "verify-export":
        cmd_verify(a)
    else:
        cmd_gendata(a.src, a.out)


if __name__ == "__main__":
    main()
