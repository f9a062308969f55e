#!/usr/bin/env bash
# test_inspect.sh: `graft inspect` on generated datasets with planted
# problems must report each of them, in the table and in the JSON:
# classification with a duplicate inside train, the same image under two
# classes, a val image copied from train (leakage), a corrupt file and a
# 9:1 class imbalance; a clean dataset reports none; a YOLO dataset with
# an out-of-range label line, a malformed label file, an empty label file
# and an image without labels. Also `graft prepare` on the clean dataset.
# Images come from tests/fixtures/images. Skips (77) until the graft
# executable dispatches `inspect`.
set -euo pipefail

exe="${GRAFT_EXE:?GRAFT_EXE not set}"
fx="${GRAFT_SOURCE_DIR:?GRAFT_SOURCE_DIR not set}/tests/fixtures/images"
usage="$("$exe" inspect 2>&1 || true)"
if ! grep -q "usage: graft inspect" <<< "$usage"; then
  echo "graft does not dispatch 'inspect' yet: skipped"
  exit 77
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect FILE PATTERN WHAT
  if grep -Eq -- "$2" "$1"; then echo "ok: $3"; else echo "FAIL: $3 (no /$2/ in $1)"; fail=1; fi
}

# Classification: cat 9 images (one a copy of another), dog 3 (one the same
# image as a cat), bird 1; val has a copy of a training cat and a broken file.
d="$tmp/pets"
mkdir -p "$d/train/cat" "$d/train/dog" "$d/train/bird" "$d/val/cat" "$d/val/dog" "$d/val/bird"
for i in 00 01 02 03 04 05 06 07; do cp "$fx/img$i.png" "$d/train/cat/$i.png"; done
cp "$fx/img00.png" "$d/train/cat/copy_of_00.png"
cp "$fx/img08.png" "$fx/img09.png" "$d/train/dog/"
cp "$fx/img01.png" "$d/train/dog/also_a_cat.png"
cp "$fx/img10.png" "$d/train/bird/"
cp "$fx/img11.png" "$d/val/cat/"
cp "$fx/img02.png" "$d/val/cat/leaked.png"
cp "$fx/photo0.jpg" "$d/val/dog/"
cp "$fx/truncated.png" "$d/val/bird/broken.png"

"$exe" inspect "$d" > "$tmp/pets.txt"
cat "$tmp/pets.txt"
expect "$tmp/pets.txt" "^cat +9 +2$" "per-class counts (cat: 9 train, 2 val)"
expect "$tmp/pets.txt" "WARNING imbalance: 'cat' has 9.0x the training images of 'bird'" "imbalance warning"
expect "$tmp/pets.txt" "WARNING unreadable: 1 files" "unreadable file counted"
expect "$tmp/pets.txt" "val/bird/broken.png" "unreadable file named"
expect "$tmp/pets.txt" "WARNING duplicates in train: 2 groups of identical files, 2 extra copies" "duplicates within train"
expect "$tmp/pets.txt" "WARNING leakage: 1 val images are identical to training images" "train/val leakage"
expect "$tmp/pets.txt" "train/cat/02.png = val/cat/leaked.png  \[train/val leak\]" "leaked pair named"
expect "$tmp/pets.txt" "WARNING conflicting labels: 1 groups" "same image under two classes"
expect "$tmp/pets.txt" "train/cat/01.png = train/dog/also_a_cat.png.*\[different classes\]" "conflict named"

"$exe" inspect "$d" --json > "$tmp/pets.json"
expect "$tmp/pets.json" '"val_images":[[:space:]]*1' "json: leakage count"
expect "$tmp/pets.json" '"imbalance_warning":[[:space:]]*true' "json: imbalance flag"
expect "$tmp/pets.json" '"path":[[:space:]]*"val/bird/broken.png"' "json: unreadable path"
expect "$tmp/pets.json" '"duplicate_extra_copies":[[:space:]]*2' "json: duplicate copies"
if command -v /usr/bin/python3 >/dev/null; then
  /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['problems'] >= 6, r['problems']; \
