"""The FID Inception-v3 network (TensorFlow graph of 2015-12-05), up to the 2048-d pool features.

Module and parameter names follow torchvision's ``inception_v3``, which is the key layout of
pytorch-fid's and torch-fidelity's weight files. The FID variant differs from torchvision's
network in its pooling branches: average pools that exclude padding (``count_include_pad=False``)
in the A, C and first E blocks, and a max pool in the second E block. The 1008-way classifier
is not built: FID uses the 2048-d average-pooled features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 0.001  # TF's batch-norm epsilon in this graph


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU; :meth:`fuse` folds the norm into the conv."""

    def __init__(self, cin: int, cout: int, **kw) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x) if self.fused else self.bn(self.conv(x)), inplace=True)

    @torch.no_grad()
    def fuse(self) -> None:
        """conv(x) * g / sqrt(v + eps) + (b - m * g / sqrt(v + eps)) as one conv with bias; eval only."""
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size,
                         self.conv.stride, self.conv.padding, bias=True).to(self.conv.weight)
        conv.weight.copy_(self.conv.weight * scale.view(-1, 1, 1, 1))
        conv.bias.copy_(self.bn.bias - self.bn.running_mean * scale)
        self.conv, self.fused = conv, True
        del self.bn


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _Block(nn.Module):
    """A mixed block whose 1x1 "head" convolutions all read the block input.

    After batch-norm fusion the heads are plain conv + bias + ReLU, so :meth:`merge_heads` stacks
    them into one convolution (one GEMM instead of two or three, the same sums per output
    channel); :meth:`heads` returns their outputs either way.
    """

    HEADS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.merged: nn.Conv2d | None = None

    def heads(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.merged is None:
            return [getattr(self, n)(x) for n in self.HEADS]
        sizes = [getattr(self, n).conv.out_channels for n in self.HEADS]
        return list(F.relu(self.merged(x), inplace=True).split(sizes, 1))

    @torch.no_grad()
    def merge_heads(self) -> None:
        convs = [getattr(self, n).conv for n in self.HEADS]
        if len(convs) < 2 or not all(getattr(self, n).fused for n in self.HEADS):
            return
        w = torch.cat([c.weight for c in convs])
        merged = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=True).to(w)
        merged.weight.copy_(w)
        merged.bias.copy_(torch.cat([c.bias for c in convs]))
        self.merged = merged


class InceptionA(_Block):
    HEADS = ("branch1x1", "branch5x5_1", "branch3x3dbl_1")

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b5, b3 = self.heads(x)
        b5 = self.branch5x5_2(b5)
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(b3))
        return torch.cat([b1, b5, b3, self.branch_pool(_avg3(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(_Block):
    HEADS = ("branch1x1", "branch7x7_1", "branch7x7dbl_1")

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b7, d = self.heads(x)
        b7 = self.branch7x7_3(self.branch7x7_2(b7))
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = m(d)
        return torch.cat([b1, b7, d, self.branch_pool(_avg3(x))], 1)


class InceptionD(_Block):
    HEADS = ("branch3x3_1", "branch7x7x3_1")

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3, b7 = self.heads(x)
        b3 = self.branch3x3_2(b3)
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(b7)))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(_Block):
    """E block; ``max_pool`` selects the pooling branch (False in Mixed_7b, True in Mixed_7c)."""

    HEADS = ("branch1x1", "branch3x3_1", "branch3x3dbl_1")

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b3, d = self.heads(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(d)
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([b1, b3, d, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """Normalised float input [N, 3, 299, 299] in [-1, 1) -> pool3 features [N, 2048]."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3))

    def fuse(self, merge_heads: bool = True) -> "FIDInceptionV3":
        """Fold every batch norm into its conv and (optionally) merge each block's 1x1 heads; inference only."""
        for m in list(self.modules()):
            if isinstance(m, BasicConv2d) and not m.fused:
                m.fuse()
        if merge_heads:
            for m in list(self.modules()):
                if isinstance(m, _Block):
                    m.merge_heads()
        return self
