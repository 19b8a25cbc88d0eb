"""Batched 2-D signed distances, anti-aliased coverage and colour helpers for the test bed renderer.

Every shape works on coordinate grids ``X, Y`` of shape [N, R, R] and per-image parameters of shape
[N, 1, 1] (or plain floats), so one call draws the shape for the whole batch. Distances are in the
face's local units (negative inside); :func:`coverage` turns them into anti-aliased alpha.
"""

from __future__ import annotations

import torch

Tensorish = torch.Tensor | float


def coverage(d: torch.Tensor, px_per_unit: torch.Tensor, soft: float = 1.0) -> torch.Tensor:
    """Alpha in [0, 1] from a signed distance: a linear ramp one pixel (times ``soft``) wide at the edge."""
    return (0.5 - d * (px_per_unit / soft)).clamp_(0.0, 1.0)


def ellipse(X: torch.Tensor, Y: torch.Tensor, cx: Tensorish, cy: Tensorish, a: Tensorish, b: Tensorish) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (first-order: f / |grad f|)."""
    x = (X - cx) / a
    y = (Y - cy) / b
    f = x * x + y * y - 1.0
    g = 2.0 * torch.sqrt((x / a) ** 2 + (y / b) ** 2 + 1e-8)
    return f / g


def circle(X: torch.Tensor, Y: torch.Tensor, cx: Tensorish, cy: Tensorish, r: Tensorish) -> torch.Tensor:
    """Exact signed distance to a circle."""
    return torch.sqrt((X - cx) ** 2 + (Y - cy) ** 2 + 1e-12) - r


def box(X: torch.Tensor, Y: torch.Tensor, cx: Tensorish, cy: Tensorish, hw: Tensorish, hh: Tensorish,
        radius: Tensorish = 0.0) -> torch.Tensor:
    """Exact signed distance to an axis-aligned box with rounded corners of ``radius``."""
    qx = (X - cx).abs() - hw + radius
    qy = (Y - cy).abs() - hh + radius
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2 + 1e-12)
    inside = torch.maximum(qx, qy).clamp(max=0)
    return outside + inside - radius


def segment(X: torch.Tensor, Y: torch.Tensor, x0: Tensorish, y0: Tensorish, x1: Tensorish, y1: Tensorish,
            half_width: Tensorish) -> torch.Tensor:
    """Signed distance to a thick line segment (a capsule)."""
    px, py = X - x0, Y - y0
    dx, dy = x1 - x0, y1 - y0
    h = ((px * dx + py * dy) / (dx * dx + dy * dy + 1e-12)).clamp(0.0, 1.0)
    return torch.sqrt((px - h * dx) ** 2 + (py - h * dy) ** 2 + 1e-12) - half_width


def parabola_arc(X: torch.Tensor, Y: torch.Tensor, cx: Tensorish, cy: Tensorish, w: Tensorish, h: Tensorish,
                 half_width: Tensorish) -> torch.Tensor:
    """Thick arc ``y = cy + h (1 - ((x - cx) / w)^2)`` for |x - cx| <= w (h > 0 bends down in image space)."""
    x = X - cx
    inside = x.abs() <= w
    yc = cy + h * (1.0 - (x / w) ** 2)
    slope = -2.0 * h * x / (w * w)
    d_curve = (Y - yc).abs() / torch.sqrt(1.0 + slope * slope)
    # beyond the ends: distance to the nearer end point (which lies at y = cy)
    ex = torch.where(x >= 0, x - w, x + w)
    d_end = torch.sqrt(ex * ex + (Y - cy) ** 2 + 1e-12)
    return torch.where(inside, torch.minimum(d_curve, d_end), d_end) - half_width


def between_parabolas(X: torch.Tensor, Y: torch.Tensor, cx: Tensorish, cy: Tensorish, w: Tensorish,
                      h_top: Tensorish, h_bottom: Tensorish) -> torch.Tensor:
    """Approximate signed distance to the region between two parabolas sharing end points (a crescent or D)."""
    x = X - cx
    t = 1.0 - (x / w) ** 2
    top = cy + h_top * t
    bottom = cy + h_bottom * t
    d_top = (top - Y) / torch.sqrt(1.0 + (2.0 * h_top * x / (w * w)) ** 2)
    d_bottom = (Y - bottom) / torch.sqrt(1.0 + (2.0 * h_bottom * x / (w * w)) ** 2)
    return torch.maximum(torch.maximum(d_top, d_bottom), x.abs() - w)


def over(img: torch.Tensor, color: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Composite ``color`` ([N, 3, 1, 1] or [N, 3, R, R]) over ``img`` [N, 3, R, R] with ``alpha`` [N, R, R], in place."""
    return img.lerp_(color.expand_as(img) if color.shape != img.shape else color, alpha.unsqueeze(1))


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] (each [N]) -> RGB [N, 3]."""
    k = torch.stack([(5.0 + h * 6.0) % 6.0, (3.0 + h * 6.0) % 6.0, (1.0 + h * 6.0) % 6.0], dim=1)
    f = (torch.minimum(k, 4.0 - k)).clamp(0.0, 1.0)
    return v[:, None] - v[:, None] * s[:, None] * f


def smoothstep(e0: float, e1: float, x: torch.Tensor) -> torch.Tensor:
    """Hermite step from 0 at ``e0`` to 1 at ``e1``."""
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
