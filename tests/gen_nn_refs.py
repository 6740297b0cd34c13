#!/usr/bin/python3
"""Writes the PyTorch reference files for the CNN engine's parity tests (tests/test_nn_parity.c):
tests/references/nn/{resnet18,resnet50,resnet18_3d}.h5, each with
  /params/<key>        random weights and BN running statistics (state_dict keys)
  /x [N,C,(D,)H,W]     input batch;  /dy [N,out]  upstream gradient (loss = sum(y * dy))
  /y_eval, /emb_eval   eval-mode output and pooled embedding
  /y_train, /emb_train train-mode output; /grads/<key> d loss / d param after one backward;
  /running_after/<key> BN running statistics after that train-mode forward
  /adam/<key>          parameters and running statistics after adam_steps Adam steps (lr, eps, weight_decay
                       in attrs)
and tests/references/nn/resnet18_w64.h5, the full-width check (ResNet18 width 64 as users run it, a batch
of 4 patches of 72x72): its weights are not stored but made by formula_weights() below, which the C test
repeats, so the file holds only /x, /dy, /y_eval, /emb_eval, /y_train, /emb_train and /grads/<key> of
five tensors (FULL_WIDTH_GRADS; the large ones sampled every GRAD_STRIDE-th element).
Run with Debian's python3-torch 1.13: /usr/bin/python3 tests/gen_nn_refs.py [resnet18_w64] (from the repo
root; with a case name only that case is written). CI uses only the committed files."""
import copy
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "nn"))
from torch_resnet import ResNet  # noqa: E402

CASES = [
    # name, arch, in_channels, width, out_size, input shape, Adam eps, Adam steps
    # Adam's eps is 0.1 here: with the default 1e-8 an entry whose gradient is near its rounding level
    # moves by ±lr·sign(g), so a rounding-level difference (e.g. Winograd vs im2col) flips its update.
    ("resnet18", "resnet18", 1, 4, 1, (3, 1, 40, 40), 1e-1, 3),
    # ResNet50 at width 4 on a tiny batch is chaotic under training: in PyTorch itself a 1e-7 relative
    # perturbation of the weights changes the parameters after 2-3 Adam steps by percents (BN over 8
    # values in layer4, ReLU kinks). So this case checks one step.
    ("resnet50", "resnet50", 3, 4, 3, (2, 3, 40, 40), 1e-1, 1),
    ("resnet18_3d", "resnet18_3d", 1, 2, 1, (2, 1, 12, 40, 40), 1e-1, 3),
]
ADAM_LR, ADAM_WD = 1e-3, 1e-4


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:  # BN gamma
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif name.endswith("bias") and p.dim() == 1 and not name.startswith("fc."):  # BN beta
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))


