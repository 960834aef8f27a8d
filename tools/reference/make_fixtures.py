"""Generate the committed test fixtures for adaneg's Swift tests.

  Tests/AdaNegTests/Fixtures/scoring/<case>/{image,text,labels[,perm],bank_counts}.npy,
                                          params.json, expected.csv
  Tests/AdaNegTests/Fixtures/metrics/<case>.json

Deterministic (fixed seeds). For every scoring case it checks that the stream exercises what
the case claims (gate inserts, replacements, full rows, AdaGap gate moves, ...) and that every
discrete decision has a safety margin, so that a float32 implementation with a different
summation order cannot flip it (gate comparisons, argmax row choice, entropy comparisons,
ID prediction). When a seed gives a too-close call, the next seed is tried.

Run:  .venv-ref/bin/python tools/reference/make_fixtures.py [--out-root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adaneg_reference import grouped_score, score_stream  # noqa: E402
from metrics_reference import compute_metrics  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_ROOT = os.path.join(REPO, "Tests", "AdaNegTests", "Fixtures")

# safety margins for discrete decisions (see module docstring)
MIN_GATE_MARGIN = 2e-5        # |S_nl - threshold|
MIN_ROW_MARGIN = 2e-3         # top-1 minus top-2 logit when choosing a bank row
MIN_PRED_MARGIN = 1e-4        # relative top-1 minus top-2 of the prediction scores
MIN_PRED_TOP = 1e-30          # keep prediction scores far from float32 underflow
MIN_ENTROPY_MARGIN = 1e-4     # relative |H - highest H of a full row|, and highest vs second


# --------------------------------------------------------------------------------------
# synthetic CLIP-like data
# --------------------------------------------------------------------------------------

def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _around(rng, t, rho):
    """Unit vectors with cosine exactly rho to the unit vectors t (random orthogonal part)."""
    u = rng.standard_normal(t.shape)
    u -= (u * t).sum(-1, keepdims=True) * t
    u = _unit(u)
    return _unit(rho[:, None] * t + np.sqrt(1 - rho[:, None] ** 2) * u)


def make_data(seed, C, M, D, N, id_frac, near_frac=0.75, clusters=4,
              rho_id=(0.25, 0.45), rho_ood=(0.30, 0.50)):
    """Text: C random ID unit vectors, M negatives clustered around `clusters` concept centres
    (real negative labels are semantically dense, so an OOD image resembles negatives in every
    group). ID images: cosine rho_id to their class text. OOD images: a share near a concept
    centre (OOD-confident), the rest random directions (far from everything)."""
    rng = np.random.default_rng(seed)
    t_id = _unit(rng.standard_normal((C, D)))
    centres = _unit(rng.standard_normal((clusters, D)))
    member = rng.integers(0, clusters, M)
    t_neg = _unit(centres[member] + 0.0625 * rng.standard_normal((M, D)))
    text = np.concatenate([t_id, t_neg])

    n_id = int(round(N * id_frac))
    n_ood = N - n_id
    cls = rng.integers(0, C, n_id)
    v_id = _around(rng, text[cls], rng.uniform(*rho_id, n_id))
    n_near = int(round(n_ood * near_frac))
    v_near = _around(rng, centres[rng.integers(0, clusters, n_near)], rng.uniform(*rho_ood, n_near))
    v_far = _unit(rng.standard_normal((n_ood - n_near, D)))

    image = np.concatenate([v_id, v_near, v_far])
    labels = np.concatenate([cls, -np.ones(n_ood, dtype=np.int64)]).astype(np.int64)
    order = rng.permutation(N)
    image = _unit(image[order]).astype(np.float32)
    text = _unit(text).astype(np.float32)
    perm_rng = np.random.default_rng(seed + 7919)
    return image, text, labels[order], perm_rng


# --------------------------------------------------------------------------------------
# scoring cases
# --------------------------------------------------------------------------------------

BASE = dict(num_id=20, M=50, D=64, N=500, id_frac=0.6, batch_size=64, memleng=10, thres=0.5,
            gap=0.5, beta=5.0, lam=0.1, groups=5, proxy="task", in_score="combine",
            replacement="entropy", variant="noadagap", logit_scale=100.0, perm=True)

# name -> (overrides, claims)
CASES = {
    "defaults": ({}, {"id_inserts", "ood_inserts"}),
    "task_entropy_L3_m53_perm": (
        dict(M=53, memleng=3, N=550),
        {"id_inserts", "ood_inserts", "replacements", "rows_full", "ragged_last_batch", "drop_remainder"}),
    "sample_entropy_L4_m53_perm_beta5p5": (
        dict(M=53, memleng=4, N=520, proxy="sample", beta=5.5),
        {"id_inserts", "ood_inserts", "replacements", "rows_full", "ragged_last_batch", "drop_remainder"}),
    "task_first_adaonly_L3_noperm": (
        dict(memleng=3, replacement="first", in_score="adaonly", perm=False),
        {"id_inserts", "ood_inserts", "rows_full", "first_drops", "ragged_last_batch"}),
    "sample_first_multiply_L3_m53_perm": (
        dict(M=53, memleng=3, N=450, proxy="sample", replacement="first", in_score="multiply"),
        {"id_inserts", "ood_inserts", "rows_full", "first_drops", "ragged_last_batch", "drop_remainder"}),
    "task_entropy_vanillaonly_L4_m53_noperm_gates": (
        dict(M=53, memleng=4, N=400, in_score="vanillaonly", perm=False, thres=0.6, gap=0.3, lam=0.25),
        {"id_inserts", "ood_inserts", "replacements", "rows_full", "ragged_last_batch", "drop_remainder"}),
    "adagap_id80_task_entropy_L4_perm": (
        dict(memleng=4, N=600, id_frac=0.8, variant="adagap"),
        {"id_inserts", "ood_inserts", "replacements", "rows_full", "adagap_ratio_above", "adagap_moves"}),
    "adagap_id20_sample_entropy_L3_m53_noperm": (
        dict(M=53, memleng=3, N=600, id_frac=0.2, variant="adagap", proxy="sample", perm=False),
        {"id_inserts", "ood_inserts", "replacements", "rows_full", "adagap_ratio_below", "adagap_moves",
         "drop_remainder"}),
    "adagap_id80_sample_first_multiply_B50": (
        dict(memleng=3, N=420, id_frac=0.8, variant="adagap", proxy="sample", replacement="first",
             in_score="multiply", batch_size=50),
        {"id_inserts", "ood_inserts", "rows_full", "first_drops", "adagap_ratio_above", "adagap_moves",
         "ragged_last_batch"}),
    "memleng1_task": (
        dict(memleng=1, N=200),
        {"id_inserts", "ood_inserts", "nothing_cached", "ragged_last_batch"}),
    "batch7_sample_entropy_L3_perm": (
        dict(memleng=3, N=160, batch_size=7, proxy="sample", groups=4, M=50),
        {"id_inserts", "ood_inserts", "replacements", "rows_full", "ragged_last_batch", "drop_remainder"}),
}


def _case_params(overrides):
    p = dict(BASE)
    p.update(overrides)
    return p


def _check_claims(name, p, labels, res, claims):
    st = res["stats"]
    counts = res["bank_counts"]
    N = len(labels)
    M = p["M"]
    ok = {
        "id_inserts": st["id_gate"] > 0 and (counts[:p["num_id"]].sum() > 0 or p["memleng"] == 1),
        "ood_inserts": st["ood_gate"] > 0 and (counts[p["num_id"]:].sum() > 0 or p["memleng"] == 1),
        "replacements": st["replace"] > 0,
        "rows_full": st["rows_full"] > 0,
        "first_drops": st["drop"] > 0 and st["replace"] == 0,
        "ragged_last_batch": N % p["batch_size"] != 0,
        "drop_remainder": M % p["groups"] != 0,
        "nothing_cached": counts.sum() == 0,
        "adagap_ratio_above": bool(st["ratios"]) and max(st["ratios"]) > 0.5,
        "adagap_ratio_below": bool(st["ratios"]) and min(st["ratios"]) < 0.5,
        "adagap_moves": st["adagap_changed"] > 0,
    }
    for c in claims:
        assert ok[c], f"{name}: claim {c} not exercised ({st})"
    if p["replacement"] == "first":
        assert st["replace"] == 0
    if p["memleng"] > 1:
        assert counts.max() <= p["memleng"] - 1


def _robust(res):
    st = res["stats"]
    return (st["gate_margin"] >= MIN_GATE_MARGIN and st["row_argmax_margin"] >= MIN_ROW_MARGIN
            and st["pred_margin"] >= MIN_PRED_MARGIN and st["pred_top_min"] >= MIN_PRED_TOP
            and st["entropy_margin"] >= MIN_ENTROPY_MARGIN and st["slot_margin"] >= MIN_ENTROPY_MARGIN
            and st["entropy_ties"] == 0)


def _run(p, image, text, perm, sample_impl="broadcast"):
    return score_stream(image, text, p["num_id"], perm, p["batch_size"], memleng=p["memleng"],
                        thres=p["thres"], gap=p["gap"], beta=p["beta"], lam=p["lam"], groups=p["groups"],
                        proxy=p["proxy"], in_score=p["in_score"], replacement=p["replacement"],
                        variant=p["variant"], logit_scale=p["logit_scale"], sample_impl=sample_impl)


def _independent_checks(name, p, image, text, perm, res):
    """Cheap consistency checks that do not reuse the stream code paths."""
    C = p["num_id"]
    z = (np.float32(p["logit_scale"]) * image) @ text.T
    # S_nl via a different formulation: group ID mass = 1 / (1 + sum_neg exp / sum_id exp)
    z64 = z.astype(np.float64)
    neg = z64[:, C:]
    neg = neg[:, : neg.shape[1] - neg.shape[1] % p["groups"]]
    if perm is not None:
        neg = neg[:, perm]
    neg = neg.reshape(len(z), p["groups"], -1)
    mx = np.maximum(z64[:, :C].max(1), neg.max((1, 2)))
    sid = np.exp(z64[:, :C] - mx[:, None]).sum(1)
    sneg = np.exp(neg - mx[:, None, None]).sum(2)
    s_nl = (sid[:, None] / (sid[:, None] + sneg)).mean(1)
    assert np.abs(s_nl - res["conf_vanilla"]).max() < 1e-5, name
    # MCM
    e = np.exp(z64[:, :C] - z64[:, :C].max(1, keepdims=True))
    assert np.abs(1 / e.sum(1) - res["mcm"]).max() < 1e-5, name
    if p["in_score"] == "vanillaonly":
        assert np.array_equal(res["conf"], res["conf_vanilla"])
    if p["memleng"] == 1:  # no cache: adaptive score = static score
        lam = p["lam"] if p["variant"] == "noadagap" else 1.0
        if p["in_score"] == "combine":
            assert np.abs(res["conf"] - (1 + lam) * res["conf_vanilla"]).max() < 1e-5, name
    if p["proxy"] == "sample":
        other = _run(p, image, text, perm, sample_impl="matmul")
        assert np.abs(other["conf"] - res["conf"]).max() < 1e-5, name
        assert np.array_equal(other["pred"], res["pred"]), name
        assert np.array_equal(other["bank_counts"], res["bank_counts"]), name


def _check_bank_is_lowest_keys(name, p, res):
    """docs/algorithm.md, "The stream and the distributed memory": the final row holds the L-1 entries with the lowest key
    ((entropy, position) for the entropy policy, position for first) among all inserts."""
    L = p["memleng"]
    stamps = res["stats"]["final_stamps"]
    by_row = {}
    for row, pos, h in res["stats"]["insert_log"]:
        by_row.setdefault(row, []).append((h, pos) if p["replacement"] == "entropy" else (pos,))
    for row in range(stamps.shape[0]):
        keys = sorted(by_row.get(row, []))[: max(L - 1, 0)]
        want = sorted(k[-1] for k in keys)
        have = sorted(int(x) for x in stamps[row] if x >= 0)
        assert want == have, f"{name}: row {row} holds {have}, expected {want}"


def _rederive(name, p, image, text, perm, res, outputs=None):
    """Recompute every output in float64 from scratch, batch by batch, without the Bank class:
    gates (with an independent AdaGap counter), row choice, entropies, the bank contents at each
    batch as "lowest L-1 keys among the inserts so far" (section 5), proxies, scores, predictions.
    With `outputs` (a dict), also hands back the float64 conf, S_nl and MCM per sample."""
    C, G, L, B = p["num_id"], p["groups"], p["memleng"], p["batch_size"]
    s = p["logit_scale"]
    lam = p["lam"]
    n = len(image)
    im = image.astype(np.float64)
    tx = text.astype(np.float64)

    def smax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def gscore(z):
        neg = z[:, C:]
        neg = neg[:, : neg.shape[1] - neg.shape[1] % G]
        if perm is not None:
            neg = neg[:, perm]
        per = neg.shape[1] // G
        return np.mean([smax(np.concatenate([z[:, :C], neg[:, g * per:(g + 1) * per]], 1))[:, :C].sum(1)
                        for g in range(G)], axis=0)

    inserts = {}  # row -> list of (key..., position)
    n_pos, n_neg = 100, 100  # AdaGap window counts (window never wraps in these fixtures)
    assert n < 10000
    pred = np.zeros(n, dtype=np.int64)
    conf = np.zeros(n)
    snl_all = np.zeros(n)
    mcm_all = np.zeros(n)
    for lo in range(0, n, B):
        v = im[lo:lo + B]
        z = s * v @ tx.T
        snl = gscore(z)
        snl_all[lo:lo + B] = snl
        mcm_all[lo:lo + B] = smax(z[:, :C]).max(1)
        tid = np.float32(p["thres"] + p["gap"] * (1 - p["thres"]))
        tood = np.float32(p["thres"] - p["gap"] * p["thres"])
        if p["variant"] == "adagap":
            n_pos += int((snl > tid).sum())
            n_neg += int((snl < tood).sum())
            r = n_pos / (n_pos + n_neg)
            if r > 0.5:
                tood = np.float32(p["thres"] - r * p["thres"])
            elif r < 0.5:
                tid = np.float32(p["thres"] + (1 - r) * (1 - p["thres"]))
        for i in range(len(v)):
            for gate, cols, off in ((snl[i] > tid, slice(0, C), 0), (snl[i] < tood, slice(C, None), C)):
                if gate:
                    q = smax(z[i, cols])
                    h = -(q * np.log(q + 1e-8)).sum()
                    key = (h, lo + i) if p["replacement"] == "entropy" else (lo + i,)
                    inserts.setdefault(off + int(np.argmax(z[i, cols])), []).append(key)
        # bank at scoring time
        cached = {k: [im[key[-1]] for key in sorted(lst)[: max(L - 1, 0)]] for k, lst in inserts.items()}
        if p["proxy"] == "task":
            P = tx.copy()
            for k, feats in cached.items():
                P[k] = tx[k] + np.sum(feats, axis=0)
            P /= np.linalg.norm(P, axis=1, keepdims=True)
            za = s * v @ P.T
        else:
            beta = int(p["beta"])
            za = s * v @ tx.T  # rows with nothing cached: the proxy is the text feature
            for k, feats in cached.items():
                if not feats:
                    continue
                Mk = np.concatenate([tx[k:k + 1], np.array(feats)])  # (1+n_k, D)
                w = np.exp(-beta * (1 - v @ Mk.T))  # (b, 1+n_k)
                pk = w @ Mk
                pk /= np.linalg.norm(pk, axis=1, keepdims=True)
                za[:, k] = s * (v * pk).sum(1)
        sada = gscore(za)
        if p["variant"] == "noadagap":
            pa = (smax(z) + lam * smax(za))[:, :C]
            comb = sada + lam * snl
        else:
            pa = smax(z[:, :C]) + smax(za[:, :C])
            comb = sada + snl
        pred[lo:lo + B] = np.argmax(pa, 1)
        conf[lo:lo + B] = {"adaonly": sada, "vanillaonly": snl, "combine": comb,
                           "multiply": sada * snl}[p["in_score"]]
    counts = np.zeros(len(text), dtype=np.int64)
    for k, lst in inserts.items():
        counts[k] = min(len(lst), max(L - 1, 0))
    assert np.array_equal(pred, res["pred"]), f"{name}: float64 re-derivation disagrees on pred"
    err = np.abs(conf - res["conf"]).max()
    assert err < 2e-5, f"{name}: float64 re-derivation disagrees on conf by {err}"
    assert np.array_equal(counts, res["bank_counts"]), f"{name}: bank counts disagree"
    if outputs is not None:
        outputs.update(pred=pred, conf=conf, conf_vanilla=snl_all, mcm=mcm_all)
    return err


def _write_npy(path, arr):
    np.save(path, arr, allow_pickle=False)


def make_scoring_case(root, index, name, overrides, claims):
    p = _case_params(overrides)
    for attempt in range(200):
        seed = 1000 * (index + 1) + attempt
        image, text, labels, perm_rng = make_data(seed, p["num_id"], p["M"], p["D"], p["N"], p["id_frac"])
        m_kept = p["M"] - p["M"] % p["groups"]
        perm = perm_rng.permutation(m_kept).astype(np.int64) if p["perm"] else None
        res = _run(p, image, text, perm)
        if _robust(res):
            break
    else:
        raise RuntimeError(f"{name}: no robust seed found")
    _check_claims(name, p, labels, res, claims)
    _independent_checks(name, p, image, text, perm, res)
    _check_bank_is_lowest_keys(name, p, res)
    f64_err = _rederive(name, p, image, text, perm, res)

    d = os.path.join(root, "scoring", name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    _write_npy(os.path.join(d, "image.npy"), image)
    _write_npy(os.path.join(d, "text.npy"), text)
    _write_npy(os.path.join(d, "labels.npy"), labels.astype(np.int64))
    if perm is not None:
        _write_npy(os.path.join(d, "perm.npy"), perm)
    _write_npy(os.path.join(d, "bank_counts.npy"), res["bank_counts"].astype(np.int64))
    params = {"num_id": p["num_id"], "batch_size": p["batch_size"], "memleng": p["memleng"],
              "thres": p["thres"], "gap": p["gap"], "beta": p["beta"], "lambda": p["lam"],
              "groups": p["groups"], "proxy": p["proxy"], "in_score": p["in_score"],
              "replacement": p["replacement"], "variant": p["variant"], "logit_scale": p["logit_scale"]}
    with open(os.path.join(d, "params.json"), "w") as f:
        json.dump(params, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "expected.csv"), "w") as f:
        f.write("index,pred,conf,conf_vanilla,mcm\n")
        for i in range(len(labels)):
            f.write("%d,%d,%.9g,%.9g,%.9g\n" % (i, res["pred"][i], res["conf"][i],
                                               res["conf_vanilla"][i], res["mcm"][i]))

    st = res["stats"]
    C = p["num_id"]
    m = compute_metrics(res["conf"], labels, res["pred"])
    ratios = st["ratios"]
    print(f"[scoring] {name}: seed={seed} N={len(labels)} C={C} M={p['M']} D={p['D']} B={p['batch_size']} "
          f"L={p['memleng']} G={p['groups']} {p['proxy']}/{p['in_score']}/{p['replacement']}/{p['variant']} "
          f"perm={'on' if perm is not None else 'off'}")
    print(f"    gates: id={st['id_gate']} ood={st['ood_gate']}; bank: append={st['append']} "
          f"replace={st['replace']} drop={st['drop']} rows_full={st['rows_full']} "
          f"cached id/neg={int(res['bank_counts'][:C].sum())}/{int(res['bank_counts'][C:].sum())}"
          + (f"; adagap ratio {min(ratios):.3f}..{max(ratios):.3f}, moved decisions={st['adagap_changed']}"
             if ratios else ""))
    print(f"    margins: gate={st['gate_margin']:.2e} row={st['row_argmax_margin']:.2e} "
          f"pred(rel)={st['pred_margin']:.2e} entropy(rel)={min(st['entropy_margin'], st['slot_margin']):.2e}; "
          f"auroc={m['auroc']:.4f} fpr95={m['fpr95']:.4f} acc={m['acc']:.4f}; "
          f"float64 re-derivation max|dconf|={f64_err:.1e}")
    print(f"    claims: {', '.join(sorted(claims))}")


# --------------------------------------------------------------------------------------
# metric cases
# --------------------------------------------------------------------------------------

def _f32(x):
    """Scores exactly representable in float32, so Float and Double readers agree."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def _labels(rng, n_id, n_ood, C=10):
    return np.concatenate([rng.integers(0, C, n_id), -np.ones(n_ood, dtype=np.int64)]).astype(np.int64)


