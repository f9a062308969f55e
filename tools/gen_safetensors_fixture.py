"""Writes, or checks, the safetensors fixture that ties graft to the real
`safetensors` package (pip: safetensors, numpy).

    python3 tools/gen_safetensors_fixture.py [OUT_DIR]   # write the fixtures
    python3 tools/gen_safetensors_fixture.py --check F   # check a file holds them

Writing uses the package's own serializer, so the committed files are what
Python users produce; tests/unit/test_safetensors.c loads them and compares
every value with the same table (keep the two in step). --check loads a
file, for instance one graft re-wrote, with the package's loader and
compares dtypes, shapes, values and metadata exactly.
"""
import os
import sys

import numpy as np
import safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "tests", "fixtures", "safetensors")
MAIN = "python_all_dtypes.safetensors"
META_ONLY = "python_metadata_only.safetensors"
METADATA = {"format": "pt", "source": "tools/gen_safetensors_fixture.py"}


def bf16_bits(values):
    """float32 values that bfloat16 holds exactly, as their bfloat16 bits."""
    bits = np.asarray(values, dtype="<f4").view("<u4")
    assert not np.any(bits & 0xFFFF), "value not exact in bfloat16"
    return (bits >> 16).astype("<u2")


def expected():
    """name -> (safetensors dtype, numpy array; BF16 as uint16 bits)."""
    return {
        "f32": ("F32", np.array([i * 0.1 - 0.25 for i in range(6)], "<f4").reshape(2, 3)),
        "f16": ("F16", np.array([-2.5, 0.0, 0.333251953125, 65504.0, 2.0**-24], "<f2")),
        "bf16": ("BF16", bf16_bits([1.0, -0.5, 3.140625, 2.0**100]).reshape(2, 2)),
        "f64": ("F64", np.array([1 / 3, 2 / 3, 1.0], "<f8")),
        "i64": ("I64", np.array([-(2**40), -1, 0, 2**62 + 7], "<i8")),
        "i32": ("I32", np.array([-(2**31), -7, 7, 2**31 - 1], "<i4").reshape(2, 2)),
        "i16": ("I16", np.array([-32768, 12345, 32767], "<i2")),
        "i8": ("I8", np.array([-128, -1, 0, 127], "i1")),
        "u8": ("U8", np.array([0, 128, 255], "u1")),
        "bool": ("BOOL", np.array([True, False, False, True], "?")),
        "scalar": ("F32", np.array(3.5, "<f4")),
        "empty": ("F32", np.zeros((0, 3), "<f4")),
        "layer1.0.conv1.weight": (
            "F32", np.array([(i % 7 - 3) * 0.5 for i in range(18)], "<f4").reshape(2, 1, 3, 3)),
    }


_SPEC_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64",
               "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
               "BOOL": "bool"}


def _spec(dtype, arr, keep):
    """One tensor for safetensors.serialize_file, in whichever form the
    installed version takes (TensorSpec since 0.8, a dict before)."""
    arr = arr.copy(order="C")  # ascontiguousarray would make a scalar 1-d
    keep.append(arr)
    name = _SPEC_NAMES[dtype]
    if hasattr(safetensors, "TensorSpec"):
        return safetensors.TensorSpec(dtype=name, shape=list(arr.shape),
                                      data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    return {"dtype": name, "shape": list(arr.shape), "data": arr.tobytes()}


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    keep = []
    specs = {name: _spec(dt, arr, keep) for name, (dt, arr) in expected().items()}
    safetensors.serialize_file(specs, os.path.join(out_dir, MAIN), metadata=METADATA)
    safetensors.serialize_file({}, os.path.join(out_dir, META_ONLY), metadata=METADATA)
    print(f"wrote {MAIN} and {META_ONLY} to {out_dir}")


def check(path):
    """Loads path with the safetensors package and compares it with the
    table. Returns a list of problems (empty when the file matches)."""
    problems = []
    want = expected()
    with open(path, "rb") as f:
        raw = dict(safetensors.deserialize(f.read()))
    if set(raw) != set(want):
        problems.append(f"tensor names differ: {sorted(raw)} != {sorted(want)}")
    with safetensors.safe_open(path, framework="numpy") as f:
        if f.metadata() != METADATA:
            problems.append(f"metadata {f.metadata()} != {METADATA}")
        for name, (dtype, arr) in want.items():
            if name not in raw:
                continue
            info = raw[name]
            if info["dtype"].upper() not in (dtype, _SPEC_NAMES[dtype].upper()):
                problems.append(f"{name}: dtype {info['dtype']} != {dtype}")
            if list(info["shape"]) != list(arr.shape):
                problems.append(f"{name}: shape {info['shape']} != {list(arr.shape)}")
            if dtype == "BF16":  # numpy has no bfloat16: compare the bits
                got = np.frombuffer(bytes(info["data"]), "<u2").reshape(arr.shape)
            else:
                got = f.get_tensor(name)
            if got.dtype != arr.dtype or not np.array_equal(got, arr):
                problems.append(f"{name}: values {got.ravel().tolist()} != {arr.ravel().tolist()}")
    return problems


def main(argv):
    if len(argv) == 2 and argv[0] == "--check":
        problems = check(argv[1])
        for p in problems:
            print("MISMATCH", p)
        n = len(expected())
        print(f"{argv[1]}: {n - len(problems)} of {n} checks passed" if problems
              else f"{argv[1]}: all {n} tensors and the metadata match")
        return 1 if problems else 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__)
        return 2
    write(argv[0] if argv else DEFAULT_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
