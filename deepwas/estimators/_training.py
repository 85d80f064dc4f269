"""skorch wiring: gradient accumulation, warm-up, callbacks and seeding (which windows train
and in what order: :mod:`._window_sampling`; which process trains them:
:mod:`deepwas.fitting._sharding`; when training ends: :mod:`._stopping`)."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from skorch.utils import TeeGenerator

from ..distributed import SINGLE
from ..fitting._sharding import Sharding, StepReducer, balance
from ..utils.chrom import normalise_chrom
from ._resume import AtomicCheckpoint, capture, restore_callbacks
from ._stopping import TrainingPlateau, capped_warmup, planned_epochs, resolve_accumulate
from ._window_module import WindowModule
from ._window_sampling import (ContiguousSampler, PrefetchingSampler, WindowDataset,
                               collate_window, contiguous_groups)

__all__ = ["WindowNet", "build_net", "seeded_torch", "seed_generators", "warmup_factor",
           "NO_DECAY"]

#: parameters trained without weight decay: intercepts, biases and alpha are not shrunk to 0
NO_DECAY = [("*intercept", {"weight_decay": 0.0}), ("*alpha", {"weight_decay": 0.0}),
            ("*bias", {"weight_decay": 0.0})]


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
    (recorded in the batch history, by the process that trained it).

    Each window's gradient goes into a float64 sum (:class:`~._sharding.StepReducer`), and
    the ``t``-th training window of the fit seeds torch's generators from ``(seed, t)``
    (dropout, the iterative solver's probes), so that a step's gradient does not depend on the
    order of its windows nor on the process that evaluates them. With a ``group`` of several
    processes (torchrun) every process walks through every window of the epoch's order; the
    sampler's owner of a window evaluates it, the others record a placeholder, and at the end
    of the step the gradient, the losses and the prior evaluations are summed over the
    processes (one all-reduce) before the same optimizer step everywhere. Validation windows
    are divided by ``valid_owner`` and their losses summed at the end of the epoch, before the
    callbacks score it. Batches record their ``window`` and the ``rank`` that evaluated it;
    each epoch ``rank_windows``.
    """

    #: keys of the solver's per-window info copied into the batch history
    DIAGNOSTIC_KEYS = ("linalg", "cg_iterations", "cg_residual", "logdet_stderr", "lanczos_steps",
                       "probe_cg_iterations", "fallback")

    def __init__(self, *args, accumulate=12, warmup_steps=0, window_loss=None, resumer=None,
                 group=SINGLE, seed=0, valid_owner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.accumulate = accumulate
        self.warmup_steps = warmup_steps
        self.window_loss = window_loss
        self.resumer = resumer
        self.group, self.seed, self.valid_owner = group, seed, valid_owner or {}
        self.reducer = StepReducer(group)

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
            if self.group.is_main:      # only rank 0 writes: the others need no state
                self.resumer.save(capture(self))
        self._stepped = False

    def on_epoch_end(self, net, **kwargs):
        if self.group.distributed:     # every process scores the epoch on all windows' losses
            batches = [b for b in self.history[-1, "batches"] if "valid_loss" in b]
            summed = self.reducer.sum_values([b["valid_loss"] if b["rank"] == self.group.rank
                                              else 0.0 for b in batches])
            for b, v in zip(batches, summed):
                b["valid_loss"] = float(v)
        super().on_epoch_end(net, **kwargs)
        ranks = [[] for _ in range(self.group.world_size)]
        for b in self.history[-1, "batches"]:
            if "train_loss" in b and "rank" in b:
                ranks[b["rank"]].append(b["window"])
        self.history.record("rank_windows", ranks)
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

    def _seed_window(self, t):
        """Seed torch's generators for the ``t``-th training window of the fit (dropout): a
        window draws the same masks whichever process trains it. The objective's step counter
        (the iterative solver's probe seed) is set to ``t`` too."""
        seed_generators(int(np.random.SeedSequence([int(self.seed), int(t)]).generate_state(
            1, np.uint64)[0] >> np.uint64(1)), self.device)
        if hasattr(self.window_loss, "step"):
            self.window_loss.step = int(t)

    def validation_step(self, batch, **fit_params):
        k = int(batch[0].reshape(-1)[0])
        owner = self.valid_owner.get(k, 0)
        self.history.record_batch("window", k)
        self.history.record_batch("rank", owner)
        if owner != self.group.rank:     # its loss arrives at the end of the epoch
            return {"loss": torch.tensor(float("nan")), "y_pred": torch.zeros(0)}
        return super().validation_step(batch, **fit_params)

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
                    self.history.record_batch(key, value if isinstance(value, str)
                                              else float(value))
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        if not hasattr(self, "_acc_count"):
            self._acc_count, self._seen, self._n_train, self._stepped = 0, 0, None, False
        if self._acc_count == 0:
            self._step_lr = self._set_step_lr()
        self.history.record_batch("event_lr", self._step_lr)
        sampler = self.iterator_train__sampler
        k = int(batch[0].reshape(-1)[0])
        owner = sampler.owner(k)
        self.history.record_batch("window", k)
        self.history.record_batch("rank", owner)
        group = getattr(sampler, "group_of", {}).get(k)
        t = getattr(self, "windows_seen_", 0)
        if group is not None and self._acc_count == 0:   # one group per step (contiguous)
            mine = [w for w in group if sampler.owner(w) == self.group.rank]
            n = 0
            if mine:
                self._seed_window(t)
                n = self.module_.begin_group(mine, self.device)
            self.history.record_batch("prior_evaluations", n)
        elif group is not None:
            self.history.record_batch("prior_evaluations", 0)
        if owner == self.group.rank:
            if group is None:
                self._seed_window(t)
            elif hasattr(self.window_loss, "step"):
                self.window_loss.step = int(t)
            step = self.train_step_single(batch, **fit_params)
            if group is None:
                self.reducer.add(self._learnable())
        else:                            # its loss arrives with the step's gradient
            if group is None:
                self.history.record_batch("prior_evaluations", 0)
            step = {"loss": torch.tensor(float("nan")), "y_pred": torch.zeros(0)}
        self.windows_seen_ = t + 1
        self._acc_count += 1
        self._seen += 1
        last = self._n_train is not None and self._seen >= self._n_train
        ends = (k == group[-1] or last) if group is not None \
            else (self._acc_count >= self.accumulate or last)
        if ends:
            if group is not None and self.module_.shared is not None:
                self.history.record_batch(
                    "prior_evaluations", self.history[-1, "batches", -1, "prior_evaluations"]
                    + self.module_.end_group())
                self.reducer.add(self._learnable())
            step = self._reduce_step(step)
            self.notify("on_grad_computed",
                        named_parameters=TeeGenerator(self.get_all_learnable_params()),
                        batch=batch, training=True)
            for name in self._optimizers:
                getattr(self, name + "_").step()
                getattr(self, name + "_").zero_grad(set_to_none=True)
            self._acc_count, self._stepped = 0, True
            self.n_optimizer_steps_ = getattr(self, "n_optimizer_steps_", 0) + 1
        return step

    def _learnable(self):
        return [p for _, p in self.get_all_learnable_params()]

    def _reduce_step(self, step):
        """Put the step's gradient, summed over its windows and processes, in ``.grad``; fill
        in the losses and prior evaluations of the windows other processes trained."""
        if not self.group.distributed:
            self.reducer.finish(self._learnable())
            return step
        n = self._acc_count
        batches = self.history[-1, "batches"][-n:]
        mine = [b["rank"] == self.group.rank for b in batches]
        losses = [b.get("train_loss", 0.0) for b in batches[:-1]] + [float(step["loss"].detach())]
        values = [v if m else 0.0 for v, m in zip(losses, mine)] + \
            [float(b.get("prior_evaluations", 0)) for b in batches]
        summed = self.reducer.finish(self._learnable(), values)
        for b, v, e in zip(batches, summed[:n], summed[n:]):
            b["train_loss"], b["prior_evaluations"] = float(v), int(round(e))
        batches[-1].pop("train_loss", None)    # skorch records the returned loss
        return dict(step, loss=torch.tensor(float(summed[n - 1])))


def build_net(est, prior, window_loss, train_ids, valid_ids, lr, seed, device, checkpoint,
              chunk_size=None, resumer=None, group=SINGLE, costs=None, patience=None):
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
    group : ProcessGroup
        The processes training together (:mod:`deepwas.distributed`); only rank 0 prints
        and writes files.
    costs : dict or None
        Window index -> cost (:func:`~._sharding.window_costs`), for dividing each step's
        windows among the processes; needed when ``group`` has several.
    patience : int or None
        Early-stopping patience in epochs (``patience`` resolved), None for none.

    Returns
    -------
    net : WindowNet
    accumulate : int
        Windows per optimizer step (:func:`resolve_accumulate`).
    warmup : int
        Warm-up steps used (:func:`capped_warmup`).
    epochs : int
        Epochs planned (:func:`planned_epochs`).
    """
    from skorch.callbacks import EarlyStopping, GradientNormClipping, ProgressBar
    from skorch.helper import predefined_split

    n_train = len(train_ids)
    acc = resolve_accumulate(est.accumulate, n_train)
    epochs = planned_epochs(est, n_train, acc,
                            early_stopping=bool(len(valid_ids)) and patience is not None)
    per_epoch = -(-n_train // acc)
    warm = capped_warmup(est.warmup_steps, per_epoch, per_epoch * epochs)
    callbacks = [("plateau", TrainingPlateau(float(est.tol), int(est.n_iter_no_change),
                                             int(est.min_steps)))]
    if est.grad_clip is not None:
        callbacks.append(("clip", GradientNormClipping(gradient_clip_value=float(est.grad_clip))))
    if checkpoint is not None and group.is_main:
        monitor = "valid_loss_best" if len(valid_ids) else "train_loss_best"
        callbacks.append(("checkpoint", AtomicCheckpoint(
            monitor=monitor, dirname=checkpoint, f_optimizer=None, f_criterion=None,
            f_history=None)))
    if len(valid_ids) and patience is not None:
        # threshold_mode="rel" misjudges improvement when the loss is negative (our -gain
        # usually is): an absolute threshold of 0 means "any decrease"
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=int(patience), threshold=0.0,
            threshold_mode="abs")))
    verbose = int(est.verbose) if group.is_main else 0
    if verbose:
        callbacks.append(("progress", ProgressBar()))
    gen = torch.Generator().manual_seed(seed)
    contiguous = getattr(est, "window_order", "shuffled") == "contiguous"
    # thinned cores of one LD block share the block as their extended set: shuffled steps
    # take accumulate cores of one block, so that the prior runs once a step, not once a core
    units = np.asarray(window_loss.stats.window_units)[train_ids]
    by_unit = not contiguous and len(np.unique(units)) < len(units)
    sharding = Sharding(group, costs, contiguous or by_unit) if group.distributed else None
    if contiguous or by_unit:
        labels = units if by_unit else normalise_chrom(
            np.asarray(window_loss.stats.groups)[train_ids].astype(str))
        sampler = ContiguousSampler(train_ids, contiguous_groups(train_ids, labels, acc), gen,
                                    window_loss.prefetch, device, sharding=sharding)
    else:
        sampler = PrefetchingSampler(train_ids, gen, window_loss.prefetch, device,
                                     accumulate=acc, sharding=sharding)
    valid_owner = {}
    if group.distributed and len(valid_ids):
        owners = balance([costs[int(k)] for k in valid_ids], group.world_size)
        valid_owner = {int(k): int(r) for k, r in zip(valid_ids, owners)}
    net = WindowNet(
        module=WindowModule(prior, chunk_size, getattr(est, "mixed_precision", None)),
        criterion=torch.nn.Identity,
        optimizer=torch.optim.AdamW, lr=lr,
        optimizer__weight_decay=float(est.weight_decay), optimizer__param_groups=NO_DECAY,
        max_epochs=epochs, batch_size=1,
        iterator_train__collate_fn=collate_window,
        iterator_train__sampler=sampler,
        iterator_valid__collate_fn=collate_window,
        train_split=predefined_split(WindowDataset(valid_ids)) if len(valid_ids) else None,
        callbacks=callbacks, device=str(device), verbose=verbose,
        accumulate=acc, warmup_steps=warm, window_loss=window_loss, resumer=resumer,
        group=group, seed=seed, valid_owner=valid_owner)
    return net, acc, warm, epochs


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
        seed_generators(seed, device)
        yield


def seed_generators(seed, device):
    """Seed torch's CPU generator and, for a CUDA ``device``, that device's (the current one
    when it has no index) -- not every GPU's, as ``torch.manual_seed`` would."""
    device = torch.device(device)
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
