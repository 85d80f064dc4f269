"""skorch wiring: gradient accumulation, warm-up, callbacks and seeding (which windows train
and in what order: :mod:`._window_sampling`)."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import TeeGenerator

from ..utils.chrom import normalise_chrom
from ._chunking import SharedEvaluation, chunked_backward, chunked_forward
from ._resume import capture, restore_callbacks
from ._window_sampling import (ContiguousSampler, PrefetchingSampler, WindowDataset,
                               collate_window, contiguous_groups)

__all__ = ["WindowModule", "WindowNet", "build_net", "seeded_torch", "warmup_factor",
           "planned_epochs", "TrainingPlateau", "NO_DECAY"]

#: parameters trained without weight decay: intercepts, biases and alpha are not shrunk to 0
NO_DECAY = [("*intercept", {"weight_decay": 0.0}), ("*alpha", {"weight_decay": 0.0}),
            ("*bias", {"weight_decay": 0.0})]


class WindowModule(torch.nn.Module):
    """Wraps a :class:`deepwas.priors.PriorModule`: window index -> log f on its extended set.

    ``fetch`` (set during fit, not a submodule, removed afterwards) is a
    :class:`~._features.WindowFeatures`: ``fetch(k)`` gives ``(func, pred, freq, n)`` of
    window ``k``'s extended variants, ``fetch.chunk(k, lo, hi)`` those of variants ``lo:hi``.
    With ``chunk_size`` (an int), windows of more variants are evaluated that many at a time
    (:mod:`._chunking`): without a graph here, with bounded graphs in :meth:`backward_window`.
    """

    def __init__(self, prior, chunk_size=None):
        super().__init__()
        self.prior = prior
        self.chunk_size = chunk_size
        self.fetch = None
        self.shared = None      # SharedEvaluation of the group being trained (contiguous)
        self._rows = None

    def begin_group(self, ks, device):
        """Evaluate the prior once on the union of windows ``ks``' extended sets; returns the
        number of variants evaluated."""
        n, self._rows, fetch_chunk = self.fetch.union(ks)
        self.shared = SharedEvaluation(self.prior, fetch_chunk, n, self.chunk_size, device)
        return n

    def shared_log_f(self, k):
        """Window ``k``'s log f, a slice of the shared evaluation (gradients reach it)."""
        return self.shared.log_f[self._rows[int(k)]]

    def end_group(self):
        """Back-propagate the group's summed gradient through the prior; returns the variants
        evaluated again (chunks replayed with a graph)."""
        shared, self.shared, self._rows = self.shared, None, None
        before = shared.evaluations
        shared.backward()
        return shared.evaluations - before

    def chunks(self, k):
        """Whether window ``k`` is evaluated in chunks."""
        return self.chunk_size is not None and self.fetch.size(k) > self.chunk_size

    def forward(self, k):
        k = int(k.reshape(-1)[0])
        if self.chunks(k) and not torch.is_grad_enabled():
            return chunked_forward(self.prior, lambda lo, hi: self.fetch.chunk(k, lo, hi),
                                   self.fetch.size(k), self.chunk_size)
        func, pred, freq, n = self.fetch(k)
        return self.prior(func, pred, freq, n=n)

    def backward_window(self, k, loss_fn, scale, device):
        """:func:`~._chunking.chunked_backward` of window ``k``: ``(loss, log_f)``."""
        return chunked_backward(self.prior, lambda lo, hi: self.fetch.chunk(k, lo, hi),
                                self.fetch.size(k), self.chunk_size, loss_fn, scale, device)


