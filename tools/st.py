"""Minimal safetensors reader and writer for graft's Python tools.

Standard library plus numpy only, so fixture generators run under Debian's
python3 (which has torch and numpy but not the safetensors package). Tensors
are written in the order given, each aligned as the format requires: an
8-byte little-endian header length, a JSON header padded with spaces to a
multiple of 8, then the raw little-endian data.
"""
import json
import struct

import numpy as np

_NP_TO_ST = {
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("float64"): "F64",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}
_ST_TO_NP = {v: k for k, v in _NP_TO_ST.items()}


def _to_numpy(t):
    if hasattr(t, "detach"):  # a torch tensor
        t = t.detach().cpu().contiguous()
        if str(t.dtype) == "torch.bfloat16":
            return ("BF16", t.view(dtype=__import__("torch").int16).numpy())
        return (None, t.numpy())
    return (None, np.asarray(t))


def save(path, tensors, metadata=None):
    """Write a dict name -> numpy array or torch tensor."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        forced, arr = _to_numpy(t)
        arr = np.array(arr, order="C", copy=False)  # keeps 0-d tensors 0-d
        dtype = forced or _NP_TO_ST[arr.dtype]
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def load(path):
    """Read a file into a dict name -> numpy array (BF16 comes back as float32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_ST_TO_NP[info["dtype"]].newbyteorder("<"))
        out[name] = arr.reshape(info["shape"]).copy()
    return out
