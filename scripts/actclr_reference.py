#!/usr/bin/env python3
"""PyTorch reference of the AimCLR / ActCLR building blocks, transcribed from the public code
(Levigty/AimCLR net/att_drop.py, net/aimclr.py, processor/pretrain_aimclr.py;
LanglandsLin/ActCLR net/actclr.py, net/st_gcn.py, feeder/tools.py; ML-FACTS §2.1, §3, §4.1,
§5), on small fixed inputs. Writes the goldens that stages/tests/it/actclr_golden.rs
compares the Rust blocks against (stages/src/methods/actclr_blocks.rs):

  attention drop (SimAM), DDM loss, mined InfoNCE, the actionlet (intended cosine over the
  embedding with body-part or adjacency smoothing; HEAD's size-1 normalisation), its
  upsampling and actionlet_swap (MATS), the ske_swap masks and _mask_pool (view 3's
  teacher weights), the mixed teacher key (per sample and HEAD's broadcast), SAFP pooling,
  the three KL terms with select_topk, interpolate and rescale.

Re-run to regenerate (deterministic):
  ~/.cache/skelflow-venv/bin/python scripts/actclr_reference.py
"""
import json
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import spatial_graph  # noqa: E402  (ST-GCN Graph('ntu-rgb+d', 'spatial'))

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stages", "tests", "it", "goldens")

torch.set_default_dtype(torch.float32)

# ------------------------------------------------------------------ reference code, transcribed

trunk = [i - 1 for i in [4, 3, 21, 2, 1]]
left_hand = [i - 1 for i in [9, 10, 11, 12, 24, 25]]
right_hand = [i - 1 for i in [5, 6, 7, 8, 22, 23]]
left_leg = [i - 1 for i in [17, 18, 19, 20]]
right_leg = [i - 1 for i in [13, 14, 15, 16]]
body_parts = [trunk, left_hand, right_hand, left_leg, right_leg]


class DropBlockT_1d(nn.Module):  # AimCLR net/att_drop.py
    def __init__(self, keep_prob=0.7):
        super().__init__()
        self.keep_prob = keep_prob

    def forward(self, input, mask):
        n, c, t, v = input.size()
        input1 = input.permute(0, 1, 3, 2).contiguous().view(n, c * v, t)
        mask = (mask < self.keep_prob).float()  # the reference's three in-place writes
        return (input1 * mask * mask.numel() / mask.sum()).view(n, c, v, t).permute(0, 1, 3, 2)


class DropBlock_Ske(nn.Module):
    def __init__(self, num_point=25, keep_prob=0.7):
        super().__init__()
        self.keep_prob = keep_prob
        self.num_point = num_point

    def forward(self, input, mask):
        n, c, t, v = input.size()
        mask = (mask < self.keep_prob).float()
        mask = mask.view(n, 1, 1, self.num_point)
        return input * mask * mask.numel() / mask.sum()


class Simam_Drop(nn.Module):
    def __init__(self, num_point=25, e_lambda=1e-4, keep_prob=0.7):
        super().__init__()
        self.activaton = nn.Sigmoid()
        self.e_lambda = e_lambda
        self.dropSke = DropBlock_Ske(num_point=num_point, keep_prob=keep_prob)
        self.dropT_skip = DropBlockT_1d(keep_prob=keep_prob)

    def forward(self, x):
        NM, C, T, V = x.size()
        num = V * T - 1
        x_minus_mu_square = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
        y = x_minus_mu_square / (4 * (x_minus_mu_square.sum(dim=[2, 3], keepdim=True) / num + self.e_lambda)) + 0.5
        att_map = self.activaton(y)
        att_map_s = att_map.mean(dim=[1, 2])
        att_map_t = att_map.permute(0, 1, 3, 2).contiguous().view(NM, C * V, T)
        output = self.dropT_skip(self.dropSke(x, att_map_s), att_map_t)
        return output


def simam_att(x, e_lambda=1e-4):
    NM, C, T, V = x.size()
    d = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
    return torch.sigmoid(d / (4 * (d.sum(dim=[2, 3], keepdim=True) / (V * T - 1) + e_lambda)) + 0.5)


