"""Writes Tests/ReportTests/Fixtures/sklearn_sets.json: stored-result rows for a few OOD sets
(ties, errored samples) and the metrics scikit-learn computes on the usable rows, the
reference `adaneg report` must match to 1e-6.

Run with the reference venv:  .venv-ref/bin/python tools/report/make_fixture.py
"""
import json
import os

import numpy as np
from sklearn import metrics as skm


def fpr_at_recall(y_true, score, recall=0.95):
    fpr, tpr, _ = skm.roc_curve(y_true, score)
    return float(fpr[np.argmax(tpr >= recall)])


def aupr(y_true, score):
    precision, rec, _ = skm.precision_recall_curve(y_true, score)
    return float(skm.auc(rec, precision))


def set_metrics(labels, pred, conf):
    ood = (labels < 0).astype(int)
    idp = 1 - ood
    id_mask = labels >= 0
    return {
        "fpr95": fpr_at_recall(ood, -conf),
        "fpr95_id_positive": fpr_at_recall(idp, conf),
        "auroc": float(skm.roc_auc_score(ood, -conf)),
        "aupr_in": aupr(idp, conf),
        "aupr_out": aupr(ood, -conf),
        "acc": float(np.mean(pred[id_mask] == labels[id_mask])),
        "id_count": int(id_mask.sum()),
        "ood_count": int((~id_mask).sum()),
    }


def main():
    rng = np.random.default_rng(7)
    classes = 5
    n_id = 120
    sets = []
    specs = [("Textures", "far", 90, 1.5, None), ("SSB-hard", "near", 110, 0.4, 2), ("NINCO", "near", 70, 0.7, 1)]
    id_labels = rng.integers(0, classes, n_id)
    for name, group, n_ood, shift, decimals in specs:
        labels = np.concatenate([id_labels, -np.ones(n_ood, dtype=int)])
        order = rng.permutation(len(labels))
        labels = labels[order]
        is_id = labels >= 0
        pred = np.where(is_id & (rng.random(len(labels)) < 0.8), labels, rng.integers(0, classes, len(labels)))
        scores = {}
        for key, s in [("conf", shift), ("conf_vanilla", shift * 0.7), ("mcm", shift * 0.4)]:
            x = rng.normal(0, 1, len(labels)) + np.where(is_id, s, 0.0)
            if decimals is not None:  # coarse scores: many ties, also across ID and OOD
                x = np.round(x, decimals)
            scores[key] = x.astype(np.float32)
        errored = rng.random(len(labels)) < 0.05
        rows = []
        for i in range(len(labels)):
            row = {"position": i, "label": int(labels[i])}
            if errored[i]:
                row["error"] = "cannot decode image"
            else:
                row.update(pred=int(pred[i]), conf=float(scores["conf"][i]), conf_vanilla=float(scores["conf_vanilla"][i]),
                           mcm=float(scores["mcm"][i]), adaptive=0.0)
            rows.append(row)
        ok = ~errored
        expected = {m: set_metrics(labels[ok], pred[ok], scores[col][ok].astype(np.float64))
                    for m, col in [("mcm", "mcm"), ("neglabel", "conf_vanilla"), ("adaneg", "conf")]}
        sets.append({"name": name, "group": group, "results": rows, "errored": int(errored.sum()), "expected": expected})
    out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "ReportTests", "Fixtures", "sklearn_sets.json")
    with open(out, "w") as f:
        json.dump({"sklearn": __import__("sklearn").__version__, "num_id": classes, "sets": sets}, f, indent=1)
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
