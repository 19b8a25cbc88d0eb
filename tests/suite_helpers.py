"""Stand-ins for NVIDIA's TorchScript networks (same call signatures, tiny) and a torchvision VGG16 file.

The real files cannot be downloaded here. A metric only needs the call interface of
``vgg16.pt`` (``m(u8, return_features=True) -> [N, 4096]``) and ``inception-2015-12-05.pt``
(``m(u8, return_features=True) -> [N, 2048]``, ``m(u8, no_output_bias=True) -> probabilities
[N, 1008]``) for plumbing tests; numerics against the anchors use the real architectures
(Inception: tests.fid_helpers; VGG16: :func:`random_vgg16_file`).
"""

import pytest
import torch


class VGGStandIn(torch.nn.Module):
    """uint8 images -> 4x4 average-pooled colours -> random projection -> ReLU (4096-d)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Parameter(torch.randn(48, 4096, generator=g), requires_grad=False)

    def forward(self, img: torch.Tensor, resize_images: bool = True, return_lpips: bool = False,
                return_features: bool = False) -> torch.Tensor:
        x = torch.nn.functional.adaptive_avg_pool2d(img.to(torch.float32) / 255, 4).flatten(1)
        return torch.relu(x @ self.proj - 0.5)


class InceptionStandIn(torch.nn.Module):
    """uint8 images -> pooled colours -> 2048 'pool' features, and softmax of 1008 logits without bias."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Parameter(torch.randn(48, 2048, generator=g), requires_grad=False)
        self.fc = torch.nn.Parameter(torch.randn(2048, 1008, generator=g) * 0.2, requires_grad=False)
        self.bias = torch.nn.Parameter(torch.randn(1008, generator=g), requires_grad=False)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        x = torch.nn.functional.adaptive_avg_pool2d(img.to(torch.float32) / 255, 4).flatten(1)
        f = torch.relu(x @ self.proj - 1.0)
        if return_features:
            return f
        logits = f @ self.fc
        if not no_output_bias:
            logits = logits + self.bias
        return torch.softmax(logits, 1)


def write_scripted(module: torch.nn.Module, path) -> str:
    torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


@pytest.fixture(scope="session")
def nvidia_standins(tmp_path_factory):
    """{'vgg16-nvidia': path, 'inception-v3-tf': path} of scripted stand-ins in NVIDIA's file names."""
    d = tmp_path_factory.mktemp("nvidia")
    return {"vgg16-nvidia": write_scripted(VGGStandIn(), d / "vgg16.pt"),
            "inception-v3-tf": write_scripted(InceptionStandIn(), d / "inception-2015-12-05.pt")}


@pytest.fixture(scope="session")
def random_vgg16_file(tmp_path_factory):
    """torchvision's VGG16 with its own random initialisation, saved as a state_dict (vgg16-397923af.pth layout)."""
    import torchvision
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg16") / "vgg16-random.pth"
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)
    return str(path)