def aimclr_losses(q, e, ed, k, queue, T=0.07, topk=1):
    """net/aimclr.py forward / nearest_neighbors_mining + the processor's loss (queue (D, K))."""
    q, e, ed = F.normalize(q, dim=1), F.normalize(e, dim=1), F.normalize(ed, dim=1)
    k = F.normalize(k, dim=1)
    l_pos = torch.einsum('nc,nc->n', [q, k]).unsqueeze(-1)
    l_neg = torch.einsum('nc,ck->nk', [q, queue])
    l_pos_e = torch.einsum('nc,nc->n', [e, k]).unsqueeze(-1)
    l_neg_e = torch.einsum('nc,ck->nk', [e, queue])
    l_pos_ed = torch.einsum('nc,nc->n', [ed, k]).unsqueeze(-1)
    l_neg_ed = torch.einsum('nc,ck->nk', [ed, queue])
    logits = torch.cat([l_pos, l_neg], dim=1) / T
    logits_e = torch.softmax(torch.cat([l_pos_e, l_neg_e], dim=1) / T, dim=1)
    logits_ed = torch.softmax(torch.cat([l_pos_ed, l_neg_ed], dim=1) / T, dim=1)
    labels_ddm = torch.softmax(logits.clone().detach(), dim=1).detach()
    loss_e = -torch.mean(torch.sum(torch.log(logits_e) * labels_ddm, dim=1))
    loss_ed = -torch.mean(torch.sum(torch.log(logits_ed) * labels_ddm, dim=1))
    ce = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
    _, i1 = torch.topk(l_neg, topk, dim=1)
    _, i2 = torch.topk(l_neg_e, topk, dim=1)
    _, i3 = torch.topk(l_neg_ed, topk, dim=1)
    onehot = torch.zeros_like(l_neg)
    onehot.scatter_(1, i1, 1)
    onehot.scatter_(1, i2, 1)
    onehot.scatter_(1, i3, 1)
    mask = torch.cat([torch.ones(onehot.size(0), 1), onehot], dim=1)
    mined = (-(F.log_softmax(logits, dim=1) * mask).sum(1) / mask.sum(1)).mean()
    return ce, loss_e, loss_ed, mined, mask


def generate_mask(y, N, M, fc, mean_feat, head):
    """st_gcn.py Model._generate_mask; `head`: HEAD's (N,128,1,1) conv output, else the
    older code's Linear (N,128). Returns (grad, cam before the threshold, mask) with the
    part mean done before the threshold (identical to the code's order: ReLU, /1e-8, part
    mean, clip — the part mean is linear)."""
    y = y.detach()
    y.requires_grad = True
    with torch.enable_grad():
        z = F.avg_pool2d(y, y.size()[2:])
        if head:
            z = z.view(N, M, -1, 1, 1).mean(dim=1)
        else:
            z = z.view(N, M, -1).mean(dim=1)
        z = fc(z)
        s = (F.normalize(z, dim=-1) * F.normalize(mean_feat, dim=-1)).sum(-1).mean()
        (1 - s).backward()
        dz_dy = y.grad
    return dz_dy, s.item()


def cam_from_grad(y, g, smoothing):
    w = g.mean(dim=(2, 3))
    cam = F.relu((w[:, :, None, None] * y).mean(dim=1, keepdim=True))
    if smoothing == "body_parts":
        cam = cam.clone()
        for part in body_parts:
            cam[:, :, :, part] = cam[:, :, :, part].mean(dim=-1, keepdim=True)
    else:  # the paper's eq. 5: A · G, G = the normalised adjacency (sum of the partitions)
        G = torch.from_numpy(spatial_graph().sum(0))
        cam = torch.einsum('nctv,vw->nctw', cam, G)
    mask = (cam / 1e-8).clip(0, 1)
    return cam, mask


def actionlet_swap(x, y, mask):  # net/actclr.py
    N, C, T, V, M = x.size()
    mask = nn.functional.interpolate(mask, (T, V), mode='bilinear', align_corners=True)
    x = x.permute(0, 4, 1, 2, 3).contiguous().view(N * M, C, T, V)
    y = y.permute(0, 4, 1, 2, 3).contiguous().view(N * M, C, T, V)
    z = x * mask + y * (1 - mask)
    return z.view(N, M, C, T, V).permute(0, 2, 3, 4, 1).contiguous()


def mask_pool(x, mask, randint):  # actclr._mask_pool
    if len(mask) == 2:
        p = (x[randint] * mask[0]).sum(-1).sum(-1) / (x[randint] + 1e-5).sum(-1).sum(-1)
        p = p.mean(-1).mean(-1)
        c = (x * (1 - mask[1])).sum(-1).sum(-1) / (x.sum(-1).sum(-1) + 1e-5)
        c = c.mean(-1).mean(-1)
    else:
        p = (x[randint] * mask).sum(-1).sum(-1) / (x[randint] + 1e-5).sum(-1).sum(-1)
        p = p.mean(-1).mean(-1)
        c = (x * (1 - mask)).sum(-1).sum(-1) / (x.sum(-1).sum(-1) + 1e-5)
        c = c.mean(-1).mean(-1)
    return p / (p + c), c / (p + c)


