"""temporal_affine_backward returns, instead of arrays: for dx an ndarray subclass whose every hook fights
back (__array__, __eq__, __repr__, __getattr__, __len__, __bool__, __hash__, __iter__, __class__), for dw a
list of lists, for db NaNs."""
import numpy as np


class HostileArray(np.ndarray):
    def __array__(self, *args, **kwargs):
        raise SystemExit("no __array__ for you")

    def __array_ufunc__(self, *args, **kwargs):
        raise KeyboardInterrupt("no ufuncs either")

    def __eq__(self, other):
        raise KeyboardInterrupt("no comparing")

    __ne__ = __lt__ = __gt__ = __eq__

    def __repr__(self):
        raise SystemExit("no repr")

    __str__ = __repr__

    def __getattr__(self, name):
        raise RuntimeError("no attribute " + name)

    def __len__(self):
        raise RuntimeError("no len")

    def __bool__(self):
        raise RuntimeError("no truth")

    def __hash__(self):
        raise RuntimeError("no hash")

    def __iter__(self):
        raise RuntimeError("no iteration")

    def __reduce__(self):
        raise RuntimeError("no pickling")

    @property
    def __class__(self):
        return float


def temporal_affine_backward(dout, cache):
    x, w = cache
    dx = np.einsum("ntm,dm->ntd", dout, w)
    dw = np.einsum("ntd,ntm->dm", x, dout)
    db = dout.sum(axis=(0, 1))
    return dx.view(HostileArray), dw.tolist(), np.full_like(db, np.nan)
