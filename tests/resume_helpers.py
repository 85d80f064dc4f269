"""Helpers of the checkpoint/resume tests: a fit that crashes after a few resume states, and the
difference between two saved models."""
import torch

from deepwas.estimators import _resume


def crash_after(monkeypatch, n_saves):
    """Make ``Resumer.save`` raise ``RuntimeError("simulated crash")`` right after writing its
    ``n_saves``-th state (``monkeypatch``: a pytest MonkeyPatch or one of its contexts)."""
    save, count = _resume.Resumer.save, [0]

    def crashing(self, state):
        save(self, state)
        count[0] += 1
        if count[0] == n_saves:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(_resume.Resumer, "save", crashing)


def model_diff(dir_a, dir_b):
    """Largest absolute difference between the tensors of two ``model.pt`` files."""
    a = torch.load(dir_a / "model.pt", weights_only=True)
    b = torch.load(dir_b / "model.pt", weights_only=True)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in b)