def safp(x, m, N, M):  # Model._mask_pool + view(N, M, -1).mean(1)
    p = (x * m).sum(-1).sum(-1) / (m.sum(-1).sum(-1) + 1e-5)
    return p.view(N, M, -1).mean(dim=1)


def select_topk(q, k, topk):  # actclr.select_topk (modifies k in place)
    k[k > 0.95] = -1
    k_topk, idx_topk = torch.topk(k, topk, dim=-1)
    q_topk = torch.gather(q, -1, idx_topk)
    return q_topk, k_topk


def kld(inputs, targets):
    inputs = F.log_softmax(inputs / 0.1, dim=1)
    targets = F.softmax(targets / 0.04, dim=1)
    return F.kl_div(inputs, targets, reduction='batchmean')


def swap_mask(T, V, parts, ct, tem_idx, case):  # the masks of actclr.ske_swap
    spa_idx = sorted(sum([body_parts[i] for i in parts], []))
    rows = (T + 3) // 4
    if case == "paste":
        mask = torch.zeros(rows, V)
        mask[tem_idx:tem_idx + ct, spa_idx] = 1
        return mask
    mask_c = torch.zeros(rows, V)
    mask_c[tem_idx:tem_idx + ct, spa_idx] = 1
    mask_p = torch.zeros(rows, V)
    mask_p[:, spa_idx] = 1
    return (mask_p, mask_c)


def interpolate(data_numpy, size):  # feeder/tools.py interpolate with a drawn size
    C, T, V, M = data_numpy.shape
    new = np.zeros((C, T, V, M), dtype=np.float32)
    for i in range(M):
        x = torch.from_numpy(np.ascontiguousarray(data_numpy[:, :, :, i]))  # C, T, V
        x = x.permute(0, 2, 1)  # C, V, T: linear along T == cv2 INTER_LINEAR (half-pixel)
        tmp = F.interpolate(x, size=size, mode='linear', align_corners=False).permute(0, 2, 1).numpy()
        new[:, :size, :, i] = tmp[:, :T]
    return new


def rescale(data_numpy, scale_rate, draws):  # feeder/tools.py rescale with given draws
    Bone = [(21, 21), (2, 21), (3, 21), (9, 21), (5, 21), (1, 2), (4, 3), (6, 5), (7, 6), (8, 7),
            (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
            (18, 17), (19, 18), (20, 19), (23, 8), (22, 23), (25, 12), (24, 25)]
    data_numpy = data_numpy.copy()
    bone = np.zeros_like(data_numpy)
    for v1, v2 in Bone:
        bone[:, :, v1 - 1, :] = data_numpy[:, :, v1 - 1, :] - data_numpy[:, :, v2 - 1, :]
    for (v1, v2), u in zip(Bone, draws):
        data_numpy[:, :, v1 - 1, :] = data_numpy[:, :, v2 - 1, :] + bone[:, :, v1 - 1, :] * scale_rate * u
    return data_numpy


# ------------------------------------------------------------------------------- goldens


def arr(t):
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": [float(f"{x:.7g}") for x in a.reshape(-1)]}


def save(name, d):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(d, f, separators=(",", ":"))
    print(f"{path}: {os.path.getsize(path)} bytes")


def margin_ok(values, threshold, margin):
    return bool((values - threshold).abs().min() > margin)


def golden_attention_drop():
    # a map with two 'hot' joints, so that the spatial drop removes some
    for seed in range(100):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 3, 4, 25, generator=g)
        x[:, :, :, 3] += 3.0 * torch.rand(2, 3, 4, generator=g)
        x[:, :, :, 11] -= 2.0
        att = simam_att(x)
        if margin_ok(att, 0.7, 1e-4) and margin_ok(att.mean(dim=[1, 2]), 0.7, 1e-4):
            break
    xg = x.clone().requires_grad_(True)
    out = Simam_Drop(num_point=25, keep_prob=0.7)(xg)
    out.sum().backward()
    return {"x": arr(x), "out": arr(out), "grad": arr(xg.grad),
            "spatial_dropped": int((att.mean(dim=[1, 2]) >= 0.7).sum()),
            "temporal_dropped": int((att >= 0.7).sum())}


