"""Checks of options shared by several commands, each failing with one line that names the fix."""

from __future__ import annotations

import click


def check_device(device: str) -> str:
    """The resolved device name for ``--device``; a usage error naming the choices otherwise."""
    from disentangle_metrics._core.device import resolve_device
    try:
        return str(resolve_device(device))
    except (RuntimeError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else ""
        if "CUDA is not available" in msg:
            why = "CUDA is not available on this machine"
        elif msg.startswith("Expected one of") or not msg:
            why = "not a device name"
        else:
            why = msg
        raise click.BadParameter(f"{device!r}: {why}; use auto, cpu, cuda or cuda:N", param_hint="--device") from None