def state(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def write_group(f, group, tensors):
    for k, v in tensors.items():
        f.create_dataset("%s/%s" % (group, k), data=v.astype(np.float32))


# Gradients of the full-width case: the 3×3 convs of layer2-4 (Winograd at 9×9, 5×5 and 3×3 maps), every
# GRAD_STRIDE-th element (the whole tensors are megabytes), and two small tensors whole. The stem and
# layer1 are not compared: at a batch of 4 they are ill-conditioned (a 1e-6 relative change of the input
# moves their gradients by 0.5-3 % through max-pool and ReLU ties, in any engine).
FULL_WIDTH_GRADS = ["layer2.1.conv2.weight", "layer3.1.conv2.weight", "layer4.1.conv2.weight",
                    "layer2.1.bn2.weight", "layer3.0.downsample.0.weight"]
GRAD_STRIDE = 97
MASK64 = (1 << 64) - 1


def fnv1a(key):
    h = 0xCBF29CE484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def uniform01(key, n):
    """u[i] = splitmix64(fnv1a(key) + i) >> 11, scaled to [0, 1): the same numbers the C test makes."""
    z = (np.uint64(fnv1a(key)) + np.arange(n, dtype=np.uint64)) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def formula_weights(model):
    """Every state_dict entry from uniform01(key): conv kaiming-uniform (fan_out), BN gamma 0.5+u,
    beta 0.1(2u-1), running mean 0.1(2u-1), running var 0.5+u, fc (2u-1)/sqrt(fan_in). float64, then float32."""
    sd = model.state_dict()
    with torch.no_grad():
        for key, t in sd.items():
            if key.endswith("num_batches_tracked"):
                continue
            u = uniform01(key, t.numel())
            if key.startswith("fc."):
                v = (2.0 * u - 1.0) / np.sqrt(float(model.fc.in_features))
            elif t.dim() >= 4:
                fan_out = t.shape[0] * int(np.prod(t.shape[2:]))
                v = (2.0 * u - 1.0) * np.sqrt(3.0) * np.sqrt(2.0 / fan_out)
            elif key.endswith("running_var") or key.endswith("weight"):
                v = 0.5 + u
            else:  # BN bias, running_mean
                v = 0.1 * (2.0 * u - 1.0)
            t.copy_(torch.from_numpy(v.astype(np.float32).reshape(t.shape)))


def full_width_case(outdir):
    model = ResNet("resnet18", 1, 64, 1)
    formula_weights(model)
    n = 4
    x = torch.from_numpy(uniform01("x", n * 72 * 72).astype(np.float32).reshape(n, 1, 72, 72) * 2 - 1)
    dy = torch.from_numpy((uniform01("dy", n).astype(np.float32) - 0.5).reshape(n, 1))
    path = os.path.join(outdir, "resnet18_w64.h5")
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["arch"] = "resnet18"
        f.attrs["width"] = 64
        f.attrs["weights"] = "formula_weights (tests/gen_nn_refs.py)"
        f["x"], f["dy"] = x.numpy(), dy.numpy()
        model.eval()
        with torch.no_grad():
            y, emb = model(x)
        f["y_eval"], f["emb_eval"] = y.numpy(), emb.numpy()
        model.train()
        y, emb = model(x)
        (y * dy).sum().backward()
        f["y_train"], f["emb_train"] = y.detach().numpy(), emb.detach().numpy()
        grads = dict(model.named_parameters())
        f.attrs["grad_stride"] = GRAD_STRIDE
        for k in FULL_WIDTH_GRADS:
            g = grads[k].grad.numpy().astype(np.float32).ravel()
            f.create_dataset("grads/" + k, data=g[::GRAD_STRIDE] if g.size > 100000 else g)
    print("%s: %d bytes" % (path, os.path.getsize(path)))


def main():
    torch.set_num_threads(1)
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "references", "nn")
    os.makedirs(outdir, exist_ok=True)
    only = sys.argv[1:]
    if not only or "resnet18_w64" in only:
        full_width_case(outdir)
    for i, (name, arch, cin, width, out, shape, eps, steps) in enumerate(CASES):
        if only and name not in only:
            continue
        gen = torch.Generator().manual_seed(1000 + i)
        torch.manual_seed(2000 + i)
        model = ResNet(arch, cin, width, out)
        randomise(model, gen)
        init = copy.deepcopy(model)
        x = torch.randn(shape, generator=gen)
        dy = torch.randn((shape[0], out), generator=gen)
        path = os.path.join(outdir, name + ".h5")
        with h5py.File(path, "w", libver="latest") as f:
            f.attrs["arch"] = arch
            f.attrs["in_channels"] = cin
            f.attrs["width"] = width
            f.attrs["out_size"] = out
            f.attrs["adam_lr"] = ADAM_LR
            f.attrs["adam_weight_decay"] = ADAM_WD
            f.attrs["adam_steps"] = steps
            f.attrs["adam_eps"] = eps
            write_group(f, "params", state(model))
            f["x"] = x.numpy()
            f["dy"] = dy.numpy()
            model.eval()
            with torch.no_grad():
                y, emb = model(x)
            f["y_eval"], f["emb_eval"] = y.numpy(), emb.numpy()
            model.train()
            y, emb = model(x)
            (y * dy).sum().backward()
            f["y_train"], f["emb_train"] = y.detach().numpy(), emb.detach().numpy()
            write_group(f, "grads", {k: p.grad.numpy() for k, p in model.named_parameters()})
            write_group(f, "running_after", {k: v for k, v in state(model).items() if "running" in k})
            model = copy.deepcopy(init)
            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, weight_decay=ADAM_WD, eps=eps)
            for _ in range(steps):
                opt.zero_grad()
                y, _ = model(x)
                (y * dy).sum().backward()
                opt.step()
            write_group(f, "adam", state(model))
        print("%s: %d bytes" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
