#!/usr/bin/env python3
"""Independent numpy reference of cl's closed-form learners (docs/methods/ranpac.md, fecam.md,
slda.md), written from the equations, for test/bench/closed-form.ts.

    python3 closed_form_ref.py <workdir>

<workdir>/manifest.json names the cached features (float32 .npy), the class order and its tasks,
the methods' options and the inputs that are random in cl (RanPAC's projection matrix and the
validation rows of each increment's λ search, as .npy files). The reference learns the tasks in
order, evaluates after the tasks listed in `evalTasks` on the test samples of the classes seen,
and writes <workdir>/np_<method>_scores.npy (float64 [N, K] after the last task, classes in
arrival order) and <workdir>/np_results.json (predicted labels per evaluated task, timings).

Everything is float64 with two-pass statistics per class (each class arrives in one task here):
no running merges, no Cholesky (np.linalg solve / inv), so it shares no numerics with cl beyond
the equations.
"""
import json
import os
import sys
import time

import numpy as np


def load(manifest, key):
    return np.load(manifest["features"][key])


def slda(manifest, xtr, ytr, xte, yte, tasks):
    eps = manifest["methods"]["slda"]["shrinkage"]
    d = xtr.shape[1]
    seen, means, preds, scores = [], [], {}, None
    scatter, total = np.zeros((d, d)), 0
    learn_s = eval_s = 0.0
    for t, classes in enumerate(tasks):
        t0 = time.perf_counter()
        for c in classes:  # class-incremental: each class arrives in one task, so pooled scatter = Σ class scatters
            xc = xtr[ytr == c].astype(np.float64)
            mu = xc.mean(0)
            scatter += (xc - mu).T @ (xc - mu)
            total += len(xc)
            means.append(mu)
            seen.append(c)
        mu = np.stack(means)  # K×D
        a = (1 - eps) * scatter / total + eps * np.eye(d)
        w = np.linalg.solve(a, mu.T)  # D×K
        c = 0.5 * np.sum(mu.T * w, axis=0)
        learn_s += time.perf_counter() - t0
        if t in manifest["evalTasks"]:
            t0 = time.perf_counter()
            te = np.isin(yte, seen)
            s = xte[te].astype(np.float64) @ w - c
            preds[t] = np.array(seen)[np.argmax(s, axis=1)].tolist()
            eval_s += time.perf_counter() - t0
            scores = s
    return scores, preds, learn_s, eval_s


def fecam(manifest, xtr, ytr, xte, yte, tasks):
    o = manifest["methods"]["fecam"]
    beta, g1, g2, normalize = o["tukey"], o["gamma1"], o["gamma2"], o["normalizeCovariance"]
    d = xtr.shape[1]
    tukey = (lambda v: v) if beta == 1 else (lambda v: np.power(v, beta))
    protos, precisions, seen = [], [], []
    preds, scores = {}, None
    learn_s = eval_s = 0.0
    for t, classes in enumerate(tasks):
        t0 = time.perf_counter()
        for c in classes:
            xc = xtr[ytr == c].astype(np.float64)
            p = tukey(xc.mean(0))
            protos.append(p / max(np.linalg.norm(p), 1e-12))
            cov = np.cov(tukey(xc).T)  # unbiased, like the authors' code
            v1 = np.mean(np.diagonal(cov))
            off = cov[~np.eye(d, dtype=bool)]
            nz = off[off != 0]
            v2 = nz.mean() if nz.size else 0.0
            s = cov + g1 * v1 * np.eye(d) + g2 * v2 * (1 - np.eye(d))
            if normalize:
                sd = np.sqrt(np.diagonal(s))
                s = s / np.outer(sd, sd)
            precisions.append(np.linalg.inv(s))
            seen.append(c)
        learn_s += time.perf_counter() - t0
        if t in manifest["evalTasks"]:
            t0 = time.perf_counter()
            te = np.isin(yte, seen)
            q = tukey(xte[te].astype(np.float64))
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
            dist = np.empty((q.shape[0], len(seen)))
            for k in range(len(seen)):
                e = q - protos[k]
                dist[:, k] = np.einsum("ij,ij->i", e @ precisions[k], e)
            preds[t] = np.array(seen)[np.argmin(dist, axis=1)].tolist()
            eval_s += time.perf_counter() - t0
            scores = dist
    return scores, preds, learn_s, eval_s


