"""The contract of a built model (`Encoder`), and the padding mask the encoders share.

`bench.models` re-exports both, imported on first use, so that listing models imports no torch.
"""

import torch
from torch import nn


class Encoder(nn.Module):
    """The contract of a built model, for the tasks' heads and the diagnostics.

    output_size: features per step of its outputs [B, T, output_size]; bidirectional: whether a backward
    direction fills the second half of them (a head then reads that half at t = 0).
    forward(x [B, T, F], lengths [B] or None, state or None) -> (outputs [B, T, output_size], final state)."""

    output_size: int
    bidirectional = False

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """'ih' (input-to-hidden) and 'hh' (hidden-to-hidden) weights, for the gradient norms per group; a
        model that declares none gets no group norms in its record (not zeros)."""
        return {}


def valid_steps(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """[B, T, 1] True where a step of x [B, T, F] is inside its sequence; None when every step is."""
    if lengths is None:
        return None
    return (torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None]).unsqueeze(-1)
