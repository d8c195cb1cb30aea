"""Checking a device name (``train.device``, ``--device``) before anything is loaded onto it.

torch accepts any device string until something is moved there, which is after a model has been
read for minutes; and ``cuda`` on a machine without a usable GPU fails deep inside torch.
"""

from __future__ import annotations

import torch

from cocoedit.core.errors import CocoEditError

#: The device types cocoedit runs on.
DEVICE_TYPES = ("cpu", "cuda", "mps")


class DeviceError(CocoEditError):
    """A device name that is not one, or a device this machine does not have."""


def check_device(name: str, option: str) -> torch.device:
    """``name`` as a device this machine has; :class:`DeviceError` naming ``option`` otherwise."""
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise DeviceError(f"{option} {name!r} is not a device; use cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"{option} is {name!r} but this machine has no usable CUDA GPU "
                "(torch.cuda.is_available() is False); use cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(
                f"{option} is {name!r} but this machine has {count} CUDA GPU(s): cuda:0 to cuda:{count - 1}"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{option} is {name!r} but MPS is not available on this machine; use cpu")
    return device
