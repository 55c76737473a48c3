"""Plain, book-style references the engine is tested against.

Everything here is written independently of nnreg's code: one example at a time, column
vectors as in the book's ``network2.py``, explicit formulas, and per-weight loops where
the paper describes one. Slow on purpose; only used on tiny networks.
"""

from __future__ import annotations

import math

import numpy as np

# -- activations and costs, written out -----------------------------------------------


def activation(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    raise KeyError(name)


def activation_prime(name, z):
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return np.where(z > 0, 1.0, 0.0)
    raise KeyError(name)


def output_layer(cost, hidden, z):
    """(activation of the output layer, δᴸ as a function of a and y)."""
    if cost == "cross-entropy":
        a = 1.0 / (1.0 + np.exp(-z))
        return a, lambda y: a - y
    if cost == "log-likelihood":
        e = np.exp(z - z.max())
        a = e / e.sum()
        return a, lambda y: a - y
    a = activation(hidden, z)
    return a, lambda y: (a - y) * activation_prime(hidden, z)


def backprop(weights, biases, x, y, hidden, cost):
    """The book's per-example backprop: ∇_w C_x, ∇_b C_x for one column vector x."""
    a, activations, zs = x, [x], []
    for layer, (w, b) in enumerate(zip(weights, biases)):
        z = w @ a + b
        zs.append(z)
        if layer == len(weights) - 1:
            a, delta_of = output_layer(cost, hidden, z)
        else:
            a = activation(hidden, z)
        activations.append(a)
    delta = delta_of(y)
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(weights)
    nabla_w[-1] = delta @ activations[-2].T
    nabla_b[-1] = delta
    for layer in range(2, len(weights) + 1):
        delta = (weights[-layer + 1].T @ delta) * activation_prime(hidden, zs[-layer])
        nabla_w[-layer] = delta @ activations[-layer - 1].T
        nabla_b[-layer] = delta
    return nabla_w, nabla_b


# -- the update rules, written out --------------------------------------------------------


def soft_threshold_loop(w, t):
    out = w.copy()
    for i in np.ndindex(w.shape):
        if w[i] > t:
            out[i] = w[i] - t
        elif w[i] < -t:
            out[i] = w[i] + t
        else:
            out[i] = 0.0
    return out


def cumulative_loop(w, u, q):
    """Tsuruoka et al. (2009), figure 2's ApplyPenalty, one weight at a time."""
    for i in np.ndindex(w.shape):
        z = w[i]
        if w[i] > 0:
            w[i] = max(0.0, w[i] - (u + q[i]))
        elif w[i] < 0:
            w[i] = min(0.0, w[i] + (u - q[i]))
        q[i] += w[i] - z


def sign(w):
    return np.where(w > 0, 1.0, np.where(w < 0, -1.0, 0.0))


class ReferenceTrainer:
    """The book's ``update_mini_batch``, generalized to every regularizer and to momentum.

    Parameters are kept in the book's shapes: weights (n_out, n_in), biases (n_out, 1).
    """

    def __init__(
        self,
        weights,
        biases,
        hidden,
        cost,
        reg,
        lmbda,
        l2_lmbda,
        eta,
        momentum,
        n,
        regularize_biases=False,
    ):
        self.weights = [w.copy() for w in weights]
        self.biases = [b.reshape(-1, 1).copy() for b in biases]
        self.hidden, self.cost, self.reg = hidden, cost, reg
        self.lmbda, self.l2_lmbda, self.eta, self.mu, self.n = lmbda, l2_lmbda, eta, momentum, n
        self.regularize_biases = regularize_biases
        self.velocity_w = [np.zeros_like(w) for w in self.weights]
        self.velocity_b = [np.zeros_like(b) for b in self.biases]
        self.u = 0.0
        self.q_w = [np.zeros_like(w) for w in self.weights]
        self.q_b = [np.zeros_like(b) for b in self.biases]

    def update_mini_batch(self, xs, ys):
        m = len(xs)
        nabla_w = [np.zeros_like(w) for w in self.weights]
        nabla_b = [np.zeros_like(b) for b in self.biases]
        for x, y in zip(xs, ys):
            dw, db = backprop(
                self.weights,
                self.biases,
                x.reshape(-1, 1),
                y.reshape(-1, 1),
                self.hidden,
                self.cost,
            )
            nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
            nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
        eta, n, lam = self.eta, self.n, self.lmbda
        self.u += eta * lam / n
        for params, nablas, velocities, qs, regularized in (
            (self.weights, nabla_w, self.velocity_w, self.q_w, True),
            (self.biases, nabla_b, self.velocity_b, self.q_b, self.regularize_biases),
        ):
            for i, (p, nabla, v, q) in enumerate(zip(params, nablas, velocities, qs)):
                params[i] = self._rule(p, nabla / m, v, q, regularized)

    def _rule(self, p, grad, v, q, regularized):
        eta, n, lam, mu = self.eta, self.n, self.lmbda, self.mu
        reg = self.reg if regularized else "none"
        if reg == "l2":
            grad = grad + (lam / n) * p
        elif reg == "l1":
            grad = grad + (lam / n) * sign(p)
        elif reg == "elastic-net":
            grad = grad + (self.l2_lmbda / n) * p
        decayed = p * (1 - eta * lam / n) if reg == "decoupled" else p
        v *= mu
        v -= eta * grad
        p = decayed + v
        if reg in ("l1-proximal", "elastic-net"):
            p = soft_threshold_loop(p, eta * lam / n)
        elif reg == "l1-cumulative":
            cumulative_loop(p, self.u, q)
        return p


def finite_difference_gradient(f, arrays, h=1e-6):
    """Central differences of the scalar f() with respect to every entry of every array."""
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            saved = array[i]
            array[i] = saved + h
            up = f()
            array[i] = saved - h
            down = f()
            array[i] = saved
            grad[i] = (up - down) / (2 * h)
        grads.append(grad)
    return grads


def relative_error(a, b):
    a = np.concatenate([x.ravel() for x in a])
    b = np.concatenate([x.ravel() for x in b])
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), math.ulp(1.0))
