"""The one device picker of `compose generate` and `compose train`.

"cpu" needs no torch (generation on a CPU runs the numpy decoder and must not import it);
"auto" is cuda, then mps, then cpu; a named device that this machine lacks is refused with
the list of those it has.
"""

from __future__ import annotations

from .errors import ComposerError

DEVICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """The devices torch can use here, best first (cpu last)."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def pick_device(name: str) -> str:
    """"auto", "cpu", "cuda" or "mps" -> a device this machine has (ComposerError if none)."""
    if name == "cpu":
        return "cpu"
    if name not in DEVICES:
        raise ComposerError(f"--device {name}: unknown device (choose from {', '.join(DEVICES)})")
    found = available_devices()
    if name == "auto":
        return found[0]
    if name not in found:
        raise ComposerError(f"--device {name}: not available on this machine (available: {', '.join(found)})")
    return name