def warmup_factor(step, warmup_steps):
    """Learning-rate multiplier of optimizer step ``step`` (0-based): linear up to 1."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


class WindowNet(NeuralNet):
    """NeuralNet with a window loss, gradient accumulation and a linear warm-up.

    Follows skorch's documented gradient-accumulation pattern (override ``train_step``): the
    optimizer steps every ``accumulate`` windows and after the last window of each epoch. The
    ``on_grad_computed`` event -- where :class:`skorch.callbacks.GradientNormClipping` acts --
    fires once per optimizer step on the accumulated gradient, not per window. The learning
    rate of optimizer step ``t`` is ``lr * warmup_factor(t, warmup_steps)``, counted in
    optimizer steps across epochs; each window records the rate of the step it contributes to
    (``event_lr`` in the batch history).

    With a :class:`ContiguousSampler` (``window_order="contiguous"``) the optimizer steps at
    the end of each group of consecutive windows instead: the group's first window evaluates
    the prior on the union of the group's extended sets (:meth:`WindowModule.begin_group`),
    each window's loss is taken on its slice, and the last one back-propagates the summed
    gradient through the prior once (:meth:`WindowModule.end_group`). Each batch records the
    variants it passed through the prior (``prior_evaluations``); each epoch their sum.

    ``window_loss(k, log_f_ext, training)`` returns the scalar loss of window ``k``; its
    ``last_info`` attribute, when present, holds solver diagnostics of the last training window
    (recorded in the batch history).
    """

    #: keys of the solver's per-window info copied into the batch history
    DIAGNOSTIC_KEYS = ("linalg", "cg_iterations", "cg_residual", "logdet_stderr", "lanczos_steps",
                       "probe_cg_iterations", "fallback")

    def __init__(self, *args, accumulate=12, warmup_steps=0, window_loss=None, resumer=None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.accumulate = accumulate
        self.warmup_steps = warmup_steps
        self.window_loss = window_loss
        self.resumer = resumer

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.window_loss(int(X.reshape(-1)[0]), y_pred, training)

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        pending = getattr(self, "_resume_pending", None)
        if method_name == "on_train_begin" and pending is not None:
            restore_callbacks(self, pending["callbacks"])   # on_train_begin reset them

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        pending, self._resume_pending = getattr(self, "_resume_pending", None), None
        if pending is None:     # a resumed epoch continues the history's last one
            super().on_epoch_begin(net, dataset_train=dataset_train,
                                   dataset_valid=dataset_valid, **kwargs)
        self._resumed_epoch = pending is not None
        self._acc_count, self._stepped = 0, False
        self._n_train = len(dataset_train) if dataset_train is not None else None
        self._seen = 0 if pending is None else pending["seen"]

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training and self._stepped and self.resumer is not None \
                and self.n_optimizer_steps_ % self.resumer.every == 0:
            self.resumer.save(capture(self))
        self._stepped = False

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        self.history.record("prior_evaluations", int(sum(
            b.get("prior_evaluations", 0) for b in self.history[-1, "batches"])))
        if getattr(self, "_resumed_epoch", False):   # count the windows done before, too
            self.history.record("train_batch_count", sum(
                "train_loss" in b for b in self.history[-1, "batches"]))

    def _set_step_lr(self):
        """Set every parameter group's rate for the optimizer step now accumulating."""
        factor = warmup_factor(getattr(self, "n_optimizer_steps_", 0), self.warmup_steps)
        for name in self._optimizers:
            for group in getattr(self, name + "_").param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * factor
        return factor * self.lr

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        k = int(Xi.reshape(-1)[0])
        if self.module_.shared is not None:
            y_pred = self.module_.shared_log_f(k)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            (loss / self.accumulate).backward()
            y_pred = y_pred.detach()
        elif self.module_.chunks(k):
            self.history.record_batch("prior_evaluations", 2 * self.module_.fetch.size(k))
            loss, y_pred = self.module_.backward_window(
                k, lambda log_f: self.get_loss(log_f, yi, X=Xi, training=True),
                1.0 / self.accumulate, self.device)
        else:
            self.history.record_batch("prior_evaluations", self.module_.fetch.size(k))
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            (loss / self.accumulate).backward()
        info = getattr(self.window_loss, "last_info", None)
        if info:
            for key in self.DIAGNOSTIC_KEYS:
                if key in info:
                    value = info[key]
                    self.history.record_batch(key, value if isinstance(value, str) else float(value))
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        if not hasattr(self, "_acc_count"):
            self._acc_count, self._seen, self._n_train, self._stepped = 0, 0, None, False
        if self._acc_count == 0:
            self._step_lr = self._set_step_lr()
        self.history.record_batch("event_lr", self._step_lr)
        sampler = getattr(self, "iterator_train__sampler", None)
        group = getattr(sampler, "group_of", {}).get(int(batch[0].reshape(-1)[0]))
        if group is not None:          # window_order="contiguous": one group per step
            k = int(batch[0].reshape(-1)[0])
            if k == group[0] or self.module_.shared is None:
                n = self.module_.begin_group(group, self.device)
                self.history.record_batch("prior_evaluations", n)
            else:
                self.history.record_batch("prior_evaluations", 0)
        step = self.train_step_single(batch, **fit_params)
        self._acc_count += 1
        self._seen += 1
        last = self._n_train is not None and self._seen >= self._n_train
        if group is not None:
            ends = k == group[-1] or last
            if ends:
                replayed = self.module_.end_group()
                if replayed:
                    self.history.record_batch(
                        "prior_evaluations", self.history[-1, "batches", -1, "prior_evaluations"]
                        + replayed)
        else:
            ends = self._acc_count >= self.accumulate or last
        if ends:
            self.notify("on_grad_computed",
                        named_parameters=TeeGenerator(self.get_all_learnable_params()),
                        batch=batch, training=True)
            for name in self._optimizers:
                getattr(self, name + "_").step()
                getattr(self, name + "_").zero_grad(set_to_none=True)
            self._acc_count, self._stepped = 0, True
            self.n_optimizer_steps_ = getattr(self, "n_optimizer_steps_", 0) + 1
        return step


