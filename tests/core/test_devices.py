"""Device names are checked before anything is loaded: not a device, not on this machine."""

import pytest
import torch

from cocoedit.core.devices import DeviceError, check_device


@pytest.mark.parametrize("name", ["tpu9", "cuda:x", "gpu", "", "xla"])
def test_a_name_that_is_not_a_device_is_refused(name):
    with pytest.raises(DeviceError, match=rf"train.device '{name}' is not a device; use cpu, cuda, cuda:N or mps"):
        check_device(name, "train.device")


def test_cpu_is_always_there():
    assert check_device("cpu", "--device") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_is_refused(name):
    with pytest.raises(DeviceError, match=rf"--device is '{name}' but this machine has no usable CUDA GPU"):
        check_device(name, "--device")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_gpu_index_past_the_last_is_refused():
    count = torch.cuda.device_count()
    assert check_device("cuda:0", "--device").type == "cuda"
    with pytest.raises(DeviceError, match=rf"has {count} CUDA GPU\(s\)"):
        check_device(f"cuda:{count}", "--device")