assert r['splits']['train']['per_class'] == {'bird': 1, 'cat': 9, 'dog': 3}" "$tmp/pets.json" \
    && echo "ok: json parses, per-class counts" || { echo "FAIL: json content"; fail=1; }
fi
if "$exe" inspect "$d" --strict > /dev/null; then echo "FAIL: --strict passed a dataset with problems"; fail=1; fi
"$exe" inspect "$d" imbalance_wrn=3 > /dev/null 2>&1 && { echo "FAIL: a misspelt key was accepted"; fail=1; }

# A clean dataset, split 1:1 by val_ratio: no problems, and prepare works.
c="$tmp/clean"
mkdir -p "$c/a" "$c/b"
for i in 00 01 02 03; do cp "$fx/img$i.png" "$c/a/"; done
for i in 04 05 06 07; do cp "$fx/img$i.png" "$c/b/"; done
"$exe" inspect "$c" val_ratio=0.5 seed=3 --strict > "$tmp/clean.txt" || { echo "FAIL: clean dataset flagged"; fail=1; }
expect "$tmp/clean.txt" "no problems found" "clean dataset"
expect "$tmp/clean.txt" "validation: held out by val_ratio" "hold-out reported"
"$exe" prepare "$c" cache="$tmp/clean.cache" size=16 && test -s "$tmp/clean.cache" \
  && echo "ok: prepare wrote a cache" || { echo "FAIL: prepare"; fail=1; }
"$exe" prepare "$d" cache="$tmp/pets.cache" > /dev/null 2>&1 && { echo "FAIL: prepare accepted a broken image"; fail=1; }
"$exe" prepare "$d" cache="$tmp/pets.cache" on_bad_image=skip 2> "$tmp/prep.err" \
  && echo "ok: prepare on_bad_image=skip" || { echo "FAIL: prepare skip"; fail=1; }
expect "$tmp/prep.err" "broken.png" "prepare names the skipped file"

# Detection.
y="$tmp/yolo"
mkdir -p "$y/images/train" "$y/labels/train" "$y/images/val" "$y/labels/val"
printf 'car\nperson\n' > "$y/classes.txt"
for i in 00 01 02 03 04; do cp "$fx/img$i.png" "$y/images/train/$i.png"; done
cp "$fx/img05.png" "$y/images/val/05.png"
printf '0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n0 0.7 0.7 0.2 0.2\n' > "$y/labels/train/00.txt"
printf '0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n' > "$y/labels/train/01.txt"
printf '0 0.5 0.5 0.2\n' > "$y/labels/train/02.txt"
: > "$y/labels/train/03.txt"
printf '1 0.5 0.5 0.4 0.4\n' > "$y/labels/val/05.txt"
"$exe" inspect "$y" > "$tmp/yolo.txt" 2> "$tmp/yolo.err"
cat "$tmp/yolo.txt"
expect "$tmp/yolo.txt" "^car +3 +0$" "boxes per class (car)"
expect "$tmp/yolo.txt" "^person +1 +1$" "boxes per class (person)"
expect "$tmp/yolo.txt" "^images without labels +1 +0$" "image without a label file"
expect "$tmp/yolo.txt" "^empty label files +1 +0$" "empty label file"
expect "$tmp/yolo.txt" "labels out of range: 1 lines with a class outside 0..1" "out-of-range class"
expect "$tmp/yolo.txt" "malformed label files: 1" "malformed label file"
expect "$tmp/yolo.err" "02.txt:1: expected 5 fields" "malformed file named with its line"
"$exe" inspect "$y" --json > "$tmp/yolo.json"
expect "$tmp/yolo.json" '"class_out_of_range":[[:space:]]*1' "json: out-of-range class"

exit $fail
