"""A small causal Transformer, the reference row beside the recurrent models: pre-norm blocks of rotary
self-attention (torch's scaled_dot_product_attention) and a GELU MLP, sized by hidden_size and num_layers.

It is not recurrent: it carries no state between batches, so a language model sees `--bptt` tokens of context;
attention is causal, so right padding never reaches a valid step.

run: python -c "import torch; from bench import models; m = models.build('transformer', 4, 64); print(m(torch.randn(2, 5, 4))[0].shape)"
"""

import torch
from torch import nn
from torch.nn import functional as F

from bench.models.encoder import Encoder

HEAD_SIZE = 32  # heads of about 32 features: the most heads, at most hidden_size // 32, that divide it


def rotary(q: torch.Tensor) -> torch.Tensor:
    """Rotary positions (Su et al. 2021) on q or k [B, heads, T, D]: pairs of features turned by angle t * f."""
    t, d = q.shape[-2], q.shape[-1] // 2
    freqs = 10000 ** (-torch.arange(d, device=q.device, dtype=torch.float32) / d)
    angle = torch.arange(t, device=q.device, dtype=torch.float32)[:, None] * freqs  # [T, D/2]
    cos, sin = angle.cos().to(q.dtype), angle.sin().to(q.dtype)
    q1, q2, rest = (
        q[..., :d],
        q[..., d : 2 * d],
        q[..., 2 * d :],
    )  # an odd head size leaves one feature as it is
    return torch.cat([q1 * cos - q2 * sin, q1 * sin + q2 * cos, rest], dim=-1)


class Block(nn.Module):
    def __init__(self, size: int, dropout: float):
        super().__init__()
        self.heads = max(h for h in range(1, max(1, size // HEAD_SIZE) + 1) if size % h == 0)
        self.norm1, self.norm2 = nn.LayerNorm(size), nn.LayerNorm(size)
        self.qkv, self.proj = nn.Linear(size, 3 * size), nn.Linear(size, size)
        self.mlp = nn.Sequential(nn.Linear(size, 4 * size), nn.GELU(), nn.Linear(4 * size, size))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(rotary(q), rotary(k), v, is_causal=True)  # [B, heads, T, D]
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, t, h)))
        return x + self.drop(self.mlp(self.norm2(x)))


class Transformer(Encoder):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.output_size = hidden_size
        self.proj = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(Block(hidden_size, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_size)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"ih": [self.proj.weight], "hh": [b.qkv.weight for b in self.blocks]}  # mixing across time

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        # x: [B, T, F]; no state is carried (the context is the batch's T steps)
        h = self.proj(x)
        for block in self.blocks:
            h = block(h)
        return self.norm(h), None  # [B, T, H]
