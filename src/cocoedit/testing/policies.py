"""Policies for step tests whose x0-predictions are free tensors (no network).

:class:`FreePolicies` predicts, at any ``x_t`` and ``t``, the velocity whose clean prediction is a
given tensor (``v = (x_t - x0_hat) / t``): the current policy's is ``p`` (the tensor a test trains),
the old policy's ``q`` and the reference's ``ref`` (``q`` unless given). The loss terms of a step can
then be read as distances between these tensors, the rollout samples and the source. A tensor of
batch size 1 is one prediction shared by every sample, as a policy's is for one prompt.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from cocoedit.models.flow import velocity_from_x0


class FreePolicies:
    def __init__(self, p: torch.Tensor, q: torch.Tensor, ref: torch.Tensor | None = None):
        self.p, self.q = p, q
        self.ref = q if ref is None else ref

    @staticmethod
    def _v(x_t: torch.Tensor, t: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
        return velocity_from_x0(x_t, t, x0_hat)

    def old(self, x_t, t, cond):
        return self._v(x_t, t, self.q)

    def reference(self, x_t, t, cond):
        return self._v(x_t, t, self.ref)

    @contextmanager
    def current(self):
        yield lambda x_t, t, cond: self._v(x_t, t, self.p)
