"""Synthetic weights and tensor summaries that graft reproduces bit for bit.

Parity fixtures for large models cannot carry the models' weights (ResNet-50
is 100 MB), so both sides derive them from a seed instead: every element is
a function of (seed, tensor name, element index) through the splitmix64
hash that graft uses (host/ops/math.h, graft_hash64). graft's
`weights=hash:SEED` builds the same tensors (host/nn/weights.c).

Gradients and parameters are compared through summaries: the L2 norm, the
largest magnitude, eight projections onto hashed +-1 patterns, and 32
sampled elements, all over the tensor in PyTorch's layout. The C side is
tests/support/summary.c.
"""
import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
PROJ_SEED = 0x5EED
SAMPLE_SEED = 0xA11CE
NPROJ = 8
NSAMPLE = 32


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


def hash64(seed, index):
    """graft_hash64 for one index (Python ints)."""
    z = (seed + (index + 1) * GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def hash64_array(seed, n):
    """graft_hash64 for indices 0..n-1, vectorized in wrapping uint64."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed & MASK) + i * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def centered(seed, n):
    """2u - 1 in float32 with u = graft_hash_uniform(seed, i): exact in float32."""
    u = (hash64_array(seed, n) >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    return np.float32(2.0) * u - np.float32(1.0), u


def synth_tensor(seed, name, shape):
    """The value graft's weights=hash:SEED gives the tensor `name`."""
    n = int(np.prod(shape)) if len(shape) else 1
    c, u = centered(hash64(seed, fnv1a64(name)), n)
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    if name.endswith("running_mean"):
        v = np.float32(0.1) * c
    elif name.endswith("running_var"):
        v = np.float32(1.0) + np.float32(0.5) * u
    elif name.endswith("bias"):
        v = np.float32(0.1) * c
    elif len(shape) == 1:  # a norm layer's weight
        v = np.float32(1.0) + np.float32(0.25) * c
    elif len(shape) == 4:  # convolution, kaiming-like uniform with fan_out
        fan_out = shape[0] * shape[2] * shape[3]
        v = c * np.float32(np.sqrt(6.0 / fan_out))
    else:  # linear
        v = c * np.float32(1.0 / np.sqrt(shape[1]))
    return v.reshape(shape)


def fill_model(model, seed):
    """Overwrite every parameter and buffer of a torch model in place."""
    import torch
    with torch.no_grad():
        for name, t in model.state_dict().items():
            t.copy_(torch.from_numpy(synth_tensor(seed, name, tuple(t.shape))))


def summary(t):
    """(2 + NPROJ + NSAMPLE,) float64 summary of a tensor, PyTorch layout."""
    a = np.asarray(t, dtype=np.float64).reshape(-1)
    n = a.size
    out = [np.sqrt(np.sum(a * a)), np.max(np.abs(a)) if n else 0.0]
    for j in range(NPROJ):
        c, _ = centered(hash64(PROJ_SEED, j), n)
        out.append(np.sum(a * c.astype(np.float64)))
    for k in range(NSAMPLE):
        out.append(a[hash64(SAMPLE_SEED, k) % n] if n else 0.0)
    return np.array(out, dtype=np.float64)
