"""The PPL distance registry: lpips-vgg equals lpips.LPIPS with the same weights; the NVIDIA call convention."""

from __future__ import annotations

import sys
import types

import lpips
import pytest
import torch
import torchvision

from disentangle_metrics.metrics import distances as D
from disentangle_metrics._core import weights as W


def _torchvision_layout(lp: lpips.LPIPS, full_classifier: bool) -> dict[str, torch.Tensor]:
    """lpips' trunk written back as a torchvision vgg16 state_dict (features.N.* + classifier.*)."""
    sd = {}
    for key, value in lp.net.state_dict().items():
        _slice, idx, param = key.split(".")
        sd[f"features.{idx}.{param}"] = value.clone()
    if full_classifier:
        ref = torchvision.models.vgg16(weights=None).state_dict()
        sd.update({k: v for k, v in ref.items() if k.startswith("classifier.")})
    else:
        # The real key names; shapes shrunk so the file stays small (the loader uses features only).
        g = torch.Generator().manual_seed(1)
        for i, (o, n) in {0: (8, 16), 3: (8, 8), 6: (4, 8)}.items():
            sd[f"classifier.{i}.weight"] = torch.randn([o, n], generator=g)
            sd[f"classifier.{i}.bias"] = torch.randn([o], generator=g)
    return sd


def _random_lpips(seed: int) -> lpips.LPIPS:
    torch.manual_seed(seed)
    return lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()


def _check_equal_to_lpips(tmp_path, full_classifier: bool) -> None:
    ref = _random_lpips(123)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(_torchvision_layout(ref, full_classifier), path)
    with pytest.raises(W.WeightsHashError):
        D.build_distance("lpips-vgg", weight_paths={"vgg16-torchvision": str(path)})
    dist = D.build_distance("lpips-vgg", weight_paths={"vgg16-torchvision": str(path)}, allow_hash_mismatch=True)
    assert dist.weights["vgg16-torchvision"] == W.sha256_of(path)
    assert set(dist.weights) == {"vgg16-torchvision", "lpips-vgg-lin-v0.1"}
    g = torch.Generator().manual_seed(0)
    a = torch.rand([3, 3, 64, 64], generator=g) * 2 - 1
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    with torch.no_grad():
        want = ref(a, b).reshape(-1)
        got = dist(a, b)
    assert got.shape == (3,)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # A different trunk gives a different distance, so the comparison above is not vacuous.
    with torch.no_grad():
        g2 = torch.Generator().manual_seed(9)
        for p in ref.net.parameters():
            p.add_(0.5 * p.std() * torch.randn(p.shape, generator=g2))
        assert not torch.allclose(ref(a, b).reshape(-1), got, rtol=1e-3)


def test_lpips_vgg_equals_lpips_package_with_same_weights(tmp_path):
    _check_equal_to_lpips(tmp_path, full_classifier=False)


@pytest.mark.slow
def test_lpips_vgg_equals_lpips_package_full_vgg16_file(tmp_path):
    _check_equal_to_lpips(tmp_path, full_classifier=True)


def test_lpips_vgg_missing_weights_message_names_file():
    with pytest.raises(W.MissingWeightsError, match="vgg16-397923af.pth"):
        D.build_distance("lpips-vgg")


def test_lpips_vgg_rejects_non_vgg_file(tmp_path):
    path = tmp_path / "not_vgg.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a torchvision vgg16 state_dict"):
        D.build_distance("lpips-vgg", weight_paths={"vgg16-torchvision": str(path)}, allow_hash_mismatch=True)


def test_lpips_trunk_key_mapping():
    sd = {"features.0.weight": 0, "features.5.bias": 1, "features.28.weight": 2, "classifier.0.weight": 3}
    assert D.lpips_trunk_state_dict(sd) == {"slice1.0.weight": 0, "slice2.5.bias": 1, "slice5.28.weight": 2}


class _FakeNvidiaVGG(torch.nn.Module):
    """Stands in for NVIDIA's vgg16.pt: same call signature; 'LPIPS features' = x / 255 flattened."""

    def forward(self, img: torch.Tensor, resize_images: bool = True, return_lpips: bool = False) -> torch.Tensor:
        assert not resize_images and return_lpips
        return (img / 255).flatten(1)


def test_lpips_vgg_nvidia_call_convention(tmp_path):
    path = tmp_path / "vgg16.pt"
    torch.jit.script(_FakeNvidiaVGG()).save(str(path))
    dist = D.build_distance("lpips-vgg-nvidia", weight_paths={"vgg16-nvidia": str(path)})
    assert dist.weights == {"vgg16-nvidia": W.sha256_of(path)}
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand([2, 3, 8, 8], generator=g) * 2 - 1, torch.rand([2, 3, 8, 8], generator=g) * 2 - 1
    # (x + 1) * 255 / 2 then / 255 => (x + 1) / 2: squared difference = |a - b|^2 / 4.
    torch.testing.assert_close(dist(a, b), (a - b).square().flatten(1).sum(1) / 4)


def test_unknown_distance_lists_known_names():
    with pytest.raises(KeyError, match="lpips-vgg"):
        D.get_distance_spec("no-such-distance")


def test_lazy_module_registration(monkeypatch):
    mod = types.ModuleType("fake_testbed_distance")

    def build(device, dtype, weight_paths, allow_hash_mismatch):
        return D.Distance(name="testbed-fake", fn=lambda a, b: (a - b).abs().flatten(1).sum(1))

    def on_import():
        D.register_distance("testbed-fake")(build)

    # Importing the module registers the builder, as a real lazily imported module would.
    monkeypatch.setitem(sys.modules, "fake_testbed_distance", mod)
    monkeypatch.setattr(D, "_LAZY", {"testbed-fake": "fake_testbed_distance"})
    monkeypatch.setattr(D, "DISTANCES", dict(D.DISTANCES))
    real_import = D.importlib.import_module

    def fake_import(name, *args):
        if name == "fake_testbed_distance":
            on_import()
            return mod
        return real_import(name, *args)

    monkeypatch.setattr(D.importlib, "import_module", fake_import)
    assert "testbed-fake" in D.list_distances()
    dist = D.build_distance("testbed-fake")
    assert float(dist(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))[0]) == 12.0