def golden_aimclr_loss():
    g = torch.Generator().manual_seed(1)
    N, D, K = 4, 6, 10
    q, e, ed, k = (torch.randn(N, D, generator=g) for _ in range(4))
    queue = F.normalize(torch.randn(D, K, generator=g), dim=0)
    qs = [t.clone().requires_grad_(True) for t in (q, e, ed)]
    ce, le, led, mined, mask = aimclr_losses(*qs, k, queue)
    first = ce + (le + led) / 2.
    first.backward()
    grads_first = [t.grad.clone() for t in qs]
    qs2 = [t.clone().requires_grad_(True) for t in (q, e, ed)]
    ce2, le2, led2, mined2, _ = aimclr_losses(*qs2, k, queue)
    (mined2 + (le2 + led2) / 2.).backward()
    return {"q": arr(q), "e": arr(e), "ed": arr(ed), "k": arr(k), "queue_rows": arr(queue.t()),
            "ce": ce.item(), "ddm_e": le.item(), "ddm_ed": led.item(), "mined": mined.item(),
            "mask": arr(mask),
            "grad_q": arr(grads_first[0]), "grad_e": arr(grads_first[1]), "grad_ed": arr(grads_first[2]),
            "grad_q_mined": arr(qs2[0].grad)}


def golden_actionlet():
    g = torch.Generator().manual_seed(2)
    N, M, C, T, V, D = 2, 2, 4, 3, 25, 5
    y = F.relu(torch.randn(N * M, C, T, V, generator=g))
    w1, b1 = torch.randn(C, C, generator=g) * 0.3, torch.randn(C, generator=g) * 0.1
    w2, b2 = torch.randn(D, C, generator=g) * 0.3, torch.randn(D, generator=g) * 0.1
    mean_feat = torch.randn(1, D, generator=g)
    lin = nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, D))
    conv = nn.Sequential(nn.Conv2d(C, C, 1), nn.ReLU(), nn.Conv2d(C, D, 1))
    with torch.no_grad():
        lin[0].weight.copy_(w1), lin[0].bias.copy_(b1), lin[2].weight.copy_(w2), lin[2].bias.copy_(b2)
        conv[0].weight.copy_(w1[:, :, None, None]), conv[0].bias.copy_(b1)
        conv[2].weight.copy_(w2[:, :, None, None]), conv[2].bias.copy_(b2)
    out = {"y": arr(y), "w1": arr(w1), "b1": arr(b1), "w2": arr(w2), "b2": arr(b2),
           "mean_feat": arr(mean_feat), "n": N, "m": M}
    grad, s = generate_mask(y, N, M, lin, mean_feat, head=False)
    out["embedding_grad"] = arr(grad)
    out["embedding_similarity"] = s
    for smoothing in ["body_parts", "adjacency"]:
        cam, mask = cam_from_grad(y, grad, smoothing)
        # robust against rounding: positive values far above the 1e-8 threshold, raw
        # (pre-ReLU) values away from 0
        pos = cam[cam > 0]
        raw = (grad.mean(dim=(2, 3))[:, :, None, None] * y).mean(dim=1)
        assert pos.numel() == 0 or pos.min() > 1e-7, "a cam value near the threshold"
        assert raw.abs().min() > 1e-10 or bool((raw == 0).any()), "a raw cam value near 0"
        out[f"embedding_{smoothing}_cam"] = arr(cam)
        out[f"embedding_{smoothing}_mask"] = arr(mask)
    hgrad, hs = generate_mask(y, N, M, conv, mean_feat, head=True)
    out["head_grad_max_abs"] = float(hgrad.abs().max())
    out["head_similarity"] = hs
    out["embedding_grad_max_abs"] = float(grad.abs().max())
    return out


