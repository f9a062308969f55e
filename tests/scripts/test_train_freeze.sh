#!/usr/bin/env bash
# Transfer-learning controls, from the weights of a first run:
#  - freeze=backbone bn_freeze=1: every backbone tensor (weights and
#    batch-norm statistics) ends exactly as it started; the head moves.
#  - freeze=layer2: the stem, layer1 and layer2 weights stay; layer3 moves.
#  - freeze=backbone unfreeze_epoch=2 (2 epochs): the backbone moves.
#  - backbone_lr_mult=0: the same as freezing the backbone's weights.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"

gtrain name=start epochs=1 || { echo "FAIL: the first run failed"; exit 1; }
start="$d/runs/start/last.safetensors"
gtrain name=frozen epochs=1 weights="$start" freeze=backbone bn_freeze=1 || fail "freeze=backbone run failed"
gtrain name=upto2 epochs=1 weights="$start" freeze=layer2 || fail "freeze=layer2 run failed"
gtrain name=thaw epochs=2 weights="$start" freeze=backbone unfreeze_epoch=2 || fail "unfreeze_epoch run failed"
gtrain name=zero epochs=1 weights="$start" backbone_lr_mult=0 || fail "backbone_lr_mult=0 run failed"

"$py" - "$src/tools" "$d/runs" "$start" <<'PY' || fail "a transfer-learning control did not act as documented"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, st
runs, s = sys.argv[2], st.load(sys.argv[3])
def changed(run, pred, weights_only=False):
    got = st.load("%s/%s/last.safetensors" % (runs, run))
    names = [k for k in s if pred(k) and not k.endswith("num_batches_tracked")
             and not (weights_only and ("running_" in k))]
    return [k for k in names if not np.array_equal(got[k], s[k])], len(names)
stage = lambda k: 0 if k.startswith(("conv1.", "bn1.")) else (int(k[5]) if k.startswith("layer") else 9)
ok = True
def expect(what, cond, detail):
    global ok
    print(("ok: " if cond else "FAIL: ") + what + " " + detail)
    ok &= cond
c, n = changed("frozen", lambda k: stage(k) < 9)
expect("freeze=backbone bn_freeze=1:", not c, "%d of %d backbone tensors changed %s" % (len(c), n, c[:3]))
c, n = changed("frozen", lambda k: stage(k) == 9)
expect("freeze=backbone:", len(c) == n, "%d of %d head tensors changed" % (len(c), n))
c, n = changed("upto2", lambda k: stage(k) <= 2, weights_only=True)
expect("freeze=layer2:", not c, "%d of %d stem/layer1/layer2 weights changed %s" % (len(c), n, c[:3]))
c, n = changed("upto2", lambda k: stage(k) == 3, weights_only=True)
expect("freeze=layer2:", len(c) == n, "%d of %d layer3 weights changed" % (len(c), n))
c, n = changed("thaw", lambda k: stage(k) < 9, weights_only=True)
expect("unfreeze_epoch=2:", len(c) == n, "%d of %d backbone weights changed" % (len(c), n))
c, n = changed("zero", lambda k: stage(k) < 9, weights_only=True)
expect("backbone_lr_mult=0:", not c, "%d of %d backbone weights changed %s" % (len(c), n, c[:3]))
sys.exit(0 if ok else 1)
PY
finish
