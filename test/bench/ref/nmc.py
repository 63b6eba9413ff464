"""Reference NMC in plain numpy (the benchmark's yardstick for `cl run ... --method nmc`).

Janson et al. (arXiv 2210.04428): L2-normalise every feature, class mean of the normalised
features (float64 sums), predict argmin_c ||z^ - mu_c|| = argmax_c (2 z^.mu_c - ||mu_c||^2);
SimpleCIL: raw-feature means, cosine. One increment = select the task's training rows, update the
class sums, then score every test sample of the seen classes with one matrix product.

Worker protocol (test/bench/ref/python.ts): argv[1] is a JSON spec
  {"train_x", "train_y", "test_x", "test_y": .npy paths, "tasks": [[class, ...], ...],
   "variant": "janson" | "simplecil"}
The script loads the arrays, prints {"ready": true, ...}, then answers every "run" line on stdin
with {"learn_s": [...], "eval_s": [...], "correct": [{class: count}, ...]} (one entry per task).
"""
import json
import sys
import time

import numpy as np


def unit_rows(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def run(spec, xtr, ytr, xte, yte):
    janson = spec["variant"] == "janson"
    sums, counts, seen = {}, {}, []
    learn_s, eval_s, correct = [], [], []
    for classes in spec["tasks"]:
        t0 = time.perf_counter()
        mask = np.isin(ytr, classes)
        z, yz = xtr[mask], ytr[mask]
        if janson:
            z = unit_rows(z)
        for c in classes:
            rows = yz == c
            sums[c] = z[rows].sum(axis=0, dtype=np.float64)
            counts[c] = int(rows.sum())
            seen.append(c)
        t1 = time.perf_counter()
        mask = np.isin(yte, seen)
        q, yq = unit_rows(xte[mask]), yte[mask]
        means = np.stack([sums[c] / counts[c] for c in seen]).astype(np.float32)
        if janson:
            scores = q @ (2 * means).T - (means * means).sum(axis=1)
        else:
            scores = q @ unit_rows(means).T
        pred = np.asarray(seen)[scores.argmax(axis=1)]
        hits = np.bincount(yq[pred == yq], minlength=int(max(seen)) + 1)
        t2 = time.perf_counter()
        learn_s.append(t1 - t0)
        eval_s.append(t2 - t1)
        correct.append({str(c): int(hits[c]) for c in seen})
    return {"learn_s": learn_s, "eval_s": eval_s, "correct": correct}


def main():
    spec = json.load(open(sys.argv[1]))
    xtr, ytr = np.load(spec["train_x"]), np.load(spec["train_y"])
    xte, yte = np.load(spec["test_x"]), np.load(spec["test_y"])
    print(json.dumps({"ready": True, "train": list(xtr.shape), "test": list(xte.shape)}), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print(json.dumps(run(spec, xtr, ytr, xte, yte)), flush=True)


if __name__ == "__main__":
    main()
