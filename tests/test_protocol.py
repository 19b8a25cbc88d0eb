import pytest
import torch

from disentangle_metrics.generators.protocol import (
    CallableGenerator, GeneratorValidationError, NoMappingError, ProtocolError, RosinalityAdapter, as_generator,
    prepare_shared_noise, require_mapping, validate_generator,
)
from tests.toy_generators import RosinalityLike, ToyGenerator


def test_protocol_object_is_returned_unchanged():
    G = ToyGenerator()
    assert as_generator(G) is G
    assert validate_generator(G).ok


def test_rosinality_adapter_follows_protocol():
    net = RosinalityLike()
    G = as_generator(net)
    assert isinstance(G, RosinalityAdapter)
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels) == (8, 8, 4, 8, 3)
    z = torch.randn(3, 8)
    ws = G.mapping(z, None)
    assert ws.shape == (3, 4, 8)
    torch.testing.assert_close(ws[:, 2], net.get_latent(z))
    rep = validate_generator(G)
    assert rep.ok, str(rep)
    # 'none' zeroes the noise: the output is then a function of ws alone.
    a = G.synthesis(ws, noise_mode="none")
    expected = torch.tanh(net.out(ws.mean(1)).view(-1, 3, 8, 8))
    torch.testing.assert_close(a, expected)
    # reseed_noise changes the const noise, and the same generator seed reproduces it.
    G.reseed_noise(torch.Generator().manual_seed(1))
    b1 = G.synthesis(ws, noise_mode="const")
    G.reseed_noise(torch.Generator().manual_seed(2))
    b2 = G.synthesis(ws, noise_mode="const")
    G.reseed_noise(torch.Generator().manual_seed(1))
    b3 = G.synthesis(ws, noise_mode="const")
    assert not torch.equal(b1, b2) and torch.equal(b1, b3)


def test_callable_adapter_is_z_only():
    lin = torch.nn.Linear(5, 3 * 4 * 4)
    G = as_generator(lambda z: torch.tanh(lin(z)).view(-1, 3, 4, 4), z_dim=5, img_resolution=4)
    assert isinstance(G, CallableGenerator) and G.has_mapping is False
    assert validate_generator(G).ok
    with pytest.raises(NoMappingError, match="ppl_wfull"):
        require_mapping(G, "ppl_wfull")


def test_callable_without_dims_is_refused_with_advice():
    with pytest.raises(ProtocolError, match="z_dim= and img_resolution="):
        as_generator(lambda z: z)


def test_non_generator_refused():
    with pytest.raises(ProtocolError, match="cannot use int"):
        as_generator(3)


class _Broken(ToyGenerator):
    def __init__(self, fault):
        super().__init__()
        self.fault = fault

    def synthesis(self, ws, noise_mode="random"):
        x = super().synthesis(ws, noise_mode)
        if self.fault == "shape":
            return x[:, :, :4]
        if self.fault == "dtype":
            return (x * 127).to(torch.int16)
        if self.fault == "channels":
            return x[:, :1]
        if self.fault == "range":
            return (x + 1) * 127.5
        if self.fault == "nan":
            x = x.clone()
            x[0, 0, 0, 0] = float("nan")
            return x
        if self.fault == "nondet":
            return x + 0.01 * torch.randn_like(x)
        return x


@pytest.mark.parametrize("fault,needle", [
    ("shape", "image shape"), ("dtype", "dtype"), ("channels", "channels"), ("range", "range"),
    ("nan", "non-finite"), ("nondet", "non-determinism"),
])
def test_each_broken_property_is_named(fault, needle):
    rep = validate_generator(_Broken(fault))
    assert not rep.ok
    assert any(needle in p for p in rep.problems), rep.problems


def test_all_violations_reported_at_once():
    class Many(_Broken):
        def synthesis(self, ws, noise_mode="random"):
            x = (super().synthesis(ws, noise_mode) + 1) * 127.5
            x[0, 0, 0, 0] = float("nan")
            return x + torch.rand_like(x)
    rep = validate_generator(Many("none"))
    text = " ".join(rep.problems)
    for needle in ("range", "non-finite", "non-determinism"):
        assert needle in text


def test_missing_attributes_and_mapping_shape():
    G = ToyGenerator()
    del G.num_ws
    G.img_channels = 0
    rep = validate_generator(G)
    assert any("num_ws is missing" in p for p in rep.problems)
    assert any("img_channels" in p for p in rep.problems)

    G2 = ToyGenerator()
    G2.mapping = lambda z, c=None, truncation_psi=1: z
    rep2 = validate_generator(G2)
    assert any("mapping shape" in p for p in rep2.problems)


def test_raise_on_error_carries_report():
    with pytest.raises(GeneratorValidationError) as info:
        validate_generator(_Broken("range"), raise_on_error=True)
    assert "range" in str(info.value)


def test_prepare_shared_noise_uses_hook():
    G = ToyGenerator()
    before = G.noise_const.clone()
    assert prepare_shared_noise(G, torch.Generator().manual_seed(5)) == "const"
    assert not torch.equal(before, G.noise_const)
