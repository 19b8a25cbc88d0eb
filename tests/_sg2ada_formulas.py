"""Transcriptions of stylegan2-ada-pytorch's KID / PR / IS loops (metrics/*.py at d72cc7d), for parity tests
and the benchmark only: the same operations in the same order, single process, on feature arrays.
"""

import numpy as np
import torch


def kid(gen, real, num_subsets=100, max_subset_size=1000):
    """kernel_inception_distance.compute_kid after the features: NumPy float32, global np.random draws."""
    n = real.shape[1]
    m = min(min(real.shape[0], gen.shape[0]), max_subset_size)
    t = 0
    for _ in range(num_subsets):
        x = gen[np.random.choice(gen.shape[0], m, replace=False)]
        y = real[np.random.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / num_subsets / m)


def _distances(rows, cols, col_batch_size):
    # compute_distances with one GPU: column batches of cdist, concatenated
    num_cols = cols.shape[0]
    num_batches = (num_cols - 1) // col_batch_size + 1
    batches = torch.nn.functional.pad(cols, [0, 0, 0, -num_cols % num_batches]).chunk(num_batches)
    return torch.cat([torch.cdist(rows.unsqueeze(0), b.unsqueeze(0))[0] for b in batches], dim=1)[:, :num_cols]


def precision_recall(gen, real, nhood_size=3, row_batch_size=10000, col_batch_size=10000):
    """precision_recall.compute_pr after the features: float16 features, float16 cdist, kthvalue in float32."""
    real_f = torch.as_tensor(real).to(torch.float16)
    gen_f = torch.as_tensor(gen).to(torch.float16)
    out = {}
    for name, manifold, probes in [("precision", real_f, gen_f), ("recall", gen_f, real_f)]:
        kth = torch.cat([_distances(b, manifold, col_batch_size).to(torch.float32).kthvalue(nhood_size + 1).values
                         .to(torch.float16) for b in manifold.split(row_batch_size)])
        pred = torch.cat([(_distances(b, manifold, col_batch_size) <= kth).any(dim=1)
                          for b in probes.split(row_batch_size)])
        out[name] = float(pred.to(torch.float32).mean())
    return out["precision"], out["recall"]


def inception_score(probs, num_splits=10):
    """inception_score.compute_is after the probabilities (NumPy)."""
    num_gen = probs.shape[0]
    scores = []
    for i in range(num_splits):
        part = probs[i * num_gen // num_splits: (i + 1) * num_gen // num_splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
