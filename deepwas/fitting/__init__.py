"""The fitting objective and its full-batch optimiser, below both the estimators and the
results code (heritability, jackknife, LD diagnostics) that re-evaluate a fitted prior.

- ``_features``: window features as tensors (``WindowFeatures``, ``features_to_tensors``,
  ``freq_array``), input checks (``check_stats``) and chunked prediction of ``f``.
- ``_objective``: ``WindowObjective``, the loss of one window (nats per core variant) from
  the likelihood (:mod:`deepwas.likelihood`) or from LD score regression.
- ``_ldsr``: ``LDSRBlocks``, LD score regression per window (the ``solver="ldsr"`` loss and
  the initial h2), kept in the memory pool.
- ``_full_batch``: ``fit_lbfgs``, L-BFGS over all windows for priors with few parameters, and
  ``ridge_mask``, which parameters the ridge penalty shrinks.
- ``_chunking``: forward and backward passes of a window in variant chunks (bounded memory),
  and the random-number state helpers training and resume share.
- ``_sharding``: cost-balanced assignment of windows to processes and the step reducer of a
  distributed run.

Nothing here imports :mod:`deepwas.estimators`; the estimators and
:mod:`deepwas.jackknife` import from here.
"""