class TrainingPlateau(Callback):
    """Stop AdamW training once the epoch's training loss has not fallen by ``tol`` for
    ``n_iter_no_change`` epochs and at least ``min_steps`` optimizer steps were taken.

    ``stopped_`` tells whether it ended training; ``still_falling_`` whether, at the end, the
    best loss of the last ``n_iter_no_change`` epochs beat the best before them by more than
    ``tol`` (a fit cut short by ``max_epochs``; also True after a single epoch, when no trend
    can be seen).
    """

    def __init__(self, tol, n_iter_no_change, min_steps):
        self.tol, self.n_iter_no_change, self.min_steps = tol, n_iter_no_change, min_steps

    def initialize(self):
        self.losses_, self.stopped_ = [], False
        return self

    @property
    def still_falling_(self):
        k = min(self.n_iter_no_change, len(self.losses_) - 1)
        if k <= 0:
            return True
        return min(self.losses_[-k:]) < min(self.losses_[:-k]) - self.tol

    def on_epoch_end(self, net, **kwargs):
        self.losses_.append(float(net.history[-1, "train_loss"]))
        plateau = (len(self.losses_) > self.n_iter_no_change and not self.still_falling_)
        if plateau and getattr(net, "n_optimizer_steps_", 0) >= self.min_steps:
            self.stopped_ = True
            raise KeyboardInterrupt   # skorch's way to end fit early (as EarlyStopping does)


def planned_epochs(est, n_train):
    """AdamW epochs: ``max_epochs``, or for "auto" enough for ``min_steps`` optimizer steps
    (at least 10, at most 1,000)."""
    if est.max_epochs != "auto":
        return int(est.max_epochs)
    per_epoch = -(-n_train // int(est.accumulate))
    return int(min(1000, max(10, -(-int(est.min_steps) // per_epoch))))


def build_net(est, prior, window_loss, train_ids, valid_ids, lr, seed, device, checkpoint,
              chunk_size=None, resumer=None):
    """The skorch net of one fit, with its callbacks.

    Parameters
    ----------
    est : FunctionalPrior
        Supplies the training settings (``accumulate``, ``max_epochs``, ``warmup_steps``,
        ``grad_clip``, ``patience``, ``weight_decay``, ``verbose``).
    checkpoint : str or None
        Folder of this fit's best parameters (skorch ``Checkpoint``), or None for none.
    chunk_size : int or None
        Variants per prior evaluation (:class:`WindowModule`), resolved.
    resumer : Resumer or None
        Writes the resume state every ``resumer.every`` optimizer steps (:mod:`._resume`).

    Returns
    -------
    net : WindowNet
    warmup : int
        Warm-up steps used: ``warmup_steps`` capped at half of the planned optimizer steps, so
        a small data set is not trained entirely at a fraction of the learning rate.
    epochs : int
        Epochs planned (:func:`planned_epochs`).
    """
    from skorch.callbacks import Checkpoint, EarlyStopping, GradientNormClipping, ProgressBar
    from skorch.helper import predefined_split

    acc = int(est.accumulate)
    n_train = len(train_ids)
    epochs = planned_epochs(est, n_train)
    planned = -(-n_train // acc) * epochs
    warm = min(int(est.warmup_steps), planned // 2)
    callbacks = [("plateau", TrainingPlateau(float(est.tol), int(est.n_iter_no_change),
                                             int(est.min_steps)))]
    if est.grad_clip is not None:
        callbacks.append(("clip", GradientNormClipping(gradient_clip_value=float(est.grad_clip))))
    if checkpoint is not None:
        monitor = "valid_loss_best" if len(valid_ids) else "train_loss_best"
        callbacks.append(("checkpoint", Checkpoint(monitor=monitor, dirname=checkpoint,
                                                   f_optimizer=None, f_criterion=None,
                                                   f_history=None)))
    if len(valid_ids) and est.patience is not None:
        # threshold_mode="rel" misjudges improvement when the loss is negative (our -gain
        # usually is): an absolute threshold of 0 means "any decrease"
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=int(est.patience), threshold=0.0,
            threshold_mode="abs")))
    if est.verbose:
        callbacks.append(("progress", ProgressBar()))
    gen = torch.Generator().manual_seed(seed)
    if getattr(est, "window_order", "shuffled") == "contiguous":
        chroms = normalise_chrom(np.asarray(window_loss.stats.groups)[train_ids].astype(str))
        sampler = ContiguousSampler(train_ids, contiguous_groups(train_ids, chroms, acc), gen,
                                    window_loss.prefetch, device)
    else:
        sampler = PrefetchingSampler(train_ids, gen, window_loss.prefetch, device)
    net = WindowNet(
        module=WindowModule(prior, chunk_size), criterion=torch.nn.Identity,
        optimizer=torch.optim.AdamW, lr=lr,
        optimizer__weight_decay=float(est.weight_decay), optimizer__param_groups=NO_DECAY,
        max_epochs=epochs, batch_size=1,
        iterator_train__collate_fn=collate_window,
        iterator_train__sampler=sampler,
        iterator_valid__collate_fn=collate_window,
        train_split=predefined_split(WindowDataset(valid_ids)) if len(valid_ids) else None,
        callbacks=callbacks, device=str(device), verbose=int(est.verbose),
        accumulate=acc, warmup_steps=warm, window_loss=window_loss, resumer=resumer)
    return net, warm, epochs


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch's generator for ``device`` inside the block and restore it afterwards.

    Only the generator that is forked is seeded: seeding every CUDA device
    (``torch.manual_seed``) while restoring none would change the caller's GPU random stream.
    """
    device = torch.device(device)
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for d in devices:
            with torch.cuda.device(d):
                torch.cuda.manual_seed(seed)
        yield
