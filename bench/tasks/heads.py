"""The torch layers the tasks put around the encoder: input layers and heads, in one module so that a task's
own module imports no torch and is listed and described without it (bench/tasks/__init__.py).

run: python -c "from bench.tasks.heads import StepHead; print(StepHead(8, 10))"
"""

import torch
from torch import nn

from bench.models.recurrent import final_features


class ClassifierHead(nn.Module):
    """Logits [B, C] from each sequence's final recurrent output."""

    def __init__(self, size: int, num_classes: int, bidirectional: bool, dropout: float = 0.0):
        super().__init__()
        self.bidirectional = bidirectional
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(size, num_classes)

    def forward(self, out, lengths):
        return self.fc(self.drop(final_features(out, lengths, self.bidirectional)))  # [B, C]


class LastValueNorm(nn.Module):
    """Each window minus its own last value; `restore`, the task's output step, adds it back to the forecast.

    The model then learns changes from the forecast origin rather than levels, so a level unseen in training
    does not pull its forecast (ETT's test months are colder than the training year). This is NLinear's
    normalization (Zeng et al. 2023), a special case of RevIN; errors, hence metrics, are unaffected by it.
    """

    def __init__(self, hist_out: list[int]):
        super().__init__()
        self.hist_out = hist_out  # the input column of each output column

    def forward(self, x):
        return x - x[:, -1:]  # [B, L, F]

    def restore(self, pred, x):
        return pred + x[:, -1:, self.hist_out]  # [B, H, F_out]


class ForecastHead(nn.Module):
    """Direct multi-horizon head: all H steps of every output column from the final recurrent output."""

    def __init__(self, size: int, horizon: int, out_size: int, bidirectional: bool, dropout: float = 0.0):
        super().__init__()
        self.horizon, self.out_size, self.bidirectional = horizon, out_size, bidirectional
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(size, horizon * out_size)

    def forward(self, out, lengths):
        z = self.drop(final_features(out, lengths, self.bidirectional))  # [B, D]
        return self.fc(z).view(-1, self.horizon, self.out_size)  # [B, H, F_out]


class Embed(nn.Module):
    """Token ids [B, T] -> embeddings [B, T, E], with dropout (as in pytorch/examples word_language_model)."""

    def __init__(self, vocab_size: int, size: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, size)
        # Small uniform init (pytorch/examples): N(0, 1) rows, once tied to the head, give huge initial logits.
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.embed(x))  # [B, T, E]


class LMHead(nn.Module):
    """Next-token logits [B, T, V] from every recurrent output; optionally shares the embedding's weight."""

    def __init__(self, size: int, vocab_size: int, dropout: float, tie: nn.Embedding | None = None):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(size, vocab_size)
        if tie is not None:
            self.fc.weight = tie.weight  # weight tying (Press & Wolf 2017; Inan et al. 2017)

    def forward(self, out: torch.Tensor, lengths=None) -> torch.Tensor:
        return self.fc(self.drop(out))  # [B, T, V]


class AddingHead(nn.Module):
    """A regression from the final state: [B, T, H] -> [B]."""

    def __init__(self, encoder):
        super().__init__()
        self.bidirectional = encoder.bidirectional
        self.fc = nn.Linear(encoder.output_size, 1)

    def forward(self, out, lengths):
        return self.fc(final_features(out, lengths, self.bidirectional)).squeeze(-1)  # [B]


class StepHead(nn.Module):
    """Logits at every step: [B, T, H] -> [B, T, C]."""

    def __init__(self, size: int, classes: int):
        super().__init__()
        self.fc = nn.Linear(size, classes)

    def forward(self, out, lengths):
        return self.fc(out)