GRID = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]


def ranpac(manifest, xtr, ytr, xte, yte, tasks):
    o = manifest["methods"]["ranpac"]
    wr = np.load(o["projectionFile"]) if o["projection"] > 0 else None
    embed = (lambda x: np.maximum(x.astype(np.float64) @ wr, 0)) if wr is not None else (lambda x: x.astype(np.float64))
    m = wr.shape[1] if wr is not None else xtr.shape[1]
    g = np.zeros((m, m))
    cols, seen, lambdas = {}, [], []
    preds, scores = {}, None
    learn_s = eval_s = 0.0
    for t, classes in enumerate(tasks):
        t0 = time.perf_counter()
        rows = np.nonzero(np.isin(ytr, classes))[0]  # the increment's rows in dataset order, as cl streams them
        h = embed(xtr[rows])
        y = ytr[rows]
        g += h.T @ h
        for c in classes:
            cols[c] = cols.get(c, np.zeros(m)) + h[y == c].sum(0)
        seen += classes
        if o["ridge"] == "auto":
            val = np.load(o["valFiles"][t])
            is_val = np.zeros(len(rows), dtype=bool)
            is_val[val] = True
            block = list(dict.fromkeys(y.tolist()))  # classes in first appearance
            onehot = (y[:, None] == np.array(block)[None, :]).astype(np.float64)
            htr, hva, ytr_, yva = h[~is_val], h[is_val], onehot[~is_val], onehot[is_val]
            gtr, ctr = htr.T @ htr, htr.T @ ytr_
            losses = [np.mean((hva @ np.linalg.solve(gtr + lam * np.eye(m), ctr) - yva) ** 2) for lam in GRID]
            lam = GRID[int(np.argmin(losses))]
        else:
            lam = float(o["ridge"])
        lambdas.append(lam)
        c = np.stack([cols[k] for k in seen], axis=1)
        w = np.linalg.solve(g + lam * np.eye(m), c)
        learn_s += time.perf_counter() - t0
        if t in manifest["evalTasks"]:
            t0 = time.perf_counter()
            te = np.isin(yte, seen)
            s = embed(xte[te]) @ w
            preds[t] = np.array(seen)[np.argmax(s, axis=1)].tolist()
            eval_s += time.perf_counter() - t0
            scores = s
    return scores, preds, learn_s, eval_s, lambdas


def main():
    work = sys.argv[1]
    with open(os.path.join(work, "manifest.json")) as f:
        manifest = json.load(f)
    xtr, ytr = load(manifest, "train"), load(manifest, "trainLabels")
    xte, yte = load(manifest, "test"), load(manifest, "testLabels")
    tasks = manifest["tasks"]
    out = {"numpy": np.__version__, "methods": {}}
    for name in manifest["methods"]:
        fn = {"slda": slda, "fecam": fecam, "ranpac": ranpac}[name]
        c0 = time.process_time()
        r = fn(manifest, xtr, ytr, xte, yte, tasks)
        cpu_s = time.process_time() - c0
        scores, preds, learn_s, eval_s = r[:4]
        np.save(os.path.join(work, f"np_{name}_scores.npy"), scores)
        out["methods"][name] = {"preds": {str(k): v for k, v in preds.items()}, "learnSeconds": learn_s, "evalSeconds": eval_s, "cpuSeconds": cpu_s}
        if name == "ranpac":
            out["methods"][name]["lambdas"] = r[4]
        print(f"numpy {name}: learn {learn_s:.1f} s, eval {eval_s:.1f} s, CPU {cpu_s:.1f} s (all threads)", file=sys.stderr, flush=True)
    with open(os.path.join(work, "np_results.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
