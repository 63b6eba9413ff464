"""Reference retrieval cell in plain numpy (the yardstick for one cell of `cl compat`'s matrix).

Protocol of cl's eval/retrieval.ts (protocols.md §9): L2-normalise, truncate to the common width,
renormalise; cosine scores query x gallery; the query's own id left out of its ranking; CMC top-1
and top-5 and average precision over the FULL ranked gallery, ties ordered by gallery index.
Scores are computed in blocks of 1,024 queries (as cl does) with one float32 matrix product each.
Two rankings:
  argsort  the usual evaluation code (torchreid, OCA-style): a stable argsort of every score row
  count    no full sort: the relevant scores of a row are sorted and the other rows are located
           among them with searchsorted (ties by index resolved exactly), like cl's rankQuery

Worker protocol (test/bench/ref/python.ts): argv[1] is a JSON spec {"x", "labels", "ids": .npy
paths} (query set = gallery set); prints {"ready": true}, then answers "argsort" or "count" with
{"seconds": s, "top1": ..., "top5": ..., "mAP": ..., "evaluated": n}.
"""
import json
import sys
import time

import numpy as np

CHUNK = 1024


def prepare(x, d):
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    return unit(unit(x)[:, :d]).astype(np.float32)


def rank_argsort(s, qlab, qid, glab, gid):
    s = s.copy()
    s[gid == qid] = -np.inf  # left out: sorted last, never relevant
    order = np.argsort(-s, kind="stable")
    hits = (glab[order] == qlab) & (gid[order] != qid)
    pos = np.flatnonzero(hits)
    if pos.size == 0:
        return None
    ranks = pos + 1
    return ranks[0], float(np.mean(np.arange(1, ranks.size + 1) / ranks))


def rank_count(s, qlab, qid, glab, gid):
    keep = gid != qid
    relmask = (glab == qlab) & keep
    rel = np.flatnonzero(relmask)
    if rel.size == 0:
        return None
    other = np.flatnonzero(~relmask & keep)
    # relevant rows by (-score, index); others located among them, ties by index
    rel = rel[np.lexsort((rel, -s[rel]))]
    rs, os_ = s[rel], s[other]
    lo = np.searchsorted(-rs, -os_, side="left")  # relevant rows with a strictly higher score
    hi = np.searchsorted(-rs, -os_, side="right")  # ... plus those with an equal score
    p = lo.copy()
    tied = np.flatnonzero(hi > lo)
    for k in tied:  # equal scores: relevant rows with a smaller index come first
        p[k] = lo[k] + int(np.sum(rel[lo[k]:hi[k]] < other[k]))
    ahead = np.bincount(p, minlength=rel.size + 1)[: rel.size]
    ranks = np.arange(1, rel.size + 1) + np.cumsum(ahead)
    return ranks[0], float(np.mean(np.arange(1, rel.size + 1) / ranks))


def run(x, labels, ids, how):
    t0 = time.perf_counter()
    e = prepare(x, x.shape[1])
    gT = np.ascontiguousarray(e.T)
    rank = rank_argsort if how == "argsort" else rank_count
    top1 = top5 = evaluated = 0
    ap_sum = 0.0
    for start in range(0, e.shape[0], CHUNK):
        block = e[start:start + CHUNK] @ gT
        for r in range(block.shape[0]):
            q = start + r
            res = rank(block[r], labels[q], ids[q], labels, ids)
            if res is None:
                continue
            first, ap = res
            evaluated += 1
            ap_sum += ap
            top1 += first <= 1
            top5 += first <= 5
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "top1": top1 / evaluated, "top5": top5 / evaluated, "mAP": ap_sum / evaluated, "evaluated": evaluated}


def main():
    spec = json.load(open(sys.argv[1]))
    x, labels, ids = np.load(spec["x"]), np.load(spec["labels"]), np.load(spec["ids"])
    print(json.dumps({"ready": True, "shape": list(x.shape)}), flush=True)
    for line in sys.stdin:
        how = line.strip()
        if how in ("argsort", "count"):
            print(json.dumps(run(x, labels, ids, how)), flush=True)


if __name__ == "__main__":
    main()
