"""When AdamW training ends: the epochs planned and the training-loss plateau."""
from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["TrainingPlateau", "planned_epochs"]


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
