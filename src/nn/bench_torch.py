#!/usr/bin/python3
"""Times the PyTorch twin of one lesionrank CNN training step (forward in train mode, loss sum(y*dy),
backward, Adam) for `lesionrank bench`, which runs this script via popen and compares in the same run.
Prints key: value lines: samples_per_s, step_s, step_cpu_s, peak_rss_mb, torch_version, threads."""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import ResNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet50", "resnet18_3d"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--dims", default="72x72", help="HxW or DxHxW")
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dims = [int(v) for v in a.dims.split("x")]
    model = ResNet(a.arch, a.in_channels, a.width, 1)
    model.train()
    x = torch.randn([a.batch, a.in_channels] + dims)
    dy = torch.randn(a.batch, 1) / a.batch
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        y, _ = model(x)
        (y * dy).sum().backward()
        opt.step()

    step()  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    dcpu = (time.process_time() - c0) / a.steps
    print("torch_version: %s" % torch.__version__)
    print("threads: %d" % torch.get_num_threads())
    print("step_s: %.4f" % dt)
    print("step_cpu_s: %.4f" % dcpu)
    print("samples_per_s: %.3f" % (a.batch / dt))
    print("peak_rss_mb: %.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


if __name__ == "__main__":
    main()
