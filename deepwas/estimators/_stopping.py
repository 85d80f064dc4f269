"""The AdamW schedule: windows per step, warm-up, epochs planned and the training-loss
plateau that ends training."""
from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["TrainingPlateau", "planned_epochs", "resolve_accumulate", "capped_warmup"]

#: ``accumulate="auto"``: the paper's windows per optimizer step ...
AUTO_ACCUMULATE = 12
#: ... when the training windows give at least this many steps per epoch; fewer windows per
#: step otherwise (at least 1). With 12 windows per step, the ~9 training windows of a demo
#: fold made one step per epoch, all inside the warm-up, and early stopping (counted in
#: epochs) ended the fit before the learning rate was reached: the network learned nothing
MIN_STEPS_PER_EPOCH = 10


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


def resolve_accumulate(accumulate, n_train):
    """Windows per optimizer step: ``accumulate``, or for "auto" :data:`AUTO_ACCUMULATE`,
    lowered (to at least 1) so that ``n_train`` windows give :data:`MIN_STEPS_PER_EPOCH`
    steps per epoch."""
    if accumulate != "auto":
        return int(accumulate)
    return max(1, min(AUTO_ACCUMULATE, n_train // MIN_STEPS_PER_EPOCH))


def capped_warmup(warmup_steps, steps_per_epoch, planned_steps):
    """Warm-up steps used: ``warmup_steps`` capped at half an epoch (rounded up) and at half
    of the planned steps. Early stopping counts epochs, so a warm-up spanning several epochs
    would let it judge (and stop) a network still trained at a fraction of its learning
    rate; at the paper's scale (~225 steps per epoch) the 100 steps stand."""
    return min(int(warmup_steps), -(-steps_per_epoch // 2), planned_steps // 2)


#: ``max_epochs="auto"`` with early stopping on validation windows: at least this many epochs.
#: There the budget is only a safeguard; at the ``min_steps`` budget alone (23 epochs for a
#: demo fold's 9 windows) 3 of the study's 10 threshold-truth fits ran out while their
#: validation loss was still improving
MIN_EPOCHS_EARLY_STOPPING = 50


def planned_epochs(est, n_train, accumulate, early_stopping=False):
    """AdamW epochs: ``max_epochs``, or for "auto" enough for ``min_steps`` optimizer steps
    of ``accumulate`` windows (at least 10, or :data:`MIN_EPOCHS_EARLY_STOPPING` with
    ``early_stopping``; at most 1,000)."""
    if est.max_epochs != "auto":
        return int(est.max_epochs)
    per_epoch = -(-n_train // int(accumulate))
    least = MIN_EPOCHS_EARLY_STOPPING if early_stopping else 10
    return int(min(1000, max(least, -(-int(est.min_steps) // per_epoch))))
