"""OpenOOD-convention OOD metrics, computed with scikit-learn (see docs/algorithm.md, "Metrics").

labels: ID class index, or -1 for OOD. conf: higher = more ID.
  fpr95             OOD positive, score -conf: FPR (share of ID flagged OOD) at the first ROC point
                    (sklearn.metrics.roc_curve, default drop_intermediate=True) whose TPR >= 0.95.
  fpr95_id_positive ID positive, score conf: FPR (share of OOD accepted) at the first ROC point whose
                    TPR (ID recall) >= 0.95.
  auroc             metrics.auc(fpr, tpr) of the OOD-positive ROC.
  aupr_in           metrics.auc(recall, precision) of precision_recall_curve(id_indicator, conf).
  aupr_out          metrics.auc(recall, precision) of precision_recall_curve(ood_indicator, -conf).
  acc               mean(pred == label) over ID samples.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics

TPR_TH = 0.95


def _fpr_at_tpr(indicator: np.ndarray, score: np.ndarray, tpr_th: float = TPR_TH) -> float:
    fpr, tpr, _ = metrics.roc_curve(indicator, score)
    return float(fpr[np.argmax(tpr >= tpr_th)])


def compute_metrics(conf, labels, pred=None) -> dict:
    conf = np.asarray(conf, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    ood = (labels == -1).astype(np.int64)
    ind = 1 - ood

    fpr_list, tpr_list, _ = metrics.roc_curve(ood, -conf)
    fpr95 = float(fpr_list[np.argmax(tpr_list >= TPR_TH)])
    auroc = float(metrics.auc(fpr_list, tpr_list))
    fpr95_id = _fpr_at_tpr(ind, conf)

    prec_in, rec_in, _ = metrics.precision_recall_curve(ind, conf)
    prec_out, rec_out, _ = metrics.precision_recall_curve(ood, -conf)
    aupr_in = float(metrics.auc(rec_in, prec_in))
    aupr_out = float(metrics.auc(rec_out, prec_out))

    out = {"fpr95": fpr95, "fpr95_id_positive": fpr95_id, "auroc": auroc,
           "aupr_in": aupr_in, "aupr_out": aupr_out}
    if pred is not None:
        pred = np.asarray(pred, dtype=np.int64)
        idm = labels != -1
        out["acc"] = float(np.mean(pred[idm] == labels[idm])) if idm.any() else float("nan")
    return out
