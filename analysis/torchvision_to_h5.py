#!/usr/bin/python3
"""Write a torchvision ResNet's weights as an HDF5 file for lesionrank (one float32 dataset per
state_dict key: conv1.weight, bn1.running_mean, layer1.0.conv1.weight, ..., fc.bias).

  /usr/bin/python3 analysis/torchvision_to_h5.py --arch resnet50 --weights IMAGENET1K_V1 -o resnet50.h5
  /usr/bin/python3 analysis/torchvision_to_h5.py --arch resnet50 --pth radimagenet_resnet50.pth -o r50.h5
  /usr/bin/python3 analysis/torchvision_to_h5.py --arch resnet18 --random -o random18.h5

Needs python3-torch, python3-torchvision and python3-h5py (Debian packages). lesionrank reads input
channels, width and output size from the shapes; a 3-channel stem loaded into a 1-channel network is
summed over its input channels, and a different fc size can be kept out (see src/nn/net.h).
--in-channels 1 sums the stem here instead; --out-size N replaces fc by a fresh nn.Linear."""
import argparse
import sys

import h5py
import numpy as np
import torch
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=["resnet18", "resnet50"])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="torchvision weights enum name, e.g. IMAGENET1K_V1 (downloads)")
    src.add_argument("--pth", help="a local state_dict (.pth), e.g. RadImageNet; 'module.' prefixes are removed")
    src.add_argument("--random", action="store_true", help="torchvision's random initialisation (for tests)")
    ap.add_argument("--in-channels", type=int, default=0, help="1: sum the stem over its input channels")
    ap.add_argument("--out-size", type=int, default=0, help="replace fc by a fresh Linear with this many outputs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    build = getattr(torchvision.models, a.arch)
    if a.weights:
        model = build(weights=a.weights)
    else:
        model = build()
        if a.pth:
            sd = torch.load(a.pth, map_location="cpu")
            sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
            sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
            missing, unexpected = model.load_state_dict(sd, strict=False)
            if [k for k in missing if not k.startswith("fc.")] or unexpected:
                sys.exit("%s: missing keys %s, unexpected keys %s" % (a.pth, missing, unexpected))
    if a.out_size:
        model.fc = torch.nn.Linear(model.fc.in_features, a.out_size)
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    if a.in_channels == 1 and state["conv1.weight"].shape[1] != 1:
        state["conv1.weight"] = state["conv1.weight"].sum(axis=1, keepdims=True)
    with h5py.File(a.output, "w") as f:
        f.attrs["arch"] = a.arch
        f.attrs["source"] = a.weights or a.pth or "random"
        for k, v in state.items():
            f[k] = v
    print("%s: %d tensors, conv1.weight %s, fc.weight %s" % (a.output, len(state), state["conv1.weight"].shape,
                                                             state["fc.weight"].shape))


if __name__ == "__main__":
    main()