def _preds(rng, labels, acc=0.7, C=10):
    pred = rng.integers(0, C, len(labels))
    keep = (labels >= 0) & (rng.random(len(labels)) < acc)
    pred[keep] = labels[keep]
    return pred.astype(np.int64)


def metric_cases():
    cases = {}
    rng = np.random.default_rng(20240601)

    def add(name, conf, labels, pred=None):
        order = rng.permutation(len(labels))
        conf, labels = np.asarray(conf)[order], np.asarray(labels)[order]
        pred = _preds(rng, labels) if pred is None else np.asarray(pred)[order]
        cases[name] = (_f32(conf), labels.astype(np.int64), pred.astype(np.int64))

    lab = _labels(rng, 300, 200)
    add("random_continuous", np.where(lab >= 0, rng.normal(1.0, 1.0, 500), rng.normal(0.0, 1.0, 500)), lab)

    lab = _labels(rng, 250, 250)
    conf = np.where(lab >= 0, rng.normal(0.6, 0.2, 500), rng.normal(0.4, 0.2, 500))
    add("ties_rounded_1dp", np.round(conf, 1), lab)

    lab = _labels(rng, 300, 200)
    conf = np.where(lab >= 0, rng.uniform(0.3, 1.0, 500), rng.uniform(0.0, 0.9, 500))
    conf[(lab >= 0) & (rng.random(500) < 0.6)] = 1.0  # saturated scores (exactly 1.0)
    conf[(lab < 0) & (rng.random(500) < 0.15)] = 1.0
    add("ties_many_exactly_one", conf, lab)

    lab = _labels(rng, 100, 80)
    add("perfect_separation", np.where(lab >= 0, rng.uniform(0.6, 1.0, 180), rng.uniform(0.0, 0.4, 180)), lab)

    lab = _labels(rng, 100, 80)
    add("fully_inverted", np.where(lab >= 0, rng.uniform(0.0, 0.4, 180), rng.uniform(0.6, 1.0, 180)), lab)

    add("tiny", np.array([0.9, 0.2, 0.5]), np.array([3, -1, 1]), pred=np.array([3, 0, 2]))

    lab = _labels(rng, 380, 20)
    add("unbalanced_5pct_ood", np.where(lab >= 0, rng.normal(1.0, 0.7, 400), rng.normal(0.0, 0.7, 400)), lab)

    lab = _labels(rng, 1200, 800, C=100)
    add("large_2000", np.where(lab >= 0, rng.normal(0.8, 0.5, 2000), rng.normal(0.0, 0.5, 2000)), lab,
        pred=_preds(rng, lab, acc=0.65, C=100))

    # ROC points collinear with equal steps are dropped by roc_curve(drop_intermediate=True):
    # 20 OOD, 20 ID. 18 OOD lowest and distinct; then two tie groups of {1 OOD, 1 ID}; then ID.
    # Points (fps, tps): ... (0,18) (1,19) (2,20): (1,19) is dropped, so the first TPR >= 0.95
    # point is (2,20) and fpr95 = 0.10 (it would be 0.05 without dropping).
    ood_conf = list(np.linspace(0.01, 0.18, 18)) + [0.5, 0.6]
    id_conf = [0.5, 0.6] + list(np.linspace(0.7, 0.99, 18))
    add("collinear_tie_groups", np.array(ood_conf + id_conf),
        np.concatenate([-np.ones(20, dtype=np.int64), np.arange(20) % 10]))
    return cases


