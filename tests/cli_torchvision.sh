#!/usr/bin/env bash
# Real weights end to end: a torchvision ResNet50 state_dict (torchvision's random init, narrowed to base
# width 2 by tests/gen_torchvision_fixture.py: tests/references/torchvision/resnet50_w2_random.pth, 205 kB)
# is converted with analysis/torchvision_to_h5.py WITHOUT torch (zipfile + a restricted unpickler; the CI
# has no torch), checked against the digest torch wrote, and the imagenet_resnet50 row is trained from it
# through resnet50.imagenet_weights: the shard, the campaign's /jobs/weights_source and Table 2's
# provenance name the file.
set -u
LR="${LR:-bin/lesionrank}"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_torchvision"
mkdir -p "$T"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5dump
PY=/usr/bin/python3
REF=tests/references/torchvision
CONVERT=analysis/torchvision_to_h5.py
$PY -c 'import numpy, h5py' 2>/dev/null && ok "python3-numpy and python3-h5py present" \
  || bad "python3-numpy / python3-h5py missing (make deps installs them)"

# --- conversion without torch: sys.modules['torch'] = None makes `import torch` fail as on the CI
no_torch() { $PY -c 'import runpy, sys; sys.modules["torch"] = None; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")' "$@"; }
expect "convert the .pth without torch" 0 "267 tensors, conv1.weight \(2, 3, 7, 7\), fc.weight \(16, 64\)" -- \
  no_torch "$CONVERT" --arch resnet50 --pth "$REF/resnet50_w2_random.pth" -o "$T/r50.h5"
# the h5 against what torch wrote: tensor count, a digest over every tensor, first/last values of four
digest_check() { $PY - "$1" "$REF/digest.txt" <<'EOF'
import hashlib, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
ref = [l.split() for l in open(sys.argv[2]) if not l.startswith("#")]
h = hashlib.sha256()
for k in sorted(f.keys()):
    h.update(k.encode()); h.update(np.ascontiguousarray(f[k][()].astype("<f4")).tobytes())
out = {"tensors": str(len(f.keys())), "sha256": h.hexdigest()}
checked = 0
for r in ref:
    if r[0] in out:
        print("%s %s %s" % (r[0], out[r[0]], "ok" if out[r[0]] == r[1] else "DIFFERS (expected %s)" % r[1]))
    else:
        v = f[r[0]][()].ravel(); shape = "x".join(map(str, f[r[0]].shape))
        same = shape == r[1] and np.float32(v[0]) == np.float32(float(r[2])) and np.float32(v[-1]) == np.float32(float(r[3]))
        print("%s %s %s" % (r[0], shape, "ok" if same else "DIFFERS"))
    checked += 1
print("checked %d" % checked)
EOF
}
out="$(digest_check "$T/r50.h5" 2>&1)"
echo "$out" | grep -q "^checked 6$" && ! echo "$out" | grep -q DIFFERS && ok "converted tensors match torch's digest and values" \
  || bad "digest: $(echo "$out" | tr '\n' ' ')"
h5dump -a /arch "$T/r50.h5" 2>/dev/null | grep -q '"resnet50"' && ok "h5 arch attribute" || bad "h5 arch attribute"
# with torch present (developer machines) both readers give the same file
if $PY -c 'import torch' 2>/dev/null; then
  $PY "$CONVERT" --arch resnet50 --pth "$REF/resnet50_w2_random.pth" -o "$T/r50_torch.h5" >/dev/null 2>&1
  h5diff -q "$T/r50.h5" "$T/r50_torch.h5" >/dev/null 2>&1 && ok "torch.load and the torch-free reader agree" \
    || bad "torch.load and the torch-free reader differ"
fi
# the restricted unpickler refuses anything but tensors and dicts
$PY - "$T/evil.pth" <<'EOF'
import io, os, pickle, sys, zipfile
class Evil:
    def __reduce__(self): return (os.system, ("echo pwned > /dev/null",))
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"conv1.weight": Evil()}, protocol=2))
EOF
expect "refuses a pickle with other globals" 1 "refusing posix.system|refusing os.system" -- \
  no_torch "$CONVERT" --arch resnet50 --pth "$T/evil.pth" -o "$T/evil.h5"
printf 'not a zip' > "$T/bad.pth"
expect "a non-zip .pth is named" 1 "bad.pth: not a torch.save zip archive" -- \
  no_torch "$CONVERT" --arch resnet50 --pth "$T/bad.pth" -o "$T/bad.h5"

# --- train the ImageNet row from the converted file (tiny cohort, one fold, one epoch)
sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e "s|^retries = 1;|retries = 1;\nresults_dir = \"$T/results\";|" \
  -e 's|^models = .*|models = ["imagenet_resnet50", "total_volume"];|' -e '/^ *"imagenet_resnet50", "radimagenet_resnet50"/d' \
  -e "s|^resnet50 = { width = 4;|resnet50 = { width = 2; imagenet_weights = \"$T/r50.h5\";|" \
  -e 's|^train = { epochs = 2;|train = { epochs = 1;|' experiments/smoke.cfg > "$T/tv.cfg"
grep -q "imagenet_weights = \"$T/r50.h5\"" "$T/tv.cfg" && grep -q '^models = \["imagenet_resnet50", "total_volume"\];' "$T/tv.cfg" \
  && ok "config with resnet50.imagenet_weights" || bad "config edit: $(grep -E '^models|resnet50' "$T/tv.cfg" | tr '\n' ' ')"
expect "train imagenet_resnet50 from the file" 0 "weights: file: $T/r50.h5" -- \
  "$LR" train "$T/tv.cfg" --model imagenet_resnet50 --fold 0 -o "$T/shard.h5" --quiet
h5dump -a /weights_source "$T/shard.h5" 2>/dev/null | grep -q "file: $T/r50.h5" && ok "shard weights_source names the file" \
  || bad "shard weights_source: $(h5dump -a /weights_source "$T/shard.h5" 2>&1 | grep -A1 DATA | tail -1)"
# the trained weights start from the file's (one epoch of Adam moves them little)
corr="$($PY - "$T/r50.h5" "$T/shard.h5" <<'EOF'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")["layer4.2.conv3.weight"][()].ravel()
b = h5py.File(sys.argv[2], "r")["weights/final/layer4.2.conv3.weight"][()].ravel()
print("%.4f" % np.corrcoef(a, b)[0, 1])
EOF
)"
awk -v c="$corr" 'BEGIN { exit !(c > 0.9) }' && ok "trained layer4.2.conv3 starts from the file (corr $corr)" \
  || bad "trained weights vs file: corr '$corr'"
# the campaign and Table 2 say where the row's weights came from
expect "run the tiny campaign" 0 "" -- "$LR" run "$T/tv.cfg"
camp="$(ls "$T"/results/*.h5 2>/dev/null | head -1)"
[ -n "$camp" ] && h5dump -d /jobs/weights_source "$camp" 2>/dev/null | grep -q "file: $T/r50.h5" \
  && ok "campaign /jobs/weights_source names the file" || bad "campaign /jobs/weights_source ($camp)"
expect "report" 0 "" -- "$LR" report "$camp" -o "$T/report" --bootstrap 50
for f in table2.md table2.csv table2.tex; do
  grep -q "r50.h5" "$T/report/$f" 2>/dev/null && ok "$f provenance names the weights file" \
    || bad "$f provenance: $(grep -i -E 'imagenet|weights' "$T/report/$f" 2>/dev/null | head -3 | tr '\n' ' ')"
done
summary
