#!/usr/bin/env python3
"""Image jobs end to end against `embed-images` on the same images and machine.

The peer is `adaneg embed-images` over every image of the job once (decode, preprocess, vision
tower: the work a job cannot avoid). The job runs through `adaneg run` (coordinator, planning
with the model checksum, worker processes, leases, bank syncs, feature storage, the report);
the ratio says what the distributed machinery costs on top of embedding. A second job over the
same images (`adaneg rescore`, other proxy) shows that stored features are not embedded again.

    .venv-clip/bin/python bench/images/bench.py --adaneg .build-release/release/adaneg
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clip"))
from bench import make_images, write_list  # noqa: E402  (bench/clip/bench.py)
from make_model import main as make_model  # noqa: E402


def timed(cmd, env):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return time.perf_counter() - t, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adaneg", required=True)
    ap.add_argument("--work", default="/tmp/adaneg-image-bench")
    ap.add_argument("--id-images", type=int, default=96)
    ap.add_argument("--ood-images", type=int, default=32)
    args = ap.parse_args()
    cores = os.cpu_count()
    os.makedirs(args.work, exist_ok=True)
    model = os.path.join("/tmp/adaneg-clip-bench", "vit-b16")
    make_model(model)
    images = make_images(os.path.join(args.work, "images"), args.id_images + args.ood_images)
    root = os.path.join(args.work, "images")
    rel = [os.path.relpath(p, root) for p in images]
    write_list(os.path.join(args.work, "id.txt"), [f"{r} {i % 2}" for i, r in enumerate(rel[: args.id_images])])
    write_list(os.path.join(args.work, "ood.txt"), rel[args.id_images:])
    write_list(os.path.join(args.work, "all.txt"), images)
    rng = np.random.default_rng(0)
    text = rng.normal(size=(2 + 20, 512)).astype(np.float32)
    np.save(os.path.join(args.work, "text.npy"), text / np.linalg.norm(text, axis=1, keepdims=True))
    job = os.path.join(args.work, "job.yaml")
    with open(job, "w") as f:
        f.write(f"""name: bench-images
model: {model}
data_root: images
id: {{num_classes: 2, images: {{list: id.txt}}}}
ood:
  - {{name: synthetic, images: {{list: ood.txt}}}}
negatives: {{text_features: text.npy, count: 20}}
scoring: {{batch_size: 16, groups: 2, memleng: 4}}
preprocessing: {{resize: 224, crop: 224}}
unit_batches: 2
""")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(cores))
    n = args.id_images + args.ood_images
    rows = []

    t_embed, _ = timed([args.adaneg, "embed-images", "--model", model, "--images", os.path.join(args.work, "all.txt"),
                        "--out", os.path.join(args.work, "features.npy"), "--threads", str(cores), "--resize", "224"], env)
    rows.append(("`embed-images` (peer), all images once", t_embed, n / t_embed, ""))
    for workers in (1, 2):
        db = os.path.join(args.work, f"run-{workers}.sqlite")
        for stale in (db, db + "-wal", db + "-shm"):
            if os.path.exists(stale):
                os.remove(stale)
        t_run, _ = timed([args.adaneg, "run", job, "--workers", str(workers), "--db", db], env)
        rows.append((f"`run`, {workers} worker(s) × {max(1, cores // workers)} thread(s)", t_run, n / t_run, f"{t_embed / t_run:.2f}×"))
    t_re, _ = timed([args.adaneg, "rescore", "--db", os.path.join(args.work, "run-1.sqlite"), "bench-images", "--proxy", "sample",
                     "--workers", "1"], env)
    rows.append(("`rescore` (other proxy; stored features, nothing embedded)", t_re, n / t_re, f"{t_embed / t_re:.2f}×"))

    print(f"{n} synthetic JPEGs (500x375 .. 640x480), ViT-B/16 architecture with random weights, {cores} cores; wall time including model loading.\n")
    print("| run | seconds | images/s | vs `embed-images` |")
    print("|---|---|---|---|")
    for name, t, rate, ratio in rows:
        print(f"| {name} | {t:.1f} | {rate:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
