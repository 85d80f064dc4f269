"""skorch plumbing: one window = one item, gradient accumulation, a loss through the prior."""
from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.utils import TeeGenerator

__all__ = ["WindowDataset", "collate_window", "WindowModule", "WindowNet"]


class WindowDataset(torch.utils.data.Dataset):
    """Items are window indices (into the training SummaryStats); X and y are both the index."""

    def __init__(self, ids):
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        k = int(self.ids[i])
        return k, k


def collate_window(batch):
    """One window per batch: returns the index as a shape-(1,) tensor (X) twice (X, y)."""
    if len(batch) != 1:
        raise ValueError("windows are processed one per batch (batch_size=1)")
    t = torch.tensor([batch[0][0]], dtype=torch.int64)
    return t, t


class WindowModule(torch.nn.Module):
    """Wraps a :class:`deepwas.priors.PriorModule`: window index -> log f on its extended set.

    ``fetch`` (set during fit, not a submodule, removed afterwards) maps a window index to
    ``(func, pred, freq, n)`` tensors of the window's extended variants.
    """

    def __init__(self, prior):
        super().__init__()
        self.prior = prior
        self.fetch = None

    def forward(self, k):
        func, pred, freq, n = self.fetch(int(k.reshape(-1)[0]))
        return self.prior(func, pred, freq, n=n)


class WindowNet(NeuralNet):
    """NeuralNet with a window loss and gradient accumulation over ``accumulate`` windows.

    Follows skorch's documented gradient-accumulation pattern (override ``train_step``): the
    optimizer steps every ``accumulate`` windows and at the end of each epoch. The
    ``on_grad_computed`` event -- where :class:`skorch.callbacks.GradientNormClipping` acts --
    fires once per optimizer step on the accumulated gradient, not per window.

    ``window_loss(k, log_f_ext, training)`` returns the scalar loss of window ``k``.
    """

    #: keys of the solver's per-window info copied into the batch history
    DIAGNOSTIC_KEYS = ("linalg", "cg_iterations", "cg_residual", "logdet_stderr", "lanczos_steps",
                       "probe_cg_iterations", "fallback")

    def __init__(self, *args, accumulate=12, window_loss=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.accumulate = accumulate
        self.window_loss = window_loss
        self.diagnostics = None  # set by the estimator: {"last": info dict of the last window}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.window_loss(int(X.reshape(-1)[0]), y_pred, training)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self._acc_count = 0
        self._n_train = len(dataset_train) if dataset_train is not None else None
        self._seen = 0

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        (loss / self.accumulate).backward()
        info = (self.diagnostics or {}).get("last")
        if info:
            for key in self.DIAGNOSTIC_KEYS:
                if key in info:
                    value = info[key]
                    self.history.record_batch(key, value if isinstance(value, str) else float(value))
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        if not hasattr(self, "_acc_count"):
            self._acc_count, self._seen, self._n_train = 0, 0, None
        step = self.train_step_single(batch, **fit_params)
        self._acc_count += 1
        self._seen += 1
        last = self._n_train is not None and self._seen >= self._n_train
        if self._acc_count >= self.accumulate or last:
            self.notify("on_grad_computed",
                        named_parameters=TeeGenerator(self.get_all_learnable_params()),
                        batch=batch, training=True)
            for name in self._optimizers:
                getattr(self, name + "_").step()
                getattr(self, name + "_").zero_grad(set_to_none=True)
            self._acc_count = 0
            self.n_optimizer_steps_ = getattr(self, "n_optimizer_steps_", 0) + 1
        return step
