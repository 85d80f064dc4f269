"""model.json is strict JSON (no NaN or Infinity tokens, which json.load of other languages
and jq refuse), and a value that was NaN reads back as NaN."""
import json
import math

import numpy as np

from deepwas import ConstantPrior, SummaryStats, load_model
from deepwas.estimators import save_model


def _strict(text):
    def refuse(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_model_json_is_strict_json_and_nan_reads_back(tmp_path):
    rng = np.random.default_rng(0)
    m = 60
    X = rng.standard_normal((m, 200))
    R = np.corrcoef(X)
    stats = SummaryStats.from_arrays(rng.normal(0, 0.01, m), 1e4, ["1"] * m,
                                     np.arange(m) * 1000 + 1, R, window_bp=30_000,
                                     flank_bp=10_000, ld_regularisation="none")
    est = ConstantPrior(max_iter=3).fit(stats)
    assert math.isnan(est.lr_)                         # L-BFGS has no learning rate
    _, js = save_model(est, tmp_path / "m", extra={"bad": float("inf"), "ok": 1.5})
    cfg = _strict(open(js).read())
    assert cfg["fitted"]["lr"] is None and cfg["extra"] == {"bad": None, "ok": 1.5}
    back, _ = load_model(tmp_path / "m")
    assert math.isnan(back.lr_) and back.sigma2_ == est.sigma2_
    np.testing.assert_allclose(back.predict_f(stats), est.predict_f(stats), rtol=1e-12)
