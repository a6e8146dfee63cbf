#!/usr/bin/env python3
"""PyTorch reference of the public A2MC code's contrast over SCD-Net's three domains
(1xbq1/A2MC scd/builder.py as ML-FACTS §6.3-6.5 describes it), written from that description
so that skelflow's `a2mc` method (variant `code`) can be checked against it.

Per step, with the attacked view's normalised embeddings qi, qt, qs (instance, temporal,
spatial) and the key view's ki, kt, ks, and three memory banks W_i, W_t, W_s (D, K):
  logit sets  ati: [qt.ki, qt.norm(W_i)]   asi: [qs.ki, qs.norm(W_i)]
              ait: [qi.kt, qi.norm(W_t)]   ais: [qi.ks, qi.norm(W_s)]     all / T (0.07)
  CE          the sum over the four sets of CE(logits, 0) (mean over the batch)
  mixing      per set, anchor q[r mod N] for bank column r: m+ = 0.8 q + 0.2 d_r (pulled),
              m- = 0.1 q + 0.9 d_r (pushed), loss_pos = -mean(q.m+)/T, loss_neg = mean(q.m-)/T,
              each averaged over the four sets
  total       CE + loss_pos + loss_neg
  banks       after the loss, one momentum step per set in the order ati, asi (both W_i), ait
              (W_t), ais (W_s): g = -dCE(/mem_t 0.03)/dW (autograd here, the code's closed form
              there), v = 0.9 v + g + 1e-4 W, W = W - 3 v — a gradient ascent.

  ~/.cache/skelflow-venv/bin/python scripts/a2mc_reference.py golden OUT.json
      N 4, D 8, K 8, seed 7. Writes {"config": {n, d, k, temperature, mem_t, mem_lr,
      mem_momentum, mem_wd, mix_pos, mix_neg}, "qi", "qt", "qs", "ki", "kt", "ks", "w_i", "w_t",
      "w_s" (inputs; v starts at 0), "ce", "mix", "loss" (floats), "grad_qi", "grad_qt",
      "grad_qs" (d total / d query), "w_i_after", "w_t_after", "w_s_after", "v_i_after", ...};
      every tensor {"shape": [...], "data": flat row-major float32 list}.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)

T, MEM_T, MEM_LR, MEM_MOM, MEM_WD = 0.07, 0.03, 3.0, 0.9, 1e-4
MIX_POS, MIX_NEG = 0.2, 0.1


def enc(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'shape': list(t.shape), 'data': t.reshape(-1).tolist()}


def logits(q, k, w, t):
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = q @ F.normalize(w, dim=0)
    return torch.cat([l_pos, l_neg], 1) / t


def ce(q, k, w):
    lg = logits(q, k, w, T)
    return F.cross_entropy(lg, torch.zeros(q.shape[0], dtype=torch.long))


def mix_terms(q, w):
    n, kk = q.shape[0], w.shape[1]
    d = F.normalize(w, dim=0).t()
    anchors = q.repeat(kk // n, 1)  # row r is q[r mod N]
    m_pos = (1 - MIX_POS) * anchors + MIX_POS * d
    m_neg = MIX_NEG * anchors + (1 - MIX_NEG) * d
    return -(anchors * m_pos).sum(1).mean() / T, (anchors * m_neg).sum(1).mean() / T


def bank_step(w, v, q, k):
    w = w.clone().requires_grad_(True)
    lg = logits(q.detach(), k.detach(), w, MEM_T)
    loss = F.cross_entropy(lg, torch.zeros(q.shape[0], dtype=torch.long))
    (grad,) = torch.autograd.grad(loss, w)
    g = -grad
    v = MEM_MOM * v + g + MEM_WD * w.detach()
    return w.detach() - MEM_LR * v, v


def cmd_golden(path):
    n, d, kk = 4, 8, 8
    g = torch.Generator().manual_seed(7)
    unit = lambda: F.normalize(torch.randn(n, d, generator=g), dim=1)
    qi, qt, qs, ki, kt, ks = (unit() for _ in range(6))
    w = {name: torch.randn(d, kk, generator=g) for name in ('i', 't', 's')}
    q = {'i': qi.clone().requires_grad_(True), 't': qt.clone().requires_grad_(True),
         's': qs.clone().requires_grad_(True)}
    key = {'i': ki, 't': kt, 's': ks}
    sets = [('t', 'i'), ('s', 'i'), ('i', 't'), ('i', 's')]  # ati, asi, ait, ais
    ce_sum = sum(ce(q[a], key[b], w[b]) for a, b in sets)
    pos = sum(mix_terms(q[a], w[b])[0] for a, b in sets) / len(sets)
    neg = sum(mix_terms(q[a], w[b])[1] for a, b in sets) / len(sets)
    mix = pos + neg
    total = ce_sum + mix
    total.backward()
    banks = {name: (w[name].clone(), torch.zeros(d, kk)) for name in w}
    for a, b in sets:
        banks[b] = bank_step(banks[b][0], banks[b][1], q[a].detach(), key[b])
    out = {'config': {'n': n, 'd': d, 'k': kk, 'temperature': T, 'mem_t': MEM_T,
                      'mem_lr': MEM_LR, 'mem_momentum': MEM_MOM, 'mem_wd': MEM_WD,
                      'mix_pos': MIX_POS, 'mix_neg': MIX_NEG},
           'qi': enc(qi), 'qt': enc(qt), 'qs': enc(qs), 'ki': enc(ki), 'kt': enc(kt),
           'ks': enc(ks), 'w_i': enc(w['i']), 'w_t': enc(w['t']), 'w_s': enc(w['s']),
           'ce': ce_sum.item(), 'mix': mix.item(), 'loss': total.item(),
           'grad_qi': enc(q['i'].grad), 'grad_qt': enc(q['t'].grad), 'grad_qs': enc(q['s'].grad)}
    for name, (wa, va) in banks.items():
        out[f'w_{name}_after'] = enc(wa)
        out[f'v_{name}_after'] = enc(va)
    with open(path, 'w') as f:
        json.dump(out, f)
    print(json.dumps({'written': path, 'ce': out['ce'], 'mix': out['mix']}))


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'golden':
        cmd_golden(sys.argv[2])
    else:
        sys.exit(__doc__)
