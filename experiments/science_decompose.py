#!/usr/bin/python3
"""What a synthetic campaign's lesion risks track (not in CI; needs h5py and numpy).

  /usr/bin/python3 experiments/science_decompose.py results/science_ensemble/results/science_s*.h5 [--model proposed]

The true lesion log-hazard h of the synthetic cohort is an organ effect plus a within-organ part
(proliferation phenotype, and the lung's containment). Per campaign file and fold this prints the Spearman
correlation of the model's lesion risks with h, with the organ part (the mean h of the lesion's organ over
the cohort) and with the within-organ part (h minus that mean), on the fold's test lesions and on its
training lesions, and the mean pairwise Spearman between the fold's replicates (their agreement). With
several replicates the risks are the report's ensemble: each replicate standardized on the split's lesions
that entered a risk, then averaged per lesion row. Spearman ranks ties by their average rank."""
import argparse
import warnings

import h5py
import numpy as np


def ranks(x):
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=float)
    xs = x[order]
    start = 0
    for i in range(1, len(x) + 1):  # ties: the mean of their ranks
        if i == len(x) or xs[i] != xs[start]:
            r[order[start:i]] = (start + i - 1) / 2.0
            start = i
    return r


def spearman(a, b):
    if len(a) < 3:
        return float("nan")
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def ensemble(f, jobs, rows):
    z = []
    for j in jobs:
        r = f["/risks/lesion"][j][rows].astype(float)
        used = f["/risks/lesion_used"][j][rows] > 0
        r[~used] = np.nan
        z.append((r - np.nanmean(r)) / np.nanstd(r, ddof=1))
    z = np.array(z)
    with warnings.catch_warnings():  # a row no replicate used: NaN, dropped by the caller
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(z, 0), z


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("campaign", nargs="+")
ap.add_argument("--model", default="proposed")
a = ap.parse_args()
print("| campaign | fold | replicates | test ρ(h) | test ρ(organ part) | test ρ(within-organ part) | train ρ(h) "
      "| replicate agreement |")
print("|---|---|---|---|---|---|---|---|")
for path in a.campaign:
    with h5py.File(path, "r") as f:
        if "/cohort/truth_lesion_log_hazard" not in f:
            raise SystemExit(f"{path}: no /cohort/truth_lesion_log_hazard (not a synthetic cohort)")
        model = f["/jobs/model"][:].astype(str)
        status = f["/jobs/status"][:].astype(str)
        fold = f["/jobs/fold"][:]
        h = f["/cohort/truth_lesion_log_hazard"][:]
        organ = f["/cohort/lesion_organ"][:]
        ap_, first, n = (f["/cohort/annotation_patient"][:], f["/cohort/annotation_first_lesion"][:],
                         f["/cohort/annotation_n_lesions"][:])
        patient = np.repeat(ap_, n)  # lesion row -> patient (rows are contiguous per annotation)
        assert np.all(first == np.concatenate([[0], np.cumsum(n)[:-1]])), "annotations not in row order"
        organ_part = np.array([h[organ == k].mean() for k in organ])
        within = h - organ_part
        for k in sorted(set(fold[(model == a.model) & (status == "ok")])):
            jobs = [j for j in range(len(model)) if model[j] == a.model and status[j] == "ok" and fold[j] == k]
            role = f["/risks/patient_role"][jobs[0]][patient]
            out = []
            for split in (2, 0):  # test, train
                rows = np.flatnonzero(role == split)
                e, z = ensemble(f, jobs, rows)
                keep = np.isfinite(e)
                out.append((rows[keep], e[keep], z[:, keep]))
            (rt, et, zt), (rr, er, _) = out
            agree = [spearman(zt[i][np.isfinite(zt[i]) & np.isfinite(zt[j])], zt[j][np.isfinite(zt[i]) & np.isfinite(zt[j])])
                     for i in range(len(jobs)) for j in range(i + 1, len(jobs))]
            print(f"| {path} | {k} | {len(jobs)} | {spearman(et, h[rt]):+.2f} | {spearman(et, organ_part[rt]):+.2f} | "
                  f"{spearman(et, within[rt]):+.2f} | {spearman(er, h[rr]):+.2f} | "
                  + (f"{np.mean(agree):.2f} |" if agree else "|"))
