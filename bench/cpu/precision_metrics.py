#!/usr/bin/env python3
"""What bf16 changes in the results of an image job: the same job run through `adaneg run` with
`precision: fp32` and with `precision: bf16`, compared per method (AUROC, FPR95, ID accuracy)
and per sample (largest score difference, rank correlation, prediction agreement).

    swift build -c release --product adaneg
    .venv-clip/bin/python bench/cpu/precision_metrics.py --adaneg .build/release/adaneg

The model is the ViT-B/16 architecture with random weights (bench/clip/make_model.py; no real
checkpoint is reachable from the build machine), so the job is made separable on purpose:
each ID class is a colour tint, OOD images are tints between and beyond them, and the text
features are prototypes of the same tints embedded from *other* images (fp32): ID class k's
text row is the mean feature of k-tinted reference images minus the mean of all references,
normalised; the negative rows are the same for tints no ID class uses, plus random directions.
The text side is therefore identical in both runs; only the image tower's precision differs.
Results go to stdout and bench/cpu/PRECISION-METRICS.md.
"""
import argparse
import colorsys
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "clip"))
CLASSES = 10


def tinted(path, hue, rng, size=(320, 240)):
    """A textured image whose mean colour is `hue` (None: grey)."""
    w, h = size
    if hue is None:
        base = np.full(3, 0.5)
    else:
        base = np.array(colorsys.hsv_to_rgb(hue, 0.8, 0.85))
    small = rng.random((h // 16, w // 16, 1)) * 0.5 + 0.75
    im = Image.fromarray(np.clip(small * base * 255, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    a = np.asarray(im).astype(np.float32) + rng.normal(0, 10, (h, w, 3))
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def embed(adaneg, model, paths, out, work):
    listing = os.path.join(work, os.path.basename(out) + ".txt")
    with open(listing, "w") as f:
        f.write("\n".join(paths) + "\n")
    run([adaneg, "embed-images", "--model", model, "--images", listing, "--out", out, "--precision", "fp32",
         "--resize", "224", "--crop", "224"])
    return np.load(out)


def results(db, job):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("""SELECT t.ood_index, r.position, r.pred, r.pred_static, r.conf, r.conf_vanilla, r.mcm
                          FROM results r JOIN tasks t ON t.id = r.task_id JOIN jobs j ON j.id = t.job_id
                          WHERE j.name = ? ORDER BY t.ood_index, r.position""", (job,)).fetchall()
    return np.array(rows, dtype=np.float64)


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adaneg", default=os.path.join(ROOT, ".build", "release", "adaneg"))
    ap.add_argument("--work", default="/tmp/adaneg-precision-metrics")
    ap.add_argument("--per-class", type=int, default=16, help="ID test images per class")
    ap.add_argument("--ood", type=int, default=80, help="OOD test images")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--results", default=os.path.join(HERE, "PRECISION-METRICS.md"))
    args = ap.parse_args()
    from make_model import main as make_model

    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(args.work, "vit-b16")
    make_model(model)
    rng = np.random.default_rng(0)
    img = os.path.join(args.work, "images")
    os.makedirs(img, exist_ok=True)
    id_hues = [k / CLASSES for k in range(CLASSES)]
    neg_hues = [(k + 0.5) / CLASSES for k in range(CLASSES)]
    # Reference images for the text prototypes (never scored), then the test images.
    refs = [(tinted(os.path.join(img, f"ref-id-{k}-{i}.jpg"), h, rng), "id", k) for k, h in enumerate(id_hues) for i in range(4)]
    refs += [(tinted(os.path.join(img, f"ref-neg-{k}-{i}.jpg"), h, rng), "neg", k) for k, h in enumerate(neg_hues) for i in range(2)]
    test_id = [(tinted(os.path.join(img, f"id-{k}-{i}.jpg"), h, rng), k) for k, h in enumerate(id_hues) for i in range(args.per_class)]
    ood_hues = neg_hues + [None]
    test_ood = [tinted(os.path.join(img, f"ood-{i}.jpg"), ood_hues[i % len(ood_hues)], rng) for i in range(args.ood)]

    f = embed(args.adaneg, model, [p for p, _, _ in refs], os.path.join(args.work, "refs.npy"), args.work)
    center = f.mean(axis=0)
    protos = []
    for kind in ("id", "neg"):
        for k in range(CLASSES):
            rows = [i for i, (_, g, c) in enumerate(refs) if g == kind and c == k]
            protos.append(f[rows].mean(axis=0) - center)
    noise = rng.standard_normal((90, f.shape[1])) * np.linalg.norm(protos[0]) / np.sqrt(f.shape[1])
    text = np.vstack(protos + list(noise)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    job_dir = os.path.join(args.work, "job")
    os.makedirs(job_dir, exist_ok=True)
    np.save(os.path.join(job_dir, "text.npy"), text)
    with open(os.path.join(job_dir, "id.txt"), "w") as out:
        out.writelines(f"{p} {k}\n" for p, k in test_id)
    with open(os.path.join(job_dir, "ood.txt"), "w") as out:
        out.writelines(f"{p}\n" for p in test_ood)

    reports, scores = {}, {}
    for precision in ("fp32", "bf16"):
        name = f"precision-{precision}"
        spec = os.path.join(job_dir, f"{name}.yaml")
        with open(spec, "w") as out:
            out.write(f"""name: {name}
model: {model}
data_root: /
allow_outside_root: true
precision: {precision}
preprocessing: {{resize: 224, crop: 224}}
id: {{num_classes: {CLASSES}, images: {{list: id.txt}}}}
ood:
  - {{name: tints, images: {{list: ood.txt}}}}
negatives: {{text_features: text.npy, count: {len(text) - CLASSES}}}
scoring: {{batch_size: 32, groups: 10}}
unit_batches: 2
seed: 0
""")
        db = os.path.join(job_dir, f"{name}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        run([args.adaneg, "run", spec, "--db", db, "--workers", str(args.workers)])
        reports[precision] = json.loads(run([args.adaneg, "report", "--db", db, "--format", "json", name]))
        scores[precision] = results(db, name)
        print(f"{precision}: done", flush=True)

    a, b = scores["fp32"], scores["bf16"]
    assert a.shape == b.shape and (a[:, :2] == b[:, :2]).all(), "the two runs scored different samples"
    lines = ["# bf16 against fp32 on one image job (bench/cpu/precision_metrics.py)", "",
             f"ViT-B/16 architecture, random weights; {len(test_id)} ID images in {CLASSES} tint classes, "
             f"{len(test_ood)} OOD images; {len(text) - CLASSES} negative text rows; `adaneg run` with "
             f"{args.workers} workers, seed 0. The text features are the same in both runs.", "",
             "| method | fp32 AUROC | bf16 AUROC | ΔAUROC (pt) | fp32 FPR95 | bf16 FPR95 | ΔFPR95 (pt) | fp32 ACC | bf16 ACC |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method in ("mcm", "neglabel", "adaneg"):
        ma = next(s for s in reports["fp32"]["sets"] if s["name"] == "tints")["metrics"][method]
        mb = next(s for s in reports["bf16"]["sets"] if s["name"] == "tints")["metrics"][method]
        lines.append(f"| {method} | {100 * ma['auroc']:.2f} | {100 * mb['auroc']:.2f} | {100 * (mb['auroc'] - ma['auroc']):+.3f} | "
                     f"{100 * ma['fpr95']:.2f} | {100 * mb['fpr95']:.2f} | {100 * (mb['fpr95'] - ma['fpr95']):+.3f} | "
                     f"{100 * ma.get('acc', float('nan')):.2f} | {100 * mb.get('acc', float('nan')):.2f} |")
    lines += ["", "| per sample | value |", "|---|---|"]
    for col, label in ((4, "AdaNeg score (conf)"), (5, "NegLabel score"), (6, "MCM score")):
        lines.append(f"| max abs Δ {label} | {np.abs(a[:, col] - b[:, col]).max():.2e} |")
        lines.append(f"| Spearman ρ of {label} | {spearman(a[:, col], b[:, col]):.6f} |")
    lines.append(f"| AdaNeg prediction agreement | {100 * (a[:, 2] == b[:, 2]).mean():.2f}% |")
    lines.append(f"| ID-logit argmax agreement | {100 * (a[:, 3] == b[:, 3]).mean():.2f}% |")
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    with open(args.results, "w") as out:
        out.write(text_out)


if __name__ == "__main__":
    main()
