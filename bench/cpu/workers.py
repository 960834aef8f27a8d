#!/usr/bin/env python3
"""Local workers on one machine: throughput of `adaneg run` against `embed-images`, and the
memory N workers take compared with one.

    swift build -c release --product adaneg
    .venv-clip/bin/python bench/cpu/workers.py --adaneg .build/release/adaneg --precision bf16

An image job over synthetic JPEGs (ID and one OOD set) with the ViT-B/16 architecture (random
weights, bench/clip/make_model.py) runs with each worker count in --workers; during each run the
proportional set size (PSS: shared pages split between the processes that map them) of every
adaneg process is sampled every 0.1 s and the peak of their sum is reported, next to the peak sum
of RSS (which counts shared pages once per process). `embed-images` over the same images with
all cores is the throughput peer. Results go to stdout and bench/cpu/WORKERS.md.
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "clip"))


def memory_of_tree(root_pid):
    """Sum of PSS and RSS (kB) over root_pid and its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    pss = rss = 0
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def measured(cmd, env):
    peak = [0, 0]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample():
        while not done.is_set():
            pss, rss = memory_of_tree(p.pid)
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
            time.sleep(0.1)

    t0 = time.perf_counter()
    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = p.communicate()
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return elapsed, peak[0] / 1024, peak[1] / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adaneg", default=os.path.join(ROOT, ".build", "release", "adaneg"))
    ap.add_argument("--work", default="/tmp/adaneg-clip-bench")
    ap.add_argument("--images", type=int, default=256, help="ID images (the OOD set has as many)")
    ap.add_argument("--workers", default="1,default,8", help="worker counts to run ('default': run's own choice)")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--unit-batches", type=int, default=2,
                    help="batches per unit: the job must have at least as many units as the largest worker count, "
                         "or the extra workers find nothing to lease and the memory figure is not theirs")
    ap.add_argument("--results", default=os.path.join(HERE, "WORKERS.md"))
    args = ap.parse_args()
    from bench import make_images, write_list
    from make_model import main as make_model

    model_dir = os.path.join(args.work, "vit-b16")
    make_model(model_dir)
    job_dir = os.path.join(args.work, "workers-job")
    os.makedirs(job_dir, exist_ok=True)
    images = make_images(os.path.join(args.work, "images"), 2 * args.images)
    with open(os.path.join(job_dir, "id.txt"), "w") as f:
        f.writelines(f"{p} {i % 10}\n" for i, p in enumerate(images[: args.images]))
    with open(os.path.join(job_dir, "ood.txt"), "w") as f:
        f.writelines(f"{p}\n" for p in images[args.images:])
    rng = np.random.default_rng(0)
    text = rng.standard_normal((10 + 100, 512)).astype(np.float32)
    np.save(os.path.join(job_dir, "text.npy"), text / np.linalg.norm(text, axis=1, keepdims=True))
    all_list = write_list(os.path.join(job_dir, "all.txt"), images)

    cores = os.cpu_count()
    env = dict(os.environ)
    # embed-images on all cores: the peer (one warm-up run converts the weights into the cache).
    out = os.path.join(job_dir, "features.npy")
    embed = [args.adaneg, "embed-images", "--model", model_dir, "--images", all_list, "--out", out,
             "--precision", args.precision, "--resize", "224", "--crop", "224"]
    subprocess.run(embed, env=env, check=True, capture_output=True)
    t_embed, pss_embed, rss_embed = measured(embed, env)
    rows = []
    for n in args.workers.split(","):
        name = f"workers-{n}"
        with open(os.path.join(job_dir, f"{name}.yaml"), "w") as f:
            f.write(f"""name: {name}
model: {model_dir}
data_root: /
allow_outside_root: true
precision: {args.precision}
preprocessing: {{resize: 224, crop: 224}}
id: {{num_classes: 10, images: {{list: id.txt}}}}
ood:
  - {{name: synthetic, images: {{list: ood.txt}}}}
negatives: {{text_features: text.npy, count: 100}}
scoring: {{batch_size: {args.batch_size}, groups: 10}}
unit_batches: {args.unit_batches}
keep_features: false
""")
        db = os.path.join(job_dir, f"{name}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        flags = [] if n == "default" else ["--workers", n]
        elapsed, pss, rss = measured([args.adaneg, "run", os.path.join(job_dir, f"{name}.yaml"), "--db", db] + flags, env)
        rows.append((n, elapsed, pss, rss))
        print(f"{n} workers: {elapsed:.1f} s, peak PSS {pss:.0f} MB, peak RSS sum {rss:.0f} MB", flush=True)

    base_pss = next((r[2] for r in rows if r[0] == "1"), rows[0][2])
    lines = [
        "# Local workers (bench/cpu/workers.py)",
        "",
        f"{cores} cores; ViT-B/16 architecture (random weights), {args.precision}; {len(images)} synthetic JPEGs "
        f"({args.images} ID + {args.images} OOD) in units of {args.unit_batches} × {args.batch_size} "
        f"({2 * args.images // (args.unit_batches * args.batch_size)} units); the converted-weights cache warm.",
        "",
        "| command | wall s | images/s | vs embed-images | peak PSS (MB) | peak RSS sum (MB) | PSS over 1 worker (MB) |",
        "|---|---|---|---|---|---|---|",
        f"| `embed-images`, all cores | {t_embed:.1f} | {len(images) / t_embed:.2f} | 1.00x | {pss_embed:.0f} | {rss_embed:.0f} | |",
    ]
    for n, elapsed, pss, rss in rows:
        lines.append(f"| `run{'' if n == 'default' else ' --workers ' + n}` | {elapsed:.1f} | {len(images) / elapsed:.2f} | {t_embed / elapsed:.2f}x | "
                     f"{pss:.0f} | {rss:.0f} | {pss - base_pss:+.0f} |")
    lines += ["", "Times include start-up (model load from the cache, planning) for both commands.", ""]
    text = "\n".join(lines)
    print(text)
    with open(args.results, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
