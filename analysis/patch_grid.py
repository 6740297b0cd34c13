#!/usr/bin/env python3
"""Look at a cohort's lesion patches: one row per organ, up to 8 lesions each, written as a grayscale PNG.

usage: /usr/bin/python3 analysis/patch_grid.py COHORT.h5 OUT.png
Window: [-1000, 400] HU (lung/soft tissue), bone row [-200, 1300] HU. Prints each shown lesion's true
log-hazard when the cohort has /truth (synthetic cohorts). Needs python3-h5py and python3-numpy.
"""
import h5py, numpy as np, zlib, struct, sys
f = h5py.File(sys.argv[1], 'r')
P = f['/lesions/patch']; org = f['/lesions/organ'][:]; names = [n.decode() if isinstance(n, bytes) else n for n in f['/organs/name'][:]]
h = f['/truth/lesion_log_hazard'][:] if '/truth/lesion_log_hazard' in f else None
rows = []
for k in range(len(names)):
    idx = np.where(org == k)[0][:8]
    bone = names[k] == 'bone'
    tiles = [np.clip((P[i] + 200) / 1500.0, 0, 1) if bone else np.clip((P[i] + 1000) / 1400.0, 0, 1) for i in idx]
    while len(tiles) < 8: tiles.append(np.zeros((72, 72)))
    rows.append(np.concatenate([np.pad(t, 2) for t in tiles], axis=1))
    print(names[k], 'lesions', list(map(int, idx)), 'true h', [round(float(h[i]), 2) for i in idx] if h is not None else '-')
img = (np.concatenate(rows, axis=0) * 255).astype(np.uint8)
img = np.kron(img, np.ones((2, 2), dtype=np.uint8))
def png(a, path):
    hgt, w = a.shape
    raw = b''.join(b'\x00' + a[i].tobytes() for i in range(hgt))
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, hgt, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
png(img, sys.argv[2])
