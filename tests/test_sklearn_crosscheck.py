"""nnreg's L2 SGD step against scikit-learn's MLPClassifier (solver="sgd").

scikit-learn adds alpha·w to the summed gradient and divides by the mini-batch size m,
so its per-step decay is alpha/m where nnreg's is λ/n: alpha = λ·m/n (the README's
conversion rule, checked here).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import nnreg
from nnreg.training import TrainingState, training_step


@pytest.mark.parametrize("m", [5, 20])
def test_l2_step_matches_sklearn_mlp_with_alpha_lambda_m_over_n(m):
    rng = np.random.default_rng(1)
    eta, lmbda, n = 0.2, 5.0, 100
    inputs = rng.normal(size=(m, 6))
    labels = np.arange(m) % 3
    network = nnreg.Network([6, 5, 3], activation="sigmoid", cost="log-likelihood", rng=rng)
    model = MLPClassifier(
        hidden_layer_sizes=(5,),
        activation="logistic",
        solver="sgd",
        alpha=lmbda * m / n,
        batch_size=m,
        learning_rate_init=eta,
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(inputs, labels, classes=[0, 1, 2])  # initializes its shapes
        model.coefs_ = [w.T.copy() for w in network.weights]
        model.intercepts_ = [b.copy() for b in network.biases]
        model.partial_fit(inputs, labels)
    regularizer, optimizer = nnreg.L2(lmbda), nnreg.SGD(eta)
    state = TrainingState({}, {}, rng)
    training_step(network, inputs, np.eye(3)[labels], optimizer, regularizer, n, state)
    for ours, theirs in zip(network.weights, model.coefs_):
        np.testing.assert_allclose(ours, theirs.T, rtol=1e-12, atol=1e-14)
    for ours, theirs in zip(network.biases, model.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
