"""grpo_core.device() and the CUDA path. The GPU tests skip cleanly where there is no CUDA."""

import pytest
import torch

import grpo_core
from grpo_core import DEVICE_ENV, group_advantages, grpo_loss

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.fixture
def fresh_device(monkeypatch):
    grpo_core.device.cache_clear()
    yield monkeypatch
    grpo_core.device.cache_clear()


def test_env_var_overrides_choice(fresh_device):
    fresh_device.setenv(DEVICE_ENV, "cpu")
    assert grpo_core.device() == torch.device("cpu")
    assert grpo_core.device_name() == "CPU"


def test_default_is_cuda_when_available_else_cpu(fresh_device):
    fresh_device.delenv(DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert grpo_core.device().type == expected


@pytest.mark.parametrize("bad", ["gpu0", "cuda:99" if not torch.cuda.is_available() else "cuda:999"])
def test_env_var_naming_an_unusable_device_is_a_value_error(fresh_device, bad):
    fresh_device.setenv(DEVICE_ENV, bad)
    with pytest.raises(ValueError, match=DEVICE_ENV):
        grpo_core.device()


def _inputs(device, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    new = -3 * torch.rand(64, 32, generator=gen)
    old = new + 0.2 * torch.randn(64, 32, generator=gen)
    ref = new + 0.2 * torch.randn(64, 32, generator=gen)
    rewards = torch.randint(0, 2, (8, 8), generator=gen).float()
    mask = (torch.rand(64, 32, generator=gen) > 0.2).float()
    return [x.to(device=device, dtype=dtype) for x in (new, old, ref, rewards, mask)]


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("opts", [{}, {"loss_type": "dapo", "epsilon_high": 0.28, "delta": 2.0},
                                  {"loss_type": "dr_grpo", "kl_in": "reward", "scale_rewards": "none"},
                                  {"importance_sampling_level": "sequence", "kl_estimator": "k2"}])
def test_cuda_matches_cpu_and_keeps_device_and_dtype(dtype, opts):
    results = {}
    for dev in ("cpu", "cuda"):
        new, old, ref, rewards, mask = _inputs(dev, dtype)
        new.requires_grad_()
        out = grpo_loss(new, old, ref, rewards, mask, **opts)
        out.loss.backward()
        assert out.loss.device.type == dev and out.loss.dtype == dtype and new.grad.dtype == dtype
        assert torch.isfinite(new.grad).all()
        results[dev] = (out.loss.detach().cpu().double(), new.grad.cpu().double(), out.metrics)
    tol = dict(atol=2e-2, rtol=2e-2) if dtype == torch.bfloat16 else dict(atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(results["cuda"][0], results["cpu"][0], **tol)
    torch.testing.assert_close(results["cuda"][1], results["cpu"][1], **tol)
    for k, v in results["cpu"][2].items():
        assert results["cuda"][2][k] == pytest.approx(v, abs=tol["atol"] * 5, rel=tol["rtol"] * 5), k


@pytest.mark.gpu
@needs_cuda
def test_cuda_equal_groups_exactly_zero():
    adv = group_advantages(torch.full((1000, 8), 0.7, device="cuda"))
    assert adv.device.type == "cuda" and torch.count_nonzero(adv).item() == 0
