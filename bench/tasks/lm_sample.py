"""Sampling from a language model: the core of `bench generate` and of the sample in every lm record.

It lives beside the task, below the harness, so the task needs nothing from bench's upper layer.

run: python -m bench generate runs/lm-tiny-shakespeare-lstm-<hash>.json --prompt "ROMEO:" --length 300
"""

import torch


@torch.no_grad()
def sample(
    module, ids: list[int], length: int, temperature: float = 0.8, seed: int | None = None
) -> list[int]:
    """`length` token ids continuing `ids`, one at a time from softmax(logits / temperature); 0 is greedy.

    The prompt runs through the model once; after that each step feeds one token and the carried state.
    A private generator keeps the global random state untouched; a seed makes the result reproducible.
    """
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    logits, state = module(torch.tensor([ids], device=device))  # [1, T, V]
    out = []
    for _ in range(length):
        last = logits[0, -1].float().cpu()  # [V]
        scaled = last / temperature if temperature else last
        if temperature == 0 or not torch.isfinite(scaled).all():  # so cold it overflows: the limit is greedy
            token = int(last.argmax())
        else:
            token = int(torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=gen))
        out.append(token)
        logits, state = module(torch.tensor([[token]], device=device), None, state)  # [1, 1, V]
    module.train(was_training)
    return out
