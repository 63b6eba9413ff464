"""Reference WA / replay head training in PyTorch, single-threaded (the yardstick for cl's `wa` and
`replay` learners on frozen features; the same algorithm as src/learners/head-learner.ts).

Per task (B0-Inc10, classes in the given order): training rows of the task's classes (dataset
order) plus the exemplar memory; a linear bias-free head W [K, D] grown by m rows drawn from
U(-sqrt(3/D), sqrt(3/D)); SGD (lr 0.1, momentum 0.9, coupled weight decay 5e-4 on the first task,
2e-4 after), step schedule x0.1 at floor(E/2) and floor(3E/4), batch 128, a fresh shuffle every
epoch. wa: loss (1-l)*CE + l*KD with l = n/(n+m), KD = mean_i sum_k -q_ik log_softmax(z_i[:n]/2)_k
against the previous (aligned) head's softmax(z/2), W >= 0 clipping after every step when every
feature of the first task is >= 0, weight aligning of the new rows after training. replay: CE
only, no clipping. Then iCaRL herding on L2-normalised features fills the memory (2,000 rows,
floor(2000/K) per class, old classes cut to a prefix). Prediction: argmax of the logits.

Worker protocol (test/bench/ref/python.ts): argv[1] is a JSON spec {"train_x", "train_y", "test_x",
"test_y": .npy paths, "tasks": [[class, ...], ...]}; prints {"ready": true, ...}; each line
{"method": "wa"|"replay", "epochs": E, "seed": s} is answered with {"learn_s": [...per task],
"train_s": [...per task, up to the end of the last epoch], "accuracy": [...A_t %]}.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def herding(x, m):
    """iCaRL herding order (first m picks) of rows x (already L2-normalised), float64."""
    mu = x.mean(dim=0)
    picked = []
    s = torch.zeros_like(mu)
    taken = torch.zeros(x.shape[0], dtype=torch.bool)
    for k in range(1, min(m, x.shape[0]) + 1):
        d = ((mu - (x + s) / k) ** 2).sum(dim=1)
        d[taken] = float("inf")
        i = int(torch.argmin(d))
        picked.append(i)
        taken[i] = True
        s += x[i]
    return picked


def run(cmd, d, tasks):
    xtr, ytr, ytr_t, xte, yte, yte_t = d["xtr"], d["ytr"], d["ytr_t"], d["xte"], d["yte"], d["yte_t"]
    method, epochs = cmd["method"], int(cmd["epochs"])
    torch.manual_seed(int(cmd.get("seed", 1)))
    kd = method == "wa"
    D = xtr.shape[1]
    W = torch.empty(0, D)
    seen = []
    memory = {}  # class -> rows (herding order)
    clip = None
    learn_s, train_s, accuracy = [], [], []
    for t, classes in enumerate(tasks):
        t0 = time.perf_counter()
        mask = torch.from_numpy(np.isin(ytr, classes))
        xn, yn = xtr[mask], ytr_t[mask]
        if clip is None:
            clip = kd and bool((xn >= 0).all())
        if memory:
            xm = torch.cat([memory[c] for c in seen])
            ym = torch.cat([torch.full((memory[c].shape[0],), c, dtype=torch.long) for c in seen])
            x, y = torch.cat([xn, xm]), torch.cat([yn, ym])
        else:
            x, y = xn, yn
        n, m = len(seen), len(classes)
        row = {c: i for i, c in enumerate(seen + list(classes))}
        target = torch.tensor([row[int(c)] for c in y.tolist()])
        q = None
        if kd and n > 0:
            with torch.no_grad():
                q = torch.softmax((x @ W.T) / 2, dim=1)
        lam = n / (n + m) if (kd and n > 0) else 0.0
        bound = (3 / D) ** 0.5
        W = torch.cat([W, torch.empty(m, D).uniform_(-bound, bound)]).requires_grad_(True)
        opt = torch.optim.SGD([W], lr=0.1, momentum=0.9, weight_decay=5e-4 if n == 0 else 2e-4)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[m_ for m_ in (epochs // 2, (3 * epochs) // 4) if m_ > 0], gamma=0.1)
        N = x.shape[0]
        for _ in range(epochs):
            perm = torch.randperm(N)
            for s0 in range(0, N, 128):
                idx = perm[s0:s0 + 128]
                logits = x[idx] @ W.T
                loss = F.cross_entropy(logits, target[idx])
                if q is not None:
                    kdl = -(q[idx] * F.log_softmax(logits[:, :n] / 2, dim=1)).sum(dim=1).mean()
                    loss = (1 - lam) * loss + lam * kdl
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if clip:
                    with torch.no_grad():
                        W.clamp_(min=0)
            sched.step()
        train_s.append(time.perf_counter() - t0)
        W = W.detach()
        if kd and n > 0:
            norms = W.norm(dim=1)
            W[n:] *= norms[:n].mean() / norms[n:].mean()
        seen += [int(c) for c in classes]
        quota = 2000 // len(seen)
        for c in list(memory):
            memory[c] = memory[c][:quota]
        for c in classes:
            rows = xn[yn == int(c)]
            order = herding(F.normalize(rows.double(), dim=1), quota)
            memory[int(c)] = rows[order]
        learn_s.append(time.perf_counter() - t0)
        with torch.no_grad():
            tmask = torch.from_numpy(np.isin(yte, seen))
            pred = torch.tensor(seen)[(xte[tmask] @ W.T).argmax(dim=1)]
            accuracy.append(100.0 * float((pred == yte_t[tmask]).float().mean()))
    return {"learn_s": learn_s, "train_s": train_s, "accuracy": accuracy}


def main():
    spec = json.load(open(sys.argv[1]))
    ytr, yte = np.load(spec["train_y"]), np.load(spec["test_y"])
    d = {
        "xtr": torch.from_numpy(np.load(spec["train_x"])),
        "ytr": ytr,
        "ytr_t": torch.from_numpy(ytr).long(),
        "xte": torch.from_numpy(np.load(spec["test_x"])),
        "yte": yte,
        "yte_t": torch.from_numpy(yte).long(),
    }
    print(json.dumps({"ready": True, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if line:
            print(json.dumps(run(json.loads(line), d, spec["tasks"])), flush=True)


if __name__ == "__main__":
    main()
