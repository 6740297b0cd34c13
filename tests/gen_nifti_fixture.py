#!/usr/bin/python3
"""Writes tests/references/ingest/: two tiny CT studies written by nibabel (another NIfTI implementation)
with the same anatomy stored in two orientations, so `lesionrank ingest` is checked for interoperability
and orientation handling (test_ingest.c, test_fixture):

  P1: RAS storage (i -> right, j -> anterior, k -> superior), sform + qform from nibabel.
  P2: the same image reoriented to P-S-L storage (i -> posterior, j -> superior, k -> left): an
      oblique-free, permuted and flipped (LPS-like) sform.

Each study: ct.nii.gz (int16 HU = 1000 - 4 x + 2 y, x/y RAS mm, so the patch orientation is visible),
lesions_alice.nii.gz (label map with labels 3 and 8), lesions_alice_followup.nii.gz (label 3 smaller,
label 8 gone), lesions_bob.nii.gz (binary mask with two 26-connected components), organs.nii.gz
(default table: 1 lung, 4 liver; 0 elsewhere). expected.csv lists, in cohort row order,
patient,reader_id,label,volume_mm3,organ,followup_mm3 computed here from voxel counts.

Run: /usr/bin/python3 tests/gen_nifti_fixture.py   (needs python3-nibabel; CI only reads the files)
"""
import csv
import os

import nibabel as nib
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "references", "ingest")
SHAPE = (20, 24, 10)                  # RAS storage: x (R), y (A), z (S)
SPACING = (1.5, 1.2, 3.0)
VOXEL_MM3 = SPACING[0] * SPACING[1] * SPACING[2]


def affine_ras():
    aff = np.diag(list(SPACING) + [1.0])
    aff[:3, 3] = [-15.0, -14.0, 30.0]
    return aff


def world(aff):
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    xyz = aff[:3, :3] @ np.stack([i.ravel(), j.ravel(), k.ravel()]) + aff[:3, 3:4]
    return [c.reshape(SHAPE) for c in xyz]


def box(lo, hi):
    m = np.zeros(SHAPE, dtype=bool)
    m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    return m


def anatomy():
    aff = affine_ras()
    x, y, _ = world(aff)
    ct = np.round(1000 - 4 * x + 2 * y).astype(np.int16)
    organs = np.zeros(SHAPE, dtype=np.uint8)
    organs[:10, :, :] = 4           # liver on the patient's right (low x)
    organs[10:, :, :] = 1           # lung on the left
    les3 = box((3, 4, 2), (7, 9, 5))        # in the liver
    les8 = box((13, 12, 6), (17, 15, 8))    # in the lung, 2 columns into... see organ override below
    organs[12:14, 12:15, 6:8] = 4           # a minority of liver voxels inside lesion 8: lung wins the vote
    alice = np.zeros(SHAPE, dtype=np.int16)
    alice[les3] = 3
    alice[les8] = 8
    alice_fu = np.zeros(SHAPE, dtype=np.int16)
    alice_fu[box((3, 4, 2), (5, 9, 5))] = 3
    bob_a = box((2, 2, 7), (5, 5, 9))       # superior: first in the canonical (S -> I) scan
    bob_b = box((12, 14, 1), (16, 18, 3))   # inferior
    bob = (bob_a | bob_b).astype(np.uint8)
    return aff, ct, organs, alice, alice_fu, bob, [("alice", 3, les3, "liver", les3 & box((3, 4, 2), (5, 9, 5))),
                                                   ("alice", 8, les8, "lung", None)], [bob_a, bob_b], organs


def save(img, path):
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, path)


def main():
    aff, ct, organs, alice, alice_fu, bob, alice_lesions, bob_lesions, _ = anatomy()
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for pid in ("P1", "P2"):
        d = os.path.join(OUT, "studies", pid)
        os.makedirs(d, exist_ok=True)
        for name, data in (("ct", ct), ("organs", organs), ("lesions_alice", alice),
                           ("lesions_alice_followup", alice_fu), ("lesions_bob", bob)):
            img = nib.Nifti1Image(data, aff)
            if pid == "P2":
                target = nib.orientations.axcodes2ornt(("P", "S", "L"))
                img = img.as_reoriented(nib.orientations.ornt_transform(nib.orientations.io_orientation(aff), target))
            save(img, os.path.join(d, name + ".nii.gz"))
        for reader, label, mask, organ, fu in alice_lesions:
            fu_vol = fu.sum() * VOXEL_MM3 if fu is not None else 0.0
            rows.append([pid, 0, label, mask.sum() * VOXEL_MM3, organ, fu_vol])
        for c, mask in enumerate(bob_lesions):
            organ = "liver" if mask.nonzero()[0].mean() < 10 else "lung"
            rows.append([pid, 1, c + 1, mask.sum() * VOXEL_MM3, organ, float("nan")])
    with open(os.path.join(OUT, "clinical.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["patient_id", "time_days", "event", "arm", "site"])
        w.writerow(["P1", 400, 1, 0, "fixture"])
        w.writerow(["P2", 400, 1, 0, "fixture"])
    with open(os.path.join(OUT, "expected.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["patient", "reader_id", "label", "volume_mm3", "organ", "followup_mm3"])
        for r in rows:
            w.writerow([r[0], r[1], r[2], repr(float(r[3])), r[4], "nan" if np.isnan(r[5]) else repr(float(r[5]))])
    print("wrote", OUT, "axcodes P2:", nib.aff2axcodes(nib.load(os.path.join(OUT, "studies", "P2", "ct.nii.gz")).affine))


if __name__ == "__main__":
    main()
