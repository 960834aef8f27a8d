"""Sweep fixtures: one stream (the `defaults` scoring fixture's features) scored by the numpy
reference at several points of a grid, for `Tests/AdaNegTests/SweepScorerTests.swift`.

    python3 tools/reference/make_sweep_fixtures.py

Writes Tests/AdaNegTests/Fixtures/sweep/points.json (the points, each with every parameter)
and expected_<k>.csv (index,pred,conf,conf_vanilla,mcm per sample). Only points whose
decisions are robust (gate, row and prediction margins well above float32 noise, as
make_fixtures.py requires of its cases) are kept, so a float32 implementation must agree.
The expected values are the reference's float64 re-derivation (make_fixtures._rederive, whose
decisions must equal the float32 reference's), so they are the algorithm's, not float32
rounding's.
"""
import json
import os

import numpy as np

from make_fixtures import _rederive, _robust, _run

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SOURCE = os.path.join(ROOT, "Tests", "AdaNegTests", "Fixtures", "scoring", "defaults")
OUT = os.path.join(ROOT, "Tests", "AdaNegTests", "Fixtures", "sweep")

BASE = json.load(open(os.path.join(SOURCE, "params.json")))

# The grid a sweep test runs (`--set memleng=3,10 --set gap=0.3,0.5 --set proxy=task,sample`),
# plus points that change the static half (batch size, groups) and the final combination.
CANDIDATES = []
for memleng in (3, 10):
    for gap in (0.3, 0.5):
        for proxy in ("task", "sample"):
            CANDIDATES.append({"memleng": memleng, "gap": gap, "proxy": proxy})
CANDIDATES += [
    {"batch_size": 50},
    {"groups": 4},
    {"groups": 2},
    {"groups": 10},
    {"in_score": "multiply", "lambda": 0.5},
    {"replacement": "first", "memleng": 4},
    {"variant": "adagap"},
    {"variant": "adagap", "proxy": "sample", "thres": 0.4},
]


def main():
    image = np.load(os.path.join(SOURCE, "image.npy"))
    text = np.load(os.path.join(SOURCE, "text.npy"))
    perm_path = os.path.join(SOURCE, "perm.npy")
    os.makedirs(OUT, exist_ok=True)
    kept = []
    for overrides in CANDIDATES:
        p = dict(BASE)
        p.update(overrides)
        q = dict(p)
        q["lam"] = q.pop("lambda")
        m_kept = (text.shape[0] - p["num_id"]) - (text.shape[0] - p["num_id"]) % p["groups"]
        perm = np.load(perm_path) if os.path.exists(perm_path) else None
        if perm is not None and len(perm) != m_kept:
            perm = None  # another groups count keeps other columns: no permutation there
        res = _run(q, image, text, perm)
        robust = _robust(res)
        print(overrides, "robust" if robust else "NOT robust: left out")
        if not robust:
            continue
        # The expected values: the reference's float64 re-derivation (same decisions, checked
        # against the float32 reference), since float32 softmaxes round at ~1e-6 themselves.
        exact = {}
        _rederive(str(overrides), q, image, text, perm, res, outputs=exact)
        k = len(kept)
        point = {key: p[key] for key in ("memleng", "thres", "gap", "beta", "lambda", "groups", "batch_size",
                                          "proxy", "in_score", "replacement", "variant", "logit_scale")}
        point["permuted"] = perm is not None
        kept.append(point)
        with open(os.path.join(OUT, f"expected_{k}.csv"), "w") as f:
            f.write("index,pred,conf,conf_vanilla,mcm\n")
            for i in range(image.shape[0]):
                f.write("%d,%d,%.12g,%.12g,%.12g\n" % (i, exact["pred"][i], exact["conf"][i], exact["conf_vanilla"][i], exact["mcm"][i]))
    with open(os.path.join(OUT, "points.json"), "w") as f:
        json.dump({"num_id": BASE["num_id"], "source": "scoring/defaults", "points": kept}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
