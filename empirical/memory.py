"""Peak tensor memory: a measurement (:class:`PeakTensorBytes`) and the budget full-profile estimates must fit.

Runners whose allocations grow with the full-profile sizes give a small pure function estimating their peak
tensor bytes from their settings (e.g. :func:`empirical.papers.fu23.runners.memory_estimate`). The shrunk full-profile
test (``tests/empirical/test_full_profile_shrunk.py``) checks each formula against :class:`PeakTensorBytes` at
small settings and the estimate at the full-profile settings against :data:`DEVICE_BUDGET_BYTES`, so a tensor
that would need 256 GiB on the GPU is found on a laptop.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["DEVICE_BUDGET_BYTES", "DEVICE_BUDGET_REASON", "GIB", "PeakTensorBytes", "peak_tensor_bytes"]

GIB = 2**30
#: what one full-profile run may hold in tensors at once
DEVICE_BUDGET_BYTES = 80 * GIB
DEVICE_BUDGET_REASON = ("the full profile is sized for one 80 GB GPU (A100 / H100 80 GB, docs/gpu_budget.md); a "
                        "run whose tensors exceed it cannot run there")


class PeakTensorBytes(TorchDispatchMode):
    """Context manager measuring the peak bytes of tensor storages alive at once, of tensors made inside it.

    Every tensor an ATen operator returns inside the block is counted once per storage (views share their
    base's bytes) until the last tensor on that storage is freed (autograd's saved tensors included: PyTorch
    keeps a tensor's Python object alive while C++ holds it). Tensors made before the block (parameters,
    inputs) are not counted; neither are numpy arrays or scratch memory inside one kernel. Device-agnostic:
    it counts bytes, not the allocator's pool, so it reads the same on a CPU and a GPU.

    Attributes:
        peak: the largest number of bytes alive at once. now: bytes still alive.
    """

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[tuple[str, int], list[int]] = {}  # (device, data_ptr) -> [bytes, tensors on it]
        self.now = 0
        self.peak = 0

    def _release(self, key: tuple[str, int]) -> None:
        entry = self._live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.now -= entry[0]
            del self._live[key]

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        if storage.nbytes() == 0:
            return
        key = (str(t.device), storage.data_ptr())
        entry = self._live.get(key)
        if entry is None:
            self._live[key] = [storage.nbytes(), 1]
            self.now += storage.nbytes()
            self.peak = max(self.peak, self.now)
        else:
            entry[1] += 1
        weakref.finalize(t, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self._track(t)
        return out


def peak_tensor_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """(peak tensor bytes alive at once while ``fn()`` ran, its result); see :class:`PeakTensorBytes`."""
    with PeakTensorBytes() as m:
        result = fn()
    return m.peak, result
