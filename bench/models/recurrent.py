"""One recurrent encoder on the fused torch modules (cuDNN on GPU, oneDNN on CPU), registered (bench/models/__init__.py) as rnn/lstm/gru.

`norm_layer` swaps in the normalized scripted cells of bench/models/normalized.py; `checkpoint_segments` trains with
gradient checkpointing over time (bench/models/segments.py).

run: python -c "import torch; from bench import models; m = models.build('gru', 8, 16); print(m(torch.zeros(2, 5, 8))[0].shape)"
"""

from contextlib import contextmanager, nullcontext
from functools import partial

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bench.models.encoder import Encoder
from bench.models.normalized import NORMS, ScriptedRecurrent
from bench.models.segments import run_segments

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@contextmanager
def onednn(enabled: bool):
    """oneDNN on or off for the CPU ops inside (off: torch's native RNN, which runs in any dtype on any CPU)."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def _fused(cell: str, *args, **kwargs) -> nn.RNNBase:
    return CELLS[cell](*args, **kwargs)


# --norm-layer: none keeps the fused cuDNN/oneDNN modules; the normalized cells run a scripted loop
LAYERS = {"none": _fused, **{name: partial(ScriptedRecurrent, norm=name) for name in NORMS}}


class RecurrentEncoder(Encoder):
    """Maps x [B, T, F] (and optional lengths [B]) to outputs [B, T, H * dirs] and the final state.

    Padded batches go through packed sequences, so padding never enters the recurrence and the final
    state of each sequence is the one at its own last valid step. `cpu_kernel` is "onednn" (the fused
    kernel) or "native" (oneDNN off for this layer: what mixed precision needs on CPUs that lack oneDNN's
    kernel for the cell; the harness probes and sets it).
    """

    cpu_kernel = "onednn"

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        recurrent_init_scale: float = 1.0,
        forget_bias: float = 1.0,
        norm_layer: str = "none",
        checkpoint_segments: int = 0,
    ):
        super().__init__()
        if checkpoint_segments > 1 and (bidirectional or norm_layer == "batch"):
            raise ValueError(
                "checkpoint_segments needs a unidirectional encoder without batch norm (the backward direction "
                "needs the whole sequence; recomputation would update batch statistics twice)"
            )
        self.checkpoint_segments = checkpoint_segments
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = LAYERS[norm_layer](
            cell,
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            **kwargs,
        )
        self.reset_parameters(recurrent_init_scale, forget_bias)
        self.register_load_state_dict_post_hook(_flatten_after_load)  # once, not per reset

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        named = list(self.rnn.named_parameters())  # nn.RNN's names, also in the scripted normalized cells
        return {
            "ih": [p for n, p in named if n.startswith("weight_ih")],
            "hh": [p for n, p in named if n.startswith("weight_hh")],
        }

    @torch.no_grad()
    def reset_parameters(self, recurrent_init_scale: float = 1.0, forget_bias: float = 1.0) -> None:
        """Orthogonal recurrent weights per gate (scaled), Xavier input weights, zero biases.

        An orthogonal hidden-to-hidden matrix has all singular values 1, so at init the linearised
        recurrence neither shrinks nor grows gradients; `recurrent_init_scale` > 1 makes it explode on
        purpose. The LSTM forget gate bias starts at `forget_bias` (Jozefowicz et al. 2015).
        """
        h = self.hidden_size
        for name, p in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                for gate in p.split(h, dim=0):  # one [H, H] block per gate
                    nn.init.orthogonal_(gate)
                p.mul_(recurrent_init_scale)
            elif name.startswith("weight_ih"):
                for gate in p.split(h, dim=0):
                    nn.init.xavier_uniform_(gate)
            elif name.startswith("bias"):
                p.zero_()
                if self.cell == "lstm" and name.startswith("bias_ih"):
                    p[h : 2 * h] = forget_bias  # gate order i, f, g, o
        self.rnn.flatten_parameters()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        # x: [B, T, F]; lengths: [B] (valid steps per sequence) or None when all are full length
        if self.checkpoint_segments > 1 and self.training and torch.is_grad_enabled():
            return run_segments(self._run, x, lengths, state, self.checkpoint_segments)
        return self._run(x, lengths, state)

    def _run(self, x: torch.Tensor, lengths: torch.Tensor | None, state):
        if not isinstance(self.rnn, nn.RNNBase):
            return self.rnn(x, lengths, state)  # the scripted loops mask padded steps themselves
        native = self.cpu_kernel == "native" and x.device.type == "cpu"
        with onednn(False) if native else nullcontext():
            return self._run_fused(x, lengths, state)

    def _run_fused(self, x: torch.Tensor, lengths: torch.Tensor | None, state):
        if lengths is None:
            out, state = self.rnn(x, state)  # [B, T, H * dirs]
            return out, state
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # [B, T, H * dirs]
        return out, state


def _flatten_after_load(encoder: "RecurrentEncoder", incompatible_keys) -> None:
    """Fused weights can lose their single memory chunk when a checkpoint is loaded: regroup them.

    A module-level function, not a lambda, so the encoder still pickles (ddp_spawn)."""
    encoder.rnn.flatten_parameters()


def final_features(out: torch.Tensor, lengths: torch.Tensor | None, bidirectional: bool) -> torch.Tensor:
    """Summary of each sequence: the top layer's output at its last valid step ([B, H * dirs]).

    For a bidirectional encoder the backward half is taken at t = 0, where that direction ends.
    """
    b, t, d = out.shape
    # lengths may live on the host (pinned, so the copy does not wait for the device)
    last = (
        torch.full((b,), t - 1, device=out.device)
        if lengths is None
        else lengths.to(out.device, non_blocking=True) - 1
    )
    fwd = out[torch.arange(b, device=out.device), last]  # [B, D]
    if not bidirectional:
        return fwd
    h = d // 2
    return torch.cat([fwd[:, :h], out[:, 0, h:]], dim=-1)  # [B, 2H]
