"""Time the numpy AdaNeg reference (tools/reference/adaneg_reference.py) on a feature stream.

  python bench/numpy_reference_timing.py DIR --num-id 1000 --proxy task [--batches K]

DIR holds image.npy (N x D float32), text.npy ((C+M) x D float32) and optionally perm.npy
(int64, M' = M - M mod G; absent = no permutation). Only the first K batches are timed
(default: all). Prints one JSON line:
  {"proxy": ..., "batches": K, "ms_per_batch": ..., "peak_rss_mb": ..., ...details}

The sample proxy materialises the per-sample proxies chunk by chunk (no Gram-matrix shortcut);
--sample-impl chooses between the literal broadcast (b x R x (1+L) x D tensor, as used to make
the fixtures) and a batched matmul for the same weighted sum (default; much faster). Chunks are
bounded by --chunk-mb, so memory stays well under 4 GB at ImageNet shape (C=1000, M=10000,
D=512, B=256).

--synthesize N writes a CLIP-like synthetic image.npy/text.npy of N samples (shape from
--num-id, --num-neg, --dim) into DIR first if DIR has no image.npy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))
import adaneg_reference as ref  # noqa: E402


def synthesize(d, n, num_id, num_neg, dim, seed=0):
    from make_fixtures import make_data
    image, text, _, _ = make_data(seed, num_id, num_neg, dim, n, id_frac=0.5)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "image.npy"), image)
    np.save(os.path.join(d, "text.npy"), text)


def main():
    ap = argparse.ArgumentParser(description="numpy AdaNeg reference timing")
    ap.add_argument("dir")
    ap.add_argument("--num-id", type=int, required=True)
    ap.add_argument("--proxy", choices=ref.PROXIES, default="task")
    ap.add_argument("--batches", type=int, default=None, help="time only the first K batches")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--memleng", type=int, default=10)
    ap.add_argument("--thres", type=float, default=0.5)
    ap.add_argument("--gap", type=float, default=0.5)
    ap.add_argument("--beta", type=float, default=5.0)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--in-score", choices=ref.IN_SCORES, default="combine")
    ap.add_argument("--replacement", choices=ref.REPLACEMENTS, default="entropy")
    ap.add_argument("--variant", choices=ref.VARIANTS, default="noadagap")
    ap.add_argument("--logit-scale", type=float, default=100.0)
    ap.add_argument("--sample-impl", choices=("matmul", "broadcast"), default="matmul")
    ap.add_argument("--chunk-mb", type=int, default=256, help="bound on one sample-proxy chunk")
    ap.add_argument("--synthesize", type=int, default=None, metavar="N")
    ap.add_argument("--num-neg", type=int, default=10000, help="with --synthesize")
    ap.add_argument("--dim", type=int, default=512, help="with --synthesize")
    args = ap.parse_args()

    if args.synthesize and not os.path.exists(os.path.join(args.dir, "image.npy")):
        synthesize(args.dir, args.synthesize, args.num_id, args.num_neg, args.dim)

    image = np.load(os.path.join(args.dir, "image.npy")).astype(np.float32, copy=False)
    text = np.load(os.path.join(args.dir, "text.npy")).astype(np.float32, copy=False)
    perm_path = os.path.join(args.dir, "perm.npy")
    perm = np.load(perm_path) if os.path.exists(perm_path) else None

    n_batches = (len(image) + args.batch_size - 1) // args.batch_size
    k = n_batches if args.batches is None else min(args.batches, n_batches)

    t0 = time.perf_counter()
    ref.score_stream(image, text, args.num_id, perm, args.batch_size, memleng=args.memleng,
                     thres=args.thres, gap=args.gap, beta=args.beta, lam=args.lam, groups=args.groups,
                     proxy=args.proxy, in_score=args.in_score, replacement=args.replacement,
                     variant=args.variant, logit_scale=args.logit_scale, sample_impl=args.sample_impl,
                     sample_budget_mb=args.chunk_mb, max_batches=k, collect_stats=False)
    elapsed = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"proxy": args.proxy, "batches": k,
                      "ms_per_batch": round(1000.0 * elapsed / max(k, 1), 3),
                      "peak_rss_mb": round(peak_kb / 1024.0, 1),
                      "batch_size": args.batch_size, "num_id": args.num_id,
                      "num_labels": int(text.shape[0]), "dim": int(text.shape[1]),
                      "sample_impl": args.sample_impl if args.proxy == "sample" else None,
                      "numpy": np.__version__}))


if __name__ == "__main__":
    main()
