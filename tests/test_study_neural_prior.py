"""The neural-prior study's summary: what the true prior leaves to win, and the wins that
count against it (``benchmarks/study_neural_prior.py``)."""
import numpy as np
import pandas as pd
import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def study():
    return load_benchmark("study_neural_prior")


def _runs(diff, head):
    n = len(diff)
    return pd.DataFrame(dict(
        truth="network", seed=np.arange(n), size="tiny", members=1, diff_x1e3=diff,
        headroom_x1e3=head, score_glm=0.4, score_transformer=0.4 + np.asarray(diff) / 1e3,
        rmse_glm=0.5, rmse_transformer=0.4, fit_s_glm=10.0, fit_s_transformer=30.0))


def test_headroom_counts_wins_where_the_truth_beats_the_glm_by_more_than_noise(study):
    # four seeds: a win and a tie with room, a win and a tie without (truth within 0.1e-3)
    diff = [0.30, 0.0, 0.02, 0.0]
    head = [0.60, 0.25, 0.08, 0.05]
    row = study.summary(_runs(diff, head)).iloc[0]
    assert row["wins"] == 2
    assert row["winnable"] == 2 and row["wins_winnable"] == 1
    assert row["headroom_x1e3"] == pytest.approx(np.mean(head))
    assert row["recovered"] == pytest.approx(np.mean(diff) / np.mean(head))


def test_runs_recorded_without_the_truth_are_summarised_without_headroom(study):
    runs = _runs([0.3, 0.0], [0.6, 0.2]).drop(columns="headroom_x1e3")
    row = study.summary(runs).iloc[0]
    assert "winnable" not in row and row["wins"] == 1
