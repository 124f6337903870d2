import importlib.metadata

import pytest
import torch

from medlab.env import choose_precision, environment_report, seed_everything
from medlab.profiles import load_profile


@pytest.mark.parametrize(
    ("requested", "capability", "expected"),
    [
        ("auto", None, "fp32"),
        ("auto", (7, 5), "fp16"),  # T4: bf16 only emulated, whatever is_bf16_supported() says
        ("auto", (8, 0), "bf16"),  # A100
        ("auto", (8, 9), "bf16"),  # L4
        ("auto", (9, 0), "bf16"),  # H100
        ("fp16", (9, 0), "fp16"),
        ("bf16", None, "fp32"),
        ("fp32", (7, 5), "fp32"),
    ],
)
def test_precision_follows_compute_capability(requested, capability, expected):
    precision, why = choose_precision(requested, capability)
    assert precision == expected
    assert why


def test_bf16_on_a_t4_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match="use fp16"):
        choose_precision("bf16", (7, 5))


def test_one_seed_gives_one_stream():
    seed_everything(7)
    first = torch.rand(5)
    seed_everything(7)
    assert torch.equal(first, torch.rand(5))
    seed_everything(8)
    assert not torch.equal(first, torch.rand(5))


def test_report_on_this_machine_names_versions_device_and_precision():
    report = environment_report(load_profile("tiny"))
    assert report["transformers"] == importlib.metadata.version("transformers")  # the one installed
    if torch.cuda.is_available():
        assert report["device"].startswith("cuda") and "compute_capability" in report
    else:
        assert (report["device"], report["precision"]) == ("cpu", "fp32")
