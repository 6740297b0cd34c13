#!/usr/bin/python3
"""Write a torchvision ResNet's weights as an HDF5 file for lesionrank (one float32 dataset per
state_dict key: conv1.weight, bn1.running_mean, layer1.0.conv1.weight, ..., fc.bias).

  /usr/bin/python3 analysis/torchvision_to_h5.py --arch resnet50 --weights IMAGENET1K_V1 -o resnet50.h5
  /usr/bin/python3 analysis/torchvision_to_h5.py --arch resnet50 --pth radimagenet_resnet50.pth -o r50.h5
  /usr/bin/python3 analysis/torchvision_to_h5.py --arch resnet18 --random -o random18.h5

Needs python3-torch, python3-torchvision and python3-h5py (Debian packages). lesionrank reads input
channels, width and output size from the shapes; a 3-channel stem loaded into a 1-channel network is
summed over its input channels, and a different fc size can be kept out (see src/nn/net.h).
--in-channels 1 sums the stem here instead; --out-size N replaces fc by a fresh nn.Linear.

--pth needs only python3-numpy and python3-h5py: without torch the .pth (torch.save's zip format: a pickle
plus one raw little-endian file per storage) is read with zipfile and a restricted unpickler that rebuilds
each tensor as a numpy array and accepts no other object. With torch installed torch.load reads it. Either
way the state_dict is written as it is (any base width: lesionrank reads the width from the shapes), after
checking its keys against the architecture's (a missing fc is allowed)."""
import argparse
import collections
import io
import pickle
import sys
import zipfile

import h5py
import numpy as np

try:
    import torch
except ImportError:  # --pth works without torch
    torch = None

_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
                   "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
                   "BoolStorage": "?"}


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    data, itemsize = storage
    if not size:
        return np.array(data[offset], copy=True)
    strides = tuple(s * itemsize for s in stride)
    return np.lib.stride_tricks.as_strided(data[offset:], shape=tuple(size), strides=strides).copy()


def _rebuild_parameter(tensor, requires_grad, hooks):
    return tensor


class _StateDictUnpickler(pickle.Unpickler):
    """Rebuilds tensors as numpy arrays; any other global than the few a state_dict needs is refused."""

    def __init__(self, fp, archive, prefix):
        super().__init__(fp)
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError("refusing %s.%s in a state_dict" % (module, name))

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or storage_type not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError("unexpected persistent id %r" % (pid,))
        if key not in self.storages:
            raw = self.archive.read("%s/data/%s" % (self.prefix, key))
            dt = np.dtype(_STORAGE_DTYPES[storage_type])
            self.storages[key] = (np.frombuffer(raw, dtype=dt, count=numel), dt.itemsize)
        return self.storages[key]


def load_pth_without_torch(path):
    """torch.save's zip format (torch >= 1.6): <prefix>/data.pkl and <prefix>/data/<key>."""
    if not zipfile.is_zipfile(path):
        sys.exit("%s: not a torch.save zip archive (legacy .pth files need torch installed)" % path)
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            sys.exit("%s: expected one */data.pkl in the archive, found %d" % (path, len(pkl)))
        prefix = pkl[0][: -len("/data.pkl")]
        try:
            return _StateDictUnpickler(io.BytesIO(z.read(pkl[0])), z, prefix).load()
        except pickle.UnpicklingError as e:
            sys.exit("%s: %s" % (path, e))


def resnet_keys(arch):
    """The state_dict keys of torchvision's resnet18 / resnet50 (without building the model)."""
    blocks, convs = ((2, 2, 2, 2), 2) if arch == "resnet18" else ((3, 4, 6, 3), 3)
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["conv1.weight"] + ["bn1." + b for b in bn]
    for layer, n in enumerate(blocks, 1):
        for i in range(n):
            p = "layer%d.%d." % (layer, i)
            for c in range(1, convs + 1):
                keys += [p + "conv%d.weight" % c] + [p + "bn%d.%s" % (c, b) for b in bn]
            if i == 0 and (layer > 1 or arch == "resnet50"):
                keys += [p + "downsample.0.weight"] + [p + "downsample.1." + b for b in bn]
    return keys + ["fc.weight", "fc.bias"]


def read_pth(path, arch):
    sd = torch.load(path, map_location="cpu") if torch is not None else load_pth_without_torch(path)
    sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
    expected = resnet_keys(arch)
    missing = [k for k in expected if k not in sd and not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in set(expected)]
    if missing or unexpected:
        sys.exit("%s: missing keys %s, unexpected keys %s" % (path, missing, unexpected))
    return {k: (v.detach().cpu().numpy() if torch is not None and torch.is_tensor(v) else np.asarray(v)) for k, v in
            sd.items()}


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
    if a.pth and not a.out_size:
        state = read_pth(a.pth, a.arch)
    else:
        if torch is None:
            sys.exit("--weights, --random and --out-size need python3-torch and python3-torchvision")
        import torchvision
        torch.manual_seed(a.seed)
        build = getattr(torchvision.models, a.arch)
        model = build(weights=a.weights) if a.weights else build()
        if a.pth:
            model.load_state_dict({k: torch.from_numpy(v) for k, v in read_pth(a.pth, a.arch).items()}, strict=False)
        if a.out_size:
            model.fc = torch.nn.Linear(model.fc.in_features, a.out_size)
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    state = {k: v.astype(np.float32) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if a.in_channels == 1 and state["conv1.weight"].shape[1] != 1:
        state["conv1.weight"] = state["conv1.weight"].sum(axis=1, keepdims=True)
    with h5py.File(a.output, "w") as f:
        f.attrs["arch"] = a.arch
        f.attrs["source"] = a.weights or a.pth or "random"
        for k, v in state.items():
            f[k] = v
    print("%s: %d tensors, conv1.weight %s, fc.weight %s" % (a.output, len(state), state["conv1.weight"].shape,
                                                             state["fc.weight"].shape if "fc.weight" in state else "-"))


if __name__ == "__main__":
    main()