def golden_mats():
    g = torch.Generator().manual_seed(3)
    mask13 = torch.rand(1, 1, 13, 25, generator=g)
    up = nn.functional.interpolate(mask13, (50, 25), mode='bilinear', align_corners=True)
    N, M, C, T, V, Tp = 1, 2, 2, 10, 25, 3
    mask = torch.rand(N * M, 1, Tp, V, generator=g)
    x = torch.randn(N, C, T, V, M, generator=g)
    y = torch.randn(N, C, T, V, M, generator=g)
    z = actionlet_swap(x, y, mask)
    # ske_swap masks for a fixed plan, then _mask_pool of exp(pm/0.1) (view 3's weights)
    Np, T, Tp = 4, 50, 13
    pm = (torch.rand(Np * M, 1, Tp, V, generator=g) > 0.6).float() * torch.rand(Np * M, 1, Tp, V, generator=g)
    randidx = torch.tensor([2, 3, 0, 1])
    paste = swap_mask(T, V, [0, 3], 4, 5, "paste")
    mp, mc = swap_mask(T, V, [1, 2, 4], 3, 2, "interpolate")
    xpool = (pm.view(Np, M, -1, Tp, V) / 0.1).exp()
    p1, c1 = mask_pool(xpool, paste, randidx)
    p2, c2 = mask_pool(xpool, (mp, mc), randidx)
    mix = torch.zeros(Tp, V) + 0.3
    p3, c3 = mask_pool(xpool, mix, randidx)
    return {"mask13": arr(mask13), "up": arr(up), "mask": arr(mask), "x": arr(x), "y": arr(y), "z": arr(z),
            "pm": arr(pm), "partners": randidx.tolist(),
            "paste_mask": arr(paste), "interp_mask_p": arr(mp), "interp_mask_c": arr(mc),
            "paste_p": arr(p1), "paste_c": arr(c1), "interp_p": arr(p2), "interp_c": arr(c2),
            "mixup_lambda": 0.3, "mixup_p": arr(p3), "mixup_c": arr(c3)}


def golden_safp_loss():
    g = torch.Generator().manual_seed(4)
    N, M, C, Tp, V = 2, 2, 4, 3, 25
    x = F.relu(torch.randn(N * M, C, Tp, V, generator=g))
    m = (torch.rand(N * M, 1, Tp, V, generator=g) > 0.5).float()
    pooled = safp(x, m, N, M)
    # the loss: key, three students, the mixed teacher (per sample, and HEAD's broadcast)
    N, D, K, TOPK = 4, 4, 40, 12
    queue = F.normalize(torch.randn(D, K, generator=g), dim=0)
    k = F.normalize(torch.randn(N, D, generator=g), dim=1)
    queue[:, 0] = k[0]  # a duplicate of a key: excluded by the > 0.95 mask
    queue[:, 1] = F.normalize(k[1] + 0.05 * torch.randn(D, generator=g), dim=0)
    q, qt, pc = (torch.randn(N, D, generator=g) for _ in range(3))
    randidx = torch.tensor([1, 2, 3, 0])
    p = torch.rand(N, generator=g)
    c = 1 - p
    kc_sample = F.normalize(k * c[:, None] + k[randidx] * p[:, None], dim=1)
    kc_broadcast = F.normalize(k * c + k[randidx] * p, dim=1)  # HEAD, N == D
    vs = [t.clone().requires_grad_(True) for t in (q, qt, pc)]
    qn, qtn, pcn = ((F.normalize(t, dim=1) @ queue) ** 2 for t in vs)
    kn = k @ queue
    qn_topk, kn_topk = select_topk(qn, kn, TOPK)
    qtn_topk, kn_topk = select_topk(qtn, kn, TOPK)
    kcn = kc_sample @ queue
    pcn_topk, kcn_topk = select_topk(pcn, kcn, TOPK)
    l1, l2, l3 = kld(qn_topk, kn_topk), kld(qtn_topk, kn_topk), kld(pcn_topk, kcn_topk)
    (l1 + l2 + l3).backward()
    return {"map": arr(x), "mask": arr(m), "n": 2, "m": 2, "pooled": arr(pooled),
            "queue_rows": arr(queue.t()), "k": arr(k), "q": arr(q), "qt": arr(qt), "pc": arr(pc),
            "partners": randidx.tolist(), "p": arr(p), "c": arr(c), "topk": TOPK,
            "kc_sample": arr(kc_sample), "kc_broadcast": arr(kc_broadcast),
            "l1": l1.item(), "l2": l2.item(), "l3": l3.item(),
            "grad_q": arr(vs[0].grad), "grad_qt": arr(vs[1].grad), "grad_pc": arr(vs[2].grad)}


def golden_augment():
    rng = np.random.RandomState(5)
    clip = rng.randn(2, 8, 25, 1).astype(np.float32)
    draws = rng.rand(25).astype(np.float32)
    return {"clip": arr(clip), "interp_5": arr(interpolate(clip, 5)), "interp_11": arr(interpolate(clip, 11)),
            "draws": arr(draws), "rescale": arr(rescale(clip, 0.5, draws))}


if __name__ == "__main__":
    torch.manual_seed(0)
    random.seed(0)
    save("aimclr_attention_drop", golden_attention_drop())
    save("aimclr_loss", golden_aimclr_loss())
    save("actclr_actionlet", golden_actionlet())
    save("actclr_mats", golden_mats())
    save("actclr_safp_loss", golden_safp_loss())
    save("actclr_augment", golden_augment())
