"""The demo trains and evaluates its base editor on one torch thread and restores the setting."""

import pytest
import torch

from cocoedit.demo.runner import one_thread


def test_one_thread_inside_previous_setting_after_even_on_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_thread():
            raise RuntimeError("training failed")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