def make_metric_cases(root):
    d = os.path.join(root, "metrics")
    os.makedirs(d, exist_ok=True)
    for name, (conf, labels, pred) in metric_cases().items():
        m = compute_metrics(conf, labels, pred)
        if name == "perfect_separation":
            assert m["auroc"] == 1.0 and m["fpr95"] == 0.0
        if name == "fully_inverted":
            assert m["auroc"] == 0.0 and m["fpr95"] == 1.0
        if name == "collinear_tie_groups":
            assert abs(m["fpr95"] - 0.10) < 1e-12, m
        out = {"conf": [float(c) for c in conf], "labels": [int(x) for x in labels],
               "pred": [int(x) for x in pred]}
        out.update(m)
        with open(os.path.join(d, f"{name}.json"), "w") as f:
            json.dump(out, f)  # json writes floats with repr (shortest round-trip)
            f.write("\n")
        print(f"[metrics] {name}: n={len(labels)} ood={int((labels < 0).sum())} "
              + " ".join(f"{k}={v:.6f}" for k, v in m.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-root", default=DEFAULT_ROOT)
    ap.add_argument("--only", nargs="*", help="scoring case names to (re)generate")
    args = ap.parse_args()
    root = args.out_root
    for i, (name, (overrides, claims)) in enumerate(CASES.items()):
        if args.only and name not in args.only:
            continue
        make_scoring_case(root, i, name, overrides, claims)
    if not args.only:
        make_metric_cases(root)
    total = 0
    for dp, _, fs in os.walk(root):
        for f in fs:
            if "scoring" in dp or "metrics" in dp:
                total += os.path.getsize(os.path.join(dp, f))
    print(f"fixtures size: {total / 1e6:.2f} MB under {root}")


if __name__ == "__main__":
    main()
