#!/usr/bin/python3
"""Generate tests/references/torchvision/: a torchvision ResNet50 with torchvision's own random
initialisation (seed 0), NARROWED to a small committed file: every tensor keeps its first 1/32 of the
channels along each width dimension (base width 64 -> 2, so it loads into resnet50.width = 2), the stem keeps
its 3 input channels, fc keeps its first 16 outputs. Same key names, same torch.save zip format as a
real state_dict (.pth). Also writes the expected values the conversion test checks (digest.txt).

  /usr/bin/python3 tests/gen_torchvision_fixture.py      # needs python3-torch, python3-torchvision
"""
import hashlib
import os

import numpy as np
import torch
import torchvision

NARROW = 32
FC_OUT = 16
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "references", "torchvision")


def narrow(key, t):
    if key.endswith("num_batches_tracked"):
        return t.clone()
    if key == "fc.weight":
        return t[:FC_OUT, : t.shape[1] // NARROW].clone()
    if key == "fc.bias":
        return t[:FC_OUT].clone()
    idx = tuple(slice(0, s // NARROW) if (d < 2 and not (key == "conv1.weight" and d == 1)) else slice(None)
                for d, s in enumerate(t.shape))
    return t[idx].clone()


def digest(state):
    h = hashlib.sha256()
    for k in sorted(state):
        if k.endswith("num_batches_tracked"):
            continue
        h.update(k.encode())
        h.update(np.ascontiguousarray(state[k].numpy().astype("<f4")).tobytes())
    return h.hexdigest()


def main():
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    sd = model.state_dict()
    small = type(sd)((k, narrow(k, v)) for k, v in sd.items())
    os.makedirs(HERE, exist_ok=True)
    path = os.path.join(HERE, "resnet50_w2_random.pth")
    torch.save(small, path)
    with open(os.path.join(HERE, "digest.txt"), "w") as f:
        f.write("# written by tests/gen_torchvision_fixture.py (torch %s, torchvision %s)\n" % (torch.__version__,
                                                                                           torchvision.__version__))
        f.write("tensors %d\n" % sum(1 for k in small if not k.endswith("num_batches_tracked")))
        f.write("sha256 %s\n" % digest(small))
        for k in ("conv1.weight", "layer1.0.conv2.weight", "layer4.2.bn3.weight", "fc.weight"):
            v = small[k].flatten()
            f.write("%s %s %.9g %.9g\n" % (k, "x".join(map(str, small[k].shape)), float(v[0]), float(v[-1])))
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
