import pytest
import torch

from bench import models
from bench.base.errors import BenchError
from bench.models.recurrent import final_features

# each model, and each with a backward direction where it takes that option (read from its spec, not its name)
DIRECTIONS = [
    (name, bi)
    for name in models.names()
    for bi in (False, True)
    if not bi or "bidirectional" in models.spec(name).options
]
FUSED = [(name, bi) for name, bi in DIRECTIONS if models.spec(name).cell is not None]


@pytest.mark.parametrize(("name", "bidirectional"), FUSED)
def test_shapes_padding_and_final_state(name, bidirectional):
    torch.manual_seed(0)
    enc = models.build(name, input_size=5, hidden_size=7, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 4])
    out, state = enc(x, lengths)
    dirs = 2 if bidirectional else 1
    assert out.shape == (3, 6, 7 * dirs)
    assert torch.all(out[1, 2:] == 0) and torch.all(out[2, 4:] == 0)  # padding never enters the recurrence
    h = state[0] if isinstance(state, tuple) else state  # (h, c) for an LSTM
    assert h.shape == (2 * dirs, 3, 7)
    # the packed final state of the top forward layer is the output at each sequence's last valid step
    feats = final_features(out, lengths, bidirectional)
    assert feats.shape == (3, 7 * dirs)
    torch.testing.assert_close(feats[:, :7], h[-dirs])
    # a short sequence gives the same result alone as inside a padded batch
    alone, _ = enc(x[1:2, :2])
    torch.testing.assert_close(alone[0], out[1, :2])


@pytest.mark.parametrize(("name", "bidirectional"), DIRECTIONS)
def test_padding_never_changes_a_sequence_outputs(name, bidirectional):
    """The contract every model keeps: [B, T, output_size] outputs, and a padded sequence's valid steps are
    what the sequence gives alone."""
    torch.manual_seed(0)
    options = {"bidirectional": True} if bidirectional else {}
    enc = models.build(name, input_size=5, hidden_size=7, num_layers=2, **options).eval()
    x, lengths = torch.randn(3, 6, 5), torch.tensor([6, 2, 4])
    out, _ = enc(x, lengths)
    assert out.shape == (3, 6, enc.output_size) and torch.isfinite(out).all()
    torch.testing.assert_close(enc(x[1:2, :2])[0][0], out[1, :2])


@pytest.mark.parametrize(("name", "bidirectional"), DIRECTIONS)
def test_every_parameter_gets_a_gradient(name, bidirectional):
    options = {"bidirectional": True} if bidirectional else {}
    enc = models.build(name, 4, 8, num_layers=2, dropout=0.1, **options)
    out, _ = enc(torch.randn(2, 5, 4), torch.tensor([5, 3]))
    out.sum().backward()
    for pname, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


def test_init_orthogonal_forget_bias_and_scale():
    lstm = models.build("lstm", 4, 16)
    w = lstm.rnn.weight_hh_l0.detach()
    for gate in w.split(16):
        torch.testing.assert_close(gate @ gate.T, torch.eye(16), atol=1e-5, rtol=0)
    b = lstm.rnn.bias_ih_l0.detach() + lstm.rnn.bias_hh_l0.detach()
    assert torch.all(b[16:32] == 1) and torch.all(b[:16] == 0) and torch.all(b[32:] == 0)
    rnn = models.build("rnn", 4, 16, recurrent_init_scale=1.5)
    s = torch.linalg.svdvals(rnn.rnn.weight_hh_l0.detach())
    torch.testing.assert_close(s, torch.full((16,), 1.5), atol=1e-4, rtol=0)
    assert rnn.rnn.nonlinearity == "tanh"


def test_unknown_model_lists_valid_names():
    with pytest.raises(BenchError, match=rf"unknown model 'lstn'; valid: {', '.join(models.names())}$"):
        models.build("lstn", 4, 8)


def test_loading_a_checkpoint_regroups_the_fused_weights(monkeypatch):
    # Fused RNN weights can lose their single memory chunk when loaded (cuDNN then warns and copies every
    # step); the encoder regroups them after any load, also when it is a submodule of what is loaded.
    enc = models.build("lstm", input_size=3, hidden_size=4)
    enc.reset_parameters()  # a re-initialisation must not add a second hook (one regroup per load)
    calls = []
    monkeypatch.setattr(enc.rnn, "flatten_parameters", lambda: calls.append(1))
    outer = torch.nn.Sequential(enc)
    outer.load_state_dict(outer.state_dict())
    assert calls == [1]


def test_the_registry_names_every_norm_layer_the_fused_cells_build():
    """models.NORM_LAYERS (torch-free, for the config's choices) is what bench/models/recurrent.py builds."""
    from bench.models.recurrent import LAYERS

    assert list(models.NORM_LAYERS) == list(LAYERS)
