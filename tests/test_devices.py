import pytest
import torch

from greenkd_lib.devices import pick_device


def test_pick_device_takes_a_named_device_and_defaults_to_what_the_machine_has():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cuda", "mps", "cpu")
    assert pick_device("auto") == pick_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_says_what_to_use_instead():
    with pytest.raises(ValueError, match="use 'cpu' or 'auto'"):
        pick_device("cuda")
