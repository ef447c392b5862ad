"""rnn_backward returns a tuple subclass that fights being unpacked (its __len__, __iter__, __getitem__,
__eq__, __repr__ and __getattribute__ raise); lstm_backward computes everything and returns None."""
import numpy as np


class HostileTuple(tuple):
    def __len__(self):
        raise KeyboardInterrupt("no len")

    def __iter__(self):
        raise SystemExit("no iteration")

    def __getitem__(self, index):
        raise RuntimeError("no items")

    def __eq__(self, other):
        raise RuntimeError("no comparing")

    def __hash__(self):
        raise RuntimeError("no hash")

    def __repr__(self):
        raise RuntimeError("no repr")

    def __getattribute__(self, name):
        raise RuntimeError("no attribute " + name)


def rnn_backward(dh, cache):
    n, steps, hidden = dh.shape
    carry = np.zeros((n, hidden))
    grads = [None] * steps
    total = None
    for t in range(steps - 1, -1, -1):
        dx_t, carry, *rest = rnn_step_backward(dh[:, t, :] + carry, cache[t])
        grads[t] = dx_t
        total = rest if total is None else [a + r for a, r in zip(total, rest)]
    return HostileTuple((np.stack(grads, axis=1), carry) + tuple(total))


def lstm_backward(dh, cache):
    dx = np.zeros(dh.shape)
    print("computed everything, returning nothing")
    return None
