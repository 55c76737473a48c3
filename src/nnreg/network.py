"""The network: parameters, forward pass and backward pass for a whole mini-batch.

Examples are the *rows* of the input matrix X, shape (m, n_in), so a mini-batch of m
examples goes through each layer as one matrix product:

    Zˡ = Aˡ⁻¹·Wˡᵀ + bˡ,   Aˡ = σ(Zˡ)

with Wˡ of shape (n_out, n_in) as in the book. Backpropagation gives the gradient of the
*mean* data cost over the batch, (1/m)·Σ_x ∇C_x — the quantity every update rule in
:mod:`nnreg.regularizers` is written with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnreg.activations import get_activation
from nnreg.costs import make_cost
from nnreg.initializers import INITIALIZERS
from nnreg.validation import check_choice, check_parameter_memory, check_sizes

DTYPES = {"float64": np.float64, "float32": np.float32}


class Workspace:
    """Arrays reused by every mini-batch of one size m: weighted inputs Zˡ, activations Aˡ
    (A⁰ is the batch itself), errors δˡ, σ'(Zˡ), a vector of ones, and the BLAS routines
    for the network's dtype.

    Every matrix product of a training step goes through these (SciPy's) BLAS routines:
    they write in place and accept α, β, which lets the SGD update happen inside the
    product. Using one BLAS library for all of them also matters: NumPy and SciPy each
    bundle their own OpenBLAS, and alternating between the two makes each library's idle
    threads spin while the other works — on two cores that made steps ten times slower.
    """

    def __init__(self, network: Network, batch_size: int) -> None:
        def arrays():
            return [np.empty((batch_size, units), network.dtype) for units in network.sizes[1:]]

        self.batch_size = batch_size
        self.weighted_inputs = arrays()
        self.activations: list[np.ndarray] = [None, *arrays()]  # type: ignore[list-item]
        self.deltas = arrays()
        self.derivatives = arrays()
        self.ones = np.ones(batch_size, network.dtype)
        from scipy.linalg.blas import get_blas_funcs  # loaded when first needed

        self.blas = get_blas_funcs(("gemm", "gemv", "axpy"), dtype=network.dtype)


class Network:
    """A feedforward network: one activation for the hidden layers, a cost that owns the output.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first: ``[784, 30, 10]``.
    activation : {"sigmoid", "tanh", "relu"}
        Activation σ of the hidden layers (and of the output layer with the quadratic cost).
    cost : {"cross-entropy", "quadratic", "log-likelihood"}
        Cross-entropy uses sigmoid outputs, log-likelihood softmax outputs.
    initializer : {"default", "large"}
        ``default``: weights N(0, 1/n_in); ``large``: N(0, 1); biases N(0, 1) in both.
    rng : numpy.random.Generator or int or None
        Source of the initial weights; an int is a seed.
    dtype : {"float64", "float32"}
        Floating-point type of parameters and computations.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "sigmoid",
        cost: str = "cross-entropy",
        initializer: str = "default",
        rng: np.random.Generator | int | None = None,
        dtype: str = "float64",
    ) -> None:
        self.sizes = check_sizes(sizes)
        self.activation = get_activation(activation)
        self.cost = make_cost(cost, self.activation)
        check_choice("initializer", initializer, INITIALIZERS)
        check_choice("dtype", dtype, DTYPES)
        self.dtype = np.dtype(DTYPES[dtype])
        check_parameter_memory(self.sizes, self.dtype.itemsize)
        self.initializer = initializer
        self.weights, self.biases = INITIALIZERS[initializer](
            self.sizes, np.random.default_rng(rng), self.dtype
        )

    @classmethod
    def from_parameters(
        cls,
        weights: list[np.ndarray],
        biases: list[np.ndarray],
        activation: str = "sigmoid",
        cost: str | object = "cross-entropy",
    ) -> Network:
        """A network around existing parameter arrays, which it shares (no copy).

        ``weights[l]`` has shape (n_out, n_in), ``biases[l]`` shape (n_out,); ``cost`` is a
        name or an object with the interface of :mod:`nnreg.costs`.
        """
        network = cls.__new__(cls)
        network.sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        network.activation = get_activation(activation)
        network.cost = make_cost(cost, network.activation) if isinstance(cost, str) else cost
        network.dtype = weights[0].dtype
        network.initializer = None
        network.weights, network.biases = list(weights), list(biases)
        return network

    @property
    def num_layers(self) -> int:
        """Number of weight layers (one less than the number of layers of units)."""
        return len(self.sizes) - 1

    def forward(self, inputs: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Weighted inputs Zˡ and activations Aˡ of every layer (A⁰ = inputs)."""
        activations = [inputs]
        weighted_inputs = []
        last = self.num_layers - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = activations[-1] @ w.T
            z += b
            a = self.cost.output(z) if layer == last else self.activation.fn(z)
            weighted_inputs.append(z)
            activations.append(a)
        return weighted_inputs, activations

    def feedforward(self, inputs: np.ndarray) -> np.ndarray:
        """Output activations for a batch of inputs, shape (m, n_out)."""
        return self.forward(inputs)[1][-1]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Index of the most active output unit for each example."""
        return np.argmax(self.feedforward(inputs), axis=1)

    def backprop(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        workspace: Workspace,
        regularizer=None,
        regularizer_state: dict | None = None,
    ) -> None:
        """Forward and backward pass of one mini-batch into ``workspace``, allocating nothing.

        Leaves in the workspace the activations Aˡ and the errors δˡ/m, from which
        ∂C₀/∂Wˡ = (δˡ/m)ᵀ·Aˡ⁻¹ and ∂C₀/∂bˡ = (δˡ/m)ᵀ·1 for C₀ the mean cost of the batch.
        δᴸ comes from the cost; δˡ = (δˡ⁺¹·Wˡ⁺¹) ⊙ σ'(Zˡ). A ``regularizer`` that acts on
        activations (dropout, activity penalties) changes each hidden layer's activations
        after σ'(Zˡ) is taken, and its errors after the σ' product (training only).
        """
        ws = workspace
        gemm = ws.blas[0]
        hooks = regularizer is not None and regularizer.acts_on_activations
        ws.activations[0] = inputs
        last = self.num_layers - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            z, a = ws.weighted_inputs[layer], ws.activations[layer + 1]
            # Z = A·Wᵀ, written in Fortran order as Zᵀ = W·Aᵀ (see Workspace on why BLAS)
            gemm(1.0, w.T, ws.activations[layer].T, c=z.T, trans_a=1, overwrite_c=1)
            z += b
            if layer == last:
                self.cost.output(z, out=a)
                continue
            self.activation.fn(z, out=a)
            self.activation.derivative(z, a, out=ws.derivatives[layer])
            if hooks:
                regularizer.on_hidden_activations(layer, a, regularizer_state)
        self._backward(ws, targets, regularizer if hooks else None, regularizer_state)

    def backprop_after_forward(
        self,
        weighted_inputs: list[np.ndarray],
        activations: list[np.ndarray],
        targets: np.ndarray,
        workspace: Workspace,
    ) -> None:
        """``backprop`` for a batch whose forward pass (what :meth:`forward` returns) is
        already done: the same numbers, without a second forward pass. The workspace
        keeps references to those arrays."""
        ws = workspace
        ws.activations[0] = activations[0]
        for layer in range(self.num_layers):
            ws.weighted_inputs[layer] = weighted_inputs[layer]
            ws.activations[layer + 1] = activations[layer + 1]
            if layer < self.num_layers - 1:
                self.activation.derivative(
                    weighted_inputs[layer], activations[layer + 1], out=ws.derivatives[layer]
                )
        self._backward(ws, targets)

    def _backward(self, ws: Workspace, targets, regularizer=None, regularizer_state=None):
        """δˡ/m of every layer into ``ws``, from its activations and σ'(Zˡ)."""
        gemm = ws.blas[0]
        inputs = ws.activations[0]
        last = self.num_layers - 1
        delta = ws.deltas[last]
        self.cost.delta(ws.weighted_inputs[last], ws.activations[-1], targets, out=delta)
        # δ is linear in what follows, so scaling the small δ by 1/m scales every gradient
        delta *= 1.0 / inputs.shape[0]
        for layer in range(last, 0, -1):
            below = ws.deltas[layer - 1]
            # δˡ⁻¹ = δˡ·Wˡ before σ', in Fortran order (δˡ⁻¹)ᵀ = (Wˡ)ᵀ·(δˡ)ᵀ
            gemm(1.0, self.weights[layer].T, ws.deltas[layer].T, c=below.T, overwrite_c=1)
            below *= ws.derivatives[layer - 1]
            if regularizer is not None:
                regularizer.on_hidden_deltas(
                    layer - 1,
                    ws.activations[layer],
                    ws.derivatives[layer - 1],
                    below,
                    inputs.shape[0],
                    regularizer_state,
                )

    def gradients(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        out: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of the mean data cost (1/m)·Σ_x C_x over the batch, by backpropagation.

        Returns (weight gradients, bias gradients), shaped like the parameters, written
        into ``out`` when given.
        """
        workspace = Workspace(self, inputs.shape[0])
        self.backprop(inputs, targets, workspace)
        return self.gradients_from(workspace, out)

    def gradients_from(
        self, workspace: Workspace, out: tuple[list[np.ndarray], list[np.ndarray]] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The gradients ``backprop`` left in factored form in ``workspace``, as arrays."""
        if out is None:
            out = [np.empty_like(w) for w in self.weights], [np.empty_like(b) for b in self.biases]
        weight_grads, bias_grads = out
        gemm, gemv, _ = workspace.blas
        for layer in range(self.num_layers):
            delta = workspace.deltas[layer]
            # ∂C₀/∂W = δᵀ·A, in Fortran order (∂C₀/∂W)ᵀ = Aᵀ·δ; ∂C₀/∂b = δᵀ·1
            gemm(
                1.0,
                workspace.activations[layer].T,
                delta.T,
                c=weight_grads[layer].T,
                trans_b=1,
                overwrite_c=1,
            )
            gemv(1.0, delta.T, workspace.ones, y=bias_grads[layer], overwrite_y=1)
        return weight_grads, bias_grads

    def apply_linear_update(self, workspace: Workspace, coefficients: list[tuple[float, float]]):
        """p ← β·p + α·∂C₀/∂p for every parameter (weights, then biases), after ``backprop``.

        ``coefficients`` holds one (α, β) per parameter. Each update is one BLAS call from
        the factors δ and A (GEMM for weights, GEMV for biases), so the gradient array is
        never formed: plain SGD with L2 is α = −η, β = 1 − ηλ/n.
        """
        gemm, gemv, _ = workspace.blas
        layers = self.num_layers
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            delta = workspace.deltas[layer]
            (alpha_w, beta_w), (alpha_b, beta_b) = coefficients[layer], coefficients[layers + layer]
            # In Fortran order Wᵀ is (n_in × n_out): Wᵀ ← β·Wᵀ + α·Aᵀ·δ, updated in place.
            gemm(
                alpha_w,
                workspace.activations[layer].T,
                delta.T,
                beta=beta_w,
                c=w.T,
                trans_b=1,
                overwrite_c=1,
            )
            gemv(alpha_b, delta.T, workspace.ones, beta=beta_b, y=b, overwrite_y=1)

    def data_cost(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """The data cost C₀ = (1/n)·Σ_x C_x over the given examples (no penalty)."""
        weighted_inputs, activations = self.forward(inputs)
        per_example = self.cost.fn(weighted_inputs[-1], activations[-1], targets)
        return float(np.mean(per_example))

    def save(self, path) -> Path:
        """Write the parameters and the architecture to ``path`` (a .npz file in the run
        folder's parameter format); :func:`nnreg.load_network` reads it back."""
        from nnreg.network_files import save_network

        return save_network(self, path)

    def num_weights(self) -> int:
        """Total number of weights (biases not counted)."""
        return sum(w.size for w in self.weights)
