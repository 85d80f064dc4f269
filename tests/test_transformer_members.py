"""A residual transformer whose flexible part is the mean of several members
(``model_params={"members": k}``, :class:`deepwas.priors.MemberMean`).

Data: the contract-check set of test_residual_transformer (12 windows, 3 on each of
chromosomes 1-4, every 8th SNP of the shipped 1000 Genomes EUR regions, GLM truth).
"""
import numpy as np
import pytest
import torch

from deepwas.estimators import TransformerPrior, load_model, save_model
from deepwas.priors import MemberMean, ResidualNet, build_prior

import simdata as sd

MICRO = dict(dim=8, depth=1, heads=2, pooled_len=4)


@pytest.fixture(scope="module")
def small():
    return sd.contract_set()


def _inputs(n=40, d_func=3, width=16, d_pred=2):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(n, d_func, width, generator=g, dtype=torch.float64),
            torch.randn(n, d_pred, generator=g, dtype=torch.float64))


def test_member_mean_counts_dropped_members_as_zero():
    """Output: the sum of the kept members' outputs over k (a dropped member counts in k);
    ``only(j)`` gives member j's output unscaled with only its parameters trainable; the
    first member is initialised as the one-member prior's transformer."""
    func, pred = _inputs()
    torch.manual_seed(0)
    one = build_prior("transformer", 3, 16, 2, **MICRO)
    torch.manual_seed(0)
    three = build_prior("transformer", 3, 16, 2, members=3, **MICRO)
    assert isinstance(three.network, ResidualNet)
    flex = three.network.flexible
    assert isinstance(flex, MemberMean) and len(flex) == 3
    first = one.network.flexible.state_dict()
    assert all(torch.equal(v, flex.members[0].state_dict()[k]) for k, v in first.items())
    # untrained, every member's output is 0: the prior is its GLM part
    flex.double().eval()
    assert torch.equal(flex(func, pred), torch.zeros(len(func), dtype=torch.float64))
    with torch.no_grad():     # give each member an output of its own
        for j, m in enumerate(flex.members):
            torch.nn.init.normal_(m.out.weight, std=0.5, generator=torch.Generator().manual_seed(j))
            m.intercept.fill_(j + 1.0)
        outs = [m(func, pred) for m in flex.members]
        torch.testing.assert_close(flex(func, pred), sum(outs) / 3, rtol=0, atol=1e-12)
        flex.drop(1)
        torch.testing.assert_close(flex(func, pred), (outs[0] + outs[2]) / 3, rtol=0, atol=1e-12)
    with flex.only(2):
        # (with autograd on, torch's attention takes another kernel than under no_grad)
        torch.testing.assert_close(flex(func, pred).detach(), outs[2], rtol=0, atol=1e-12)
        assert all(p.requires_grad for p in flex.members[2].parameters())
        assert not any(p.requires_grad for j in (0, 1) for p in flex.members[j].parameters())
    assert all(p.requires_grad for p in flex.parameters())
    for j in (0, 2):         # every member dropped: the linear part alone
        flex.drop(j)
    assert torch.equal(flex(func, pred), torch.zeros(len(func), dtype=torch.float64))


@pytest.mark.parametrize("params", [dict(members=0), dict(members=2.5), dict(members="x"),
                                    dict(members=True), dict(members=2, residual=False)])
def test_members_are_checked(params):
    with pytest.raises(ValueError, match="members"):
        build_prior("transformer", 3, 16, 2, **MICRO, **params)


def test_members_are_not_fitted_by_lbfgs(small):
    """L-BFGS would fit the members' mean as one network, without their keep decisions."""
    est = TransformerPrior(model_params={**MICRO, "members": 2}, optimizer="lbfgs")
    with pytest.raises(ValueError, match="one by one by AdamW"):
        est.fit(small)


def test_members_train_one_by_one_and_the_mean_survives_saving(small, tmp_path):
    """Two members, seeded: member 0 is bit for bit the one-member fit's transformer (same
    start, same seed), member 1 trains from its own start; ``members_`` records what each
    did, the fit repeats exactly, and a saved and loaded model predicts the same f."""
    one = TransformerPrior(model_params=MICRO, lr=3e-3, random_state=0).fit(small)
    two = TransformerPrior(model_params={**MICRO, "members": 2}, lr=3e-3,
                           random_state=0).fit(small)
    flex = two.prior_.network.flexible
    assert isinstance(flex, MemberMean) and len(two.members_) == 2
    m0, m1 = two.members_
    assert m0["epochs"] == one.n_iter_ and m0["stopped_on"] == one.stopped_on_
    assert m0["validation_gain"] == pytest.approx(one.flexible_gain_, rel=1e-12)
    assert [bool(x) for x in flex.kept] == [m0["kept"], m1["kept"]]
    assert two.n_iter_ == m0["epochs"] + m1["epochs"]
    if m0["kept"]:
        for k, v in one.prior_.network.flexible.state_dict().items():
            assert torch.equal(flex.members[0].state_dict()[k], v), k
    if m1["kept"]:
        assert not torch.equal(flex.members[1].out.weight, flex.members[0].out.weight)
    assert two.flexible_kept_ == (m0["kept"] or m1["kept"])
    again = TransformerPrior(model_params={**MICRO, "members": 2}, lr=3e-3,
                             random_state=0).fit(small)
    np.testing.assert_array_equal(again.predict_f(small), two.predict_f(small))
    save_model(two, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_f(small), two.predict_f(small))


def test_cli_transformer_members():
    """``deepwas fit --transformer-members K`` sets ``model_params["members"]``; absent, the
    model parameters are those of a one-member prior, as before the option."""
    from deepwas.cli._models import estimator_from_args
    from deepwas.cli._parser import build_parser

    parser = build_parser()
    base = ["fit", "--sumstats", "s.tsv", "--ld-dir", "ld", "--out", "o", "--model",
            "transformer"]
    args, _ = parser.parse_known_args(base + ["--transformer-members", "3"])
    assert estimator_from_args(args).model_params == {"size": "tiny", "members": 3}
    args, _ = parser.parse_known_args(base)
    assert estimator_from_args(args).model_params == {"size": "tiny"}
    with pytest.raises(SystemExit):
        parser.parse_known_args(base + ["--transformer-members", "0"])
