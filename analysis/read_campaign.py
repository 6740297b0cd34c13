# Read a campaign file (results/<name>.h5, schema in README.md) with h5py: test C per job.
import h5py, numpy as np
f = h5py.File("results/demo.h5", "r")
jobs = zip(f["/jobs/model"][:].astype(str), f["/jobs/fold"][:], f["/jobs/status"][:].astype(str), f["/jobs/cindex"][:, 2])
for model, fold, status, c_test in jobs: print(f"{model:22s} fold {fold}  {status:8s} test C {c_test:.3f}")
