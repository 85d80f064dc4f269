"""The constructor parameters of :class:`~deepwas.FunctionalPrior` as a declarative table.

scikit-learn's idea (``_parameter_constraints``): each parameter lists the kinds of value it
accepts; ``fit`` checks them all at once and the message names the parameter, what it accepts
and what it got. The constructor never checks anything (it only stores its arguments).
"""
from __future__ import annotations

import numbers
import os

import numpy as np
import torch

from ..solvers import IterativeConfig
from ..utils.validation import SIGMA2_MAX

__all__ = ["MODELS", "SOLVERS", "LINALGS", "PARAMETER_CONSTRAINTS", "validate_params",
           "Options", "Interval", "Instance", "Sequence", "iterative_config", "resolve_optimizer"]

MODELS = ("constant", "glm", "transformer")
SOLVERS = ("deepwas", "ldsr")
LINALGS = ("auto", "cholesky", "iterative")


class Options:
    """One of a fixed set of strings."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, v):
        return isinstance(v, str) and v in self.values

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class Interval:
    """A real (or, with ``integer=True``, an integer) number in an interval; bools refused."""

    def __init__(self, lo=None, hi=None, closed="both", integer=False):
        self.lo, self.hi, self.closed, self.integer = lo, hi, closed, integer

    def accepts(self, v):
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(v, bool) or not isinstance(v, kind) or v != v:
            return False
        lo_ok = self.lo is None or (v >= self.lo if self.closed in ("both", "left")
                                    else v > self.lo)
        hi_ok = self.hi is None or (v <= self.hi if self.closed in ("both", "right")
                                    else v < self.hi)
        return lo_ok and hi_ok

    def __str__(self):
        what = "an integer" if self.integer else "a number"
        if self.lo is not None and self.hi is None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.lo}"
        if self.hi is not None and self.lo is None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.hi}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"{what} in {left}{self.lo}, {self.hi}{right}"


class Instance:
    """An instance of one of some types (``None`` for the value None)."""

    def __init__(self, *types, name=None):
        self.types, self.name = types, name

    def accepts(self, v):
        if None in self.types and v is None:
            return True
        return isinstance(v, tuple(t for t in self.types if t is not None))

    def __str__(self):
        if self.name:
            return self.name
        return " or ".join("None" if t is None else f"a {t.__name__}" for t in self.types)


class Sequence:
    """A list or tuple (not a string) of items each accepted by ``item``."""

    def __init__(self, item, name):
        self.item, self.name = item, name

    def accepts(self, v):
        return (isinstance(v, (list, tuple)) and len(v) > 0
                and all(self.item.accepts(x) for x in v))

    def __str__(self):
        return self.name


_NONE = Instance(None)
_POS = Interval(0, None, closed="neither")

#: What each constructor parameter accepts. A value is valid when any entry accepts it.
PARAMETER_CONSTRAINTS = {
    "model": [Options(*MODELS), Instance(torch.nn.Module, name="a torch.nn.Module")],
    "solver": [Options(*SOLVERS)],
    "linalg": [Options(*LINALGS)],
    "model_params": [_NONE, Instance(dict)],
    "iterative_options": [_NONE, Instance(dict)],    # an IterativeConfig is added at import
    "alpha": [Interval()],
    "learn_alpha": [Instance(bool)],
    "sigma2": [_NONE, Options("estimate"), Interval(0, SIGMA2_MAX, closed="right")],
    "h2_init": [Options("auto"), Interval(0, 1, closed="right")],
    "init_windows": [_NONE, Interval(1, None, integer=True)],
    "ldsr_h2": [Options("auto"), Interval(0, 1, closed="right")],
    "optimizer": [Options("auto", "lbfgs", "adamw")],
    "tol": [_POS],
    "max_iter": [Interval(1, None, integer=True)],
    "lr": [Options("auto"), _POS],
    "weight_decay": [Interval(0, None)],
    "ridge": [Options("auto"), Interval(0, None)],
    "max_epochs": [Options("auto"), Interval(1, None, integer=True)],
    "min_steps": [Interval(0, None, integer=True)],
    "n_iter_no_change": [Interval(1, None, integer=True)],
    "warmup_steps": [Interval(0, None, integer=True)],
    "accumulate": [Options("auto"), Interval(1, None, integer=True)],
    "window_order": [Options("shuffled", "contiguous")],
    "grad_clip": [_NONE, _POS],
    "validation": [_NONE, Options("auto"), Interval(0, 1, closed="neither"),
                   Instance(str, name="a chromosome label (str)"),
                   Sequence(Instance(str, int), "a list of chromosome labels")],
    "patience": [_NONE, Options("auto"), Interval(1, None, integer=True)],
    "checkpoint_dir": [_NONE, Instance(str, name="a folder (str or path)")],
    "checkpoint_every": [Interval(1, None, integer=True)],
    "chunk_size": [_NONE, Options("auto"), Interval(1, None, integer=True)],
    "mixed_precision": [_NONE, Options("bf16")],
    "dtype": [Options("float32", "float64")],
    "device": [Instance(str, torch.device, name="a device (str or torch.device)")],
    "panel_correction": [Options("auto", "simex", "none")],
    "pseudo_panels": [Options("auto", "gaussian", "bootstrap")],
    "verbose": [Interval(0, None, integer=True), Instance(bool)],
    "random_state": [_NONE, Interval(0, None, integer=True),
                     Instance(np.random.RandomState, name="a numpy RandomState")],
}


def _register_late_types():
    PARAMETER_CONSTRAINTS["iterative_options"].append(Instance(IterativeConfig))
    PARAMETER_CONSTRAINTS["checkpoint_dir"].append(Instance(os.PathLike))


_register_late_types()


def validate_params(params, constraints=PARAMETER_CONSTRAINTS):
    """Raise ``ValueError`` naming the first parameter (in the table's order) whose value no
    constraint accepts."""
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if any(c.accepts(value) for c in allowed):
            continue
        what = " or ".join(str(c) for c in allowed)
        raise ValueError(f"{name} must be {what}, got {value!r}")


def iterative_config(options):
    """The :class:`~deepwas.solvers.IterativeConfig` of ``iterative_options``."""
    if options is None or isinstance(options, IterativeConfig):
        return options or IterativeConfig()
    try:
        return IterativeConfig(**options)
    except TypeError as exc:
        raise ValueError(f"iterative_options: {exc}") from None


#: custom networks with at most this many parameters are fitted by L-BFGS (optimizer="auto")
LBFGS_MAX_PARAMETERS = 1000


def resolve_optimizer(optimizer, model_name, n_parameters=None):
    """"lbfgs" or "adamw": ``optimizer="auto"`` takes L-BFGS for the constant and GLM models
    and small custom networks (full-batch quasi-Newton reaches the maximum likelihood where a
    handful of parameters make it cheap), AdamW otherwise."""
    if optimizer != "auto":
        return optimizer
    if model_name in ("constant", "glm"):
        return "lbfgs"
    if model_name == "custom" and n_parameters is not None \
            and n_parameters <= LBFGS_MAX_PARAMETERS:
        return "lbfgs"
    return "adamw"
