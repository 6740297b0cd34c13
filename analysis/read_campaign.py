#!/usr/bin/python3
"""Read a campaign file (results/<name>.h5, schema in the top-level README) with h5py.

  /usr/bin/python3 analysis/read_campaign.py [results/demo.h5] [--model proposed]

Prints the test C of every job, then for one model row the out-of-fold survival probability of each
patient at the report's horizons (each patient is a test patient of exactly one fold per replicate and
repeat; its S(t | risk) comes from that fold's Breslow baseline, /survival/patient_surv)."""
import argparse

import h5py
import numpy as np

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("campaign", nargs="?", default="results/demo.h5")
ap.add_argument("--model", default="proposed")
a = ap.parse_args()
with h5py.File(a.campaign, "r") as f:
    model = f["/jobs/model"][:].astype(str)
    fold, status = f["/jobs/fold"][:], f["/jobs/status"][:].astype(str)
    c_test = f["/jobs/cindex"][:, 2]
    for j in range(len(model)):
        print(f"{model[j]:22s} fold {fold[j]}  {status[j]:8s} test C {c_test[j]:.3f}")
    if "survival" not in f:
        raise SystemExit(f"{a.campaign}: no /survival group (campaign written before survival outputs)")
    horizons, grid = f["/survival/horizons_days"][:], f["/survival/grid_days"][:]
    at = [int(np.argmin(np.abs(grid - h))) for h in horizons]
    rows = [j for j in range(len(model)) if model[j] == a.model and status[j] == "ok"]
    if not rows:
        raise SystemExit(f"{a.campaign}: no finished job of model '{a.model}' (rows: {sorted(set(model))})")
    role = f["/risks/patient_role"][rows, :]
    surv = f["/survival/patient_surv"][rows, :, :][:, :, at]  # [jobs of the row, P, H]
    test = role == 2
    # out-of-fold: the mean over the jobs where the patient was a test patient (one per replicate)
    oof = np.where(test[:, :, None], surv, 0.0).sum(0) / np.maximum(test.sum(0), 1)[:, None]
    oof[test.sum(0) == 0, :] = np.nan
    time, event = f["/cohort/time_days"][:], f["/cohort/event"][:]
    print("patient,time_days,event," + ",".join(f"surv_at_{h:g}" for h in horizons))
    for p in range(len(time)):
        print(f"{p},{time[p]:g},{event[p]}," + ",".join(f"{s:.4f}" for s in oof[p]))
