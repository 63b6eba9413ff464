"""One WA training step of a linear head in PyTorch, single-threaded, timed per class count (the
yardstick of test/bench/head-step.ts): random batches of 128 rows from a 7,000 x 1280 block,
logits x W^T, 0.5 CE + 0.5 KD (T = 2) on the first K - 10 columns, SGD (momentum 0.9, weight
decay 2e-4), W clamped at 0. Prints one JSON line: {"K": ms_per_step, ...}.

usage: head_step.py <steps> <K> [<K> ...]
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    steps = int(sys.argv[1])
    N, D = 7000, 1280
    x = torch.rand(N, D)
    out = {}
    for K in [int(k) for k in sys.argv[2:]]:
        n = K - 10
        W = (torch.rand(K, D) * 0.01).requires_grad_(True)
        y = torch.randint(0, K, (N,))
        q = torch.softmax(torch.rand(N, n), 1)
        opt = torch.optim.SGD([W], lr=0.01, momentum=0.9, weight_decay=2e-4)

        def step():
            idx = torch.randint(0, N, (128,))
            logits = x[idx] @ W.T
            kd = -(q[idx] * F.log_softmax(logits[:, :n] / 2, dim=1)).sum(dim=1).mean()
            loss = 0.5 * F.cross_entropy(logits, y[idx]) + 0.5 * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                W.clamp_(min=0)

        for _ in range(steps // 10):
            step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        out[str(K)] = (time.perf_counter() - t) * 1000 / steps
    print(json.dumps(out))


if __name__ == "__main__":
    main()
