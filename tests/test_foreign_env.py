"""Issue 23, items 9a/9b: StyleGAN3 pickles in a fresh environment, and what their results record.

9a: NVIDIA's code imports modules that setuptools provides (``pkg_resources``: gone in setuptools
81; ``distutils``: gone from Python 3.12): the message names ``pip install "setuptools<81"``, not
"clone the repository", which the user already did. 9b: a generator without noise inputs
(StyleGAN3) records ``noise: none``, not a per-minibatch reseed that never happened.
"""

from __future__ import annotations

import shutil
import sys

import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from disentangle_metrics.generators.adapters import as_generator
from disentangle_metrics.generators.sources import GeneratorSource
from tests.test_cli_foreign import snapshot  # noqa: F401  (fixture: a stylegan2-ada-style snapshot pickle)
from tests.test_foreign_generators import FAKE


@pytest.mark.parametrize("module,line", [("pkg_resources", "from pkg_resources import parse_version"),
                                         ("distutils", "from distutils.util import strtobool")])
def test_setuptools_modules_name_the_setuptools_fix(snapshot, tmp_path, monkeypatch, module, line):  # noqa: F811
    code = tmp_path / "stylegan3"
    shutil.copytree(FAKE, code)
    init = code / "torch_utils" / "__init__.py"
    init.write_text(init.read_text() + f"\n{line}  # as their torch_utils/ops and dnnlib do\n")
    monkeypatch.setitem(sys.modules, module, None)          # this environment lacks it
    monkeypatch.delitem(sys.modules, f"{module}.util", raising=False)
    r = CliRunner().invoke(main, ["check", str(snapshot), "--trust-pickle", "--code-path", str(code)])
    assert r.exit_code != 0
    assert f"needs the module '{module}'" in r.output and 'pip install "setuptools<81"' in r.output, r.output
    assert "Clone that repository" not in r.output


def test_readme_names_the_setuptools_fix_beside_requests():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text[text.index("pip install requests"):][:400]
    assert 'pip install "setuptools<81"' in block


class _SG3Synthesis(torch.nn.Module):
    """StyleGAN3's synthesis shape (``input``, ``layer_names``), no noise buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.input = torch.nn.Identity()
        self.layer_names = ["L0_8_3"]
        self.L0_8_3 = torch.nn.Linear(4, 3 * 8 * 8)

    def forward(self, ws, noise_mode="random", force_fp32=False):
        return torch.tanh(self.L0_8_3(ws[:, 0])).view(-1, 3, 8, 8)


class _SG3Mapping(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w_avg", torch.zeros(4))

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None):
        ws = z.unsqueeze(1).repeat(1, 2, 1)
        return self.w_avg.lerp(ws, truncation_psi)


class Generator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.z_dim = self.w_dim = 4
        self.num_ws, self.img_resolution, self.img_channels, self.c_dim = 2, 8, 3, 0
        self.synthesis, self.mapping = _SG3Synthesis(), _SG3Mapping()


def test_generator_without_noise_inputs_records_no_noise():
    A = as_generator(Generator())
    assert A.kind == "stylegan3" and A.noise_buffer_names() == []
    assert GeneratorSource(A, device="cpu").describe()["noise_hook"] == "none (generator has no noise inputs)"


def test_ppl_result_of_a_stylegan3_generator_records_no_noise():
    from disentangle_metrics.metrics.ppl import ppl
    res = ppl(Generator(), "w", "end", num_samples=16, batch_size=8, device="cpu", seed=0,
              distance=lambda a, b: (a - b).square().flatten(1).sum(1), crop=False)
    assert res.config["noise"] == "none (generator has no noise inputs)"


def test_generators_with_noise_buffers_still_record_the_reseed(monkeypatch):
    monkeypatch.syspath_prepend(FAKE)
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in ("training", "torch_utils")}
    try:
        import training.networks as networks
        src = GeneratorSource(as_generator(networks.make_generator()), device="cpu")
        assert src.describe()["noise_hook"] == "per-minibatch reseed_noise"
    finally:
        for k in [k for k in sys.modules if k.split(".")[0] in ("training", "torch_utils")]:
            del sys.modules[k]
        sys.modules.update(saved)
