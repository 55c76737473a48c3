"""The PyTorch mistakes the doctor knows, as data: one :class:`~nnreg.doctor.rows.Row` each
(code, how it is recognized from the measurements, what it says), read by one loop — in the
book's notation and in PyTorch's (``weight_decay`` is the book's λ/n).

Recognized from :class:`TorchFacts`: the measurements (:mod:`~nnreg.doctor.pytorch.measure`),
n, m, η, the numbers in the learner's scope named like λ, and the lines to quote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nnreg.doctor.formulas import count
from nnreg.doctor.pytorch.measure import Measured
from nnreg.doctor.report import Finding
from nnreg.doctor.rows import Row, finding_of

SCALES = (1.0, 2.0, 0.5)
"""(λ/n)·w, 2·(λ/n)·w (λ·Σw² without the ½) and (λ/2n)·w count as λ scaled by n or m."""


@dataclass
class TorchFacts:
    measured: Measured
    lines: dict[str, list] = field(default_factory=dict)
    """"optimizer", "penalty", "update", "biases" → (line, text) to quote."""

    @property
    def record(self):
        return self.measured.record

    @property
    def parameters(self):
        return self.record.parameters

    @property
    def n(self) -> int | None:
        return self.record.n

    @property
    def m(self) -> int:
        return self.record.m

    @property
    def eta(self) -> float:
        eta = self.measured.eta
        return eta if eta is not None and math.isfinite(eta) else math.nan

    def weights(self) -> list[int]:
        return [i for i, p in enumerate(self.parameters) if p.is_weight]

    def others(self) -> list[int]:
        return [i for i, p in enumerate(self.parameters) if not p.is_weight]

    def names(self, indices: list[int]) -> str:
        shown = [self.parameters[i].name for i in indices]
        return ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")

    def lambda_number(self) -> tuple[str, float] | None:
        """The number in scope named like λ, when there is one value."""
        numbers = self.record.numbers
        values = {round(v, 12) for v in numbers.values()}
        if len(values) != 1:
            return None
        name = sorted(numbers)[0]
        return name, numbers[name]

    def scaled_by(self, coefficient: float, divisor: float) -> bool:
        found = self.lambda_number()
        if found is None or not divisor or coefficient <= 0:
            return False
        return any(math.isclose(coefficient * divisor, s * found[1], rel_tol=1e-3) for s in SCALES)

    @property
    def setting_text(self) -> str:
        parts = [f"η = lr = {self.eta:g}"] if math.isfinite(self.eta) else []
        if self.n:
            parts.append(f"n = {count(self.n)}")
        parts.append(f"m = {count(self.m)}")
        return "for your " + ", ".join(parts)


# -- recognizing ------------------------------------------------------------------------------
def _regularized_others(f: TorchFacts) -> list[int]:
    return [i for i in f.others() if f.measured.regularized(i)]


def _bias_sources(f: TorchFacts) -> list[str]:
    sources = []
    biases = _regularized_others(f)
    if any(f.measured.optimizer_decay(i) for i in biases):
        sources.append("optimizer")
    if any(f.measured.penalty[i].present for i in biases):
        sources.append("penalty")
    if f.measured.by_hand and any(f.measured.by_hand[i].present for i in biases):
        sources.append("update")
    return sources


def _bias_title(f: TorchFacts) -> str:
    names = [f.parameters[i].name for i in _regularized_others(f)]
    if all(name.endswith("bias") for name in names):
        return "The biases are regularized too"
    return "The biases and normalization scales (the 1-D parameters) are regularized too"


def _bias_found(f: TorchFacts) -> str:
    biases = _regularized_others(f)
    parts = []
    for i in biases[:1]:
        k, l1 = f.measured.decay_of(i), f.measured.l1_of(i)
        step = f"(1 − η·{k:.3g})·b" if k else "b"
        step += f" − η·{l1:.3g}·sgn(b)" if l1 else ""
        parts.append(f"{f.parameters[i].name}: b ← {step} − η·∇")
    source = {
        "optimizer": "the optimizer's weight_decay covers them",
        "penalty": "the penalty in the loss sums over all parameters",
        "update": "the step you wrote decays every parameter",
    }
    said = "; ".join(source[s] for s in _bias_sources(f))
    return f"{f.names(biases)} are regularized ({said}) — {'; '.join(parts)}"


def _bias_fix(f: TorchFacts) -> str:
    sources = _bias_sources(f)
    fixes = []
    if "optimizer" in sources:
        kind = f.record.optimizer.kind.__name__
        wd = next(f.measured.optimizer_decay(i) for i in _regularized_others(f))
        fixes.append(
            "two parameter groups: `decay = [p for p in model.parameters() if p.ndim > 1]`, "
            "`no_decay = [p for p in model.parameters() if p.ndim <= 1]`, "
            f"`torch.optim.{kind}([{{'params': decay, 'weight_decay': {wd:g}}}, "
            f"{{'params': no_decay, 'weight_decay': 0.0}}], lr={f.eta:g})`"
        )
    if "penalty" in sources:
        fixes.append(
            "sum the penalty over the weight matrices only: `for name, p in "
            "model.named_parameters() if p.ndim > 1` (or `if 'weight' in name`)"
        )
    if "update" in sources:
        fixes.append("decay only the weight matrices in your step: `if p.ndim > 1`")
    return "; ".join(fixes)


def _bias_consequence(f: TorchFacts) -> str:
    i = _regularized_others(f)[0]
    k = f.measured.decay_of(i)
    per_epoch = ""
    if k > 0 and f.n and math.isfinite(f.eta):
        factor = (1 - f.eta * k) ** (f.n / f.m) if f.eta * k < 1 else 0.0
        per_epoch = f" (×{factor:.3g} per epoch, {f.setting_text})"
    return (
        f"the biases are pulled toward zero{per_epoch}; they set each unit's threshold and do "
        "not cause overfitting, so regularizing them only costs accuracy"
    )


def _adaptive(f: TorchFacts) -> list:
    return [g for g in f.measured.groups.values() if g.measured and not g.true_decay]


def _adaptive_found(f: TorchFacts) -> str:
    group = _adaptive(f)[0]
    kind = f.record.optimizer.kind.__name__
    return (
        f"{kind}(…, weight_decay={group.weight_decay:g}): the step's weight_decay part is not "
        f"−lr·weight_decay·w = −{f.eta * group.weight_decay:.3g}·w — it is added to the "
        "gradient before the optimizer rescales it per parameter (by 1/√v)"
    )


def _twice(f: TorchFacts) -> list[int]:
    found = []
    for i in f.weights():
        sources = [
            f.measured.loss_decay(i) > 0 and not f.measured.norm_penalty,
            f.measured.optimizer_decay(i) > 0,
            f.measured.hand_decay(i) > 0,
        ]
        if sum(sources) >= 2:
            found.append(i)
    return found


def _twice_found(f: TorchFacts) -> str:
    i = _twice(f)[0]
    parts = []
    for value, text in (
        (f.measured.optimizer_decay(i), "weight_decay"),
        (f.measured.loss_decay(i), "the penalty in the loss"),
        (f.measured.hand_decay(i), "the decay in your step"),
    ):
        if value > 0:
            parts.append(f"{text}: {value:.3g}·w")
    return f"{f.parameters[i].name} gets " + " and ".join(parts) + " (each is the book's λ/n·w)"


def _twice_consequence(f: TorchFacts) -> str:
    i = _twice(f)[0]
    k = f.measured.decay_of(i)
    if not f.n:
        return f"the penalty is the sum of both: {k:.3g}·w per unit of η"
    return (
        f"λ acts as n·{k:.3g} = {f.n * k:.4g} ({f.setting_text}) — the sum of both penalties, "
        "not the λ of either"
    )


def _over_m(f: TorchFacts) -> list[int]:
    return [
        i
        for i in f.weights()
        if f.scaled_by(f.measured.loss_decay(i) + f.measured.hand_decay(i), f.m)
        and not f.scaled_by(f.measured.loss_decay(i) + f.measured.hand_decay(i), f.n or 0)
    ]


def _over_m_found(f: TorchFacts) -> str:
    i = _over_m(f)[0]
    name, value = f.lambda_number()
    k = f.measured.loss_decay(i) + f.measured.hand_decay(i)
    scale = k * f.m / value
    times = "" if math.isclose(scale, 1, rel_tol=1e-3) else f"{scale:g}·"
    return (
        f"{f.parameters[i].name}: the penalty's step is η·{k:.4g}·w = η·{times}({name}/m)·w "
        f"with {name} = {value:g}, m = {f.m}"
    )


def _over_m_consequence(f: TorchFacts) -> str:
    if not f.n:
        return "the penalty changes with the batch size (the last, smaller batch gets more)"
    return (
        f"the penalty is n/m = {f.n / f.m:,.0f}× what λ asks for ({f.setting_text}), and it "
        "changes with the batch size (the last, smaller batch of an epoch gets more)"
    )


def _per_example(f: TorchFacts) -> bool:
    if not f.measured.per_example:
        return False
    k = max((f.measured.loss_decay(i) for i in f.weights()), default=0.0)
    return not f.scaled_by(k, f.n or 0)


def _wrong_sign(f: TorchFacts) -> bool:
    return any(f.measured.decay_of(i) < 0 or f.measured.l1_of(i) < 0 for i in f.weights())


def _layers_differ(f: TorchFacts) -> bool:
    if f.measured.norm_penalty:
        return False
    decays = [f.measured.decay_of(i) for i in f.weights()]
    if len(decays) < 2 or not any(decays):
        return False
    return not all(math.isclose(d, decays[0], rel_tol=0.05) for d in decays)


def _layers_found(f: TorchFacts) -> str:
    return "; ".join(f"{f.parameters[i].name}: {f.measured.decay_of(i):.3g}·w" for i in f.weights())


def _summed(f: TorchFacts) -> bool:
    return f.record.reduction == "sum"


def _weight_decay_notes(f: TorchFacts) -> bool:
    return any(g.true_decay for g in f.measured.groups.values())


def _weight_decay_found(f: TorchFacts) -> str:
    group = next(g for g in f.measured.groups.values() if g.true_decay)
    kind = f.record.optimizer.kind.__name__
    wd = group.weight_decay
    book = f" = {wd:.3g}·{count(f.n)} = {wd * f.n:.4g}" if f.n else ""
    step = "lr·∇" if kind == "SGD" else f"{kind}'s step"
    return (
        f"{kind}'s weight_decay = {wd:.3g} is the book's λ/n: w ← (1 − lr·wd)·w − {step}, so "
        f"λ = weight_decay·n{book}"
    )


ROWS: list[Row] = [
    Row(
        "biases-regularized", "mistake", "torch", lambda f: bool(_regularized_others(f)),
        _bias_title, _bias_found, _bias_fix, _bias_consequence,
        lines="biases",
    ),
    Row(
        "coupled-adaptive-decay", "mistake", "torch", lambda f: bool(_adaptive(f)),
        lambda f: (
            f"{f.record.optimizer.kind.__name__}'s weight_decay is not weight decay: an L2 "
            "gradient term rescaled per parameter"
        ),
        _adaptive_found,
        "use torch.optim.AdamW (its weight_decay is decoupled: w ← w − lr·wd·w, then Adam's "
        "step), with the biases in a group with weight_decay = 0",
        "how much a weight is decayed depends on its gradients' history — a weight with large "
        "gradients is barely regularized — so this is not the book's λ/n·w (nor AdamW's decay)",
        lines="optimizer",
    ),
    Row(
        "penalty-twice", "mistake", "torch", lambda f: bool(_twice(f)),
        "Two L2 penalties: the same weights are decayed twice", _twice_found,
        "keep one: weight_decay = λ/n in the optimizer and no penalty in the loss, or the "
        "penalty (λ/2n)·Σ‖W‖² in the loss and weight_decay = 0",
        _twice_consequence, lines="twice",
    ),
    Row(
        "norm-not-squared", "mistake", "torch", lambda f: f.measured.norm_penalty,
        "The penalty is the norm ‖W‖, not its square ‖W‖²",
        "its gradient is c·W/‖W‖: the same c for every weight matrix, whatever its size",
        "square it: `lam / (2 * n) * W.pow(2).sum()`, or `torch.linalg.vector_norm(W) ** 2` — "
        "`torch.norm(W)` and `torch.linalg.vector_norm(W)` are ‖W‖",
        "each matrix is pulled toward zero by the same total amount whatever its size, and the "
        "pull does not shrink as the weights shrink: this is not L2 (λ/n)·w",
        lines="penalty",
    ),
    Row(
        "penalty-in-example-loop", "mistake", "torch", _per_example,
        "The penalty is added once per example: m times per mini-batch",
        lambda f: (
            f"the penalty was computed after each of the step's {f.record.forwards} forwards "
            "(one example each)"
        ),
        "compute the penalty once per mini-batch, after the loop over its examples (dedent it)",
        lambda f: (
            f"the penalty acts up to m = {f.m} times as strongly as intended ({f.setting_text}), "
            "and changes with the mini-batch size"
        ),
        lines="penalty",
    ),
    Row(
        "lambda-over-m", "mistake", "torch", lambda f: bool(_over_m(f)),
        "λ is divided by the mini-batch size m instead of the training-set size n",
        _over_m_found,
        lambda f: (
            "divide by n, the number of training examples (len(train_dataset)"
            + (f" = {count(f.n)}" if f.n else "")
            + "), not by len(xb) or the batch size"
        ),
        _over_m_consequence,
        lines="decay",
    ),
    Row(
        "wrong-sign", "mistake", "torch", _wrong_sign,
        "The penalty has the wrong sign: it makes the weights grow",
        lambda f: "; ".join(
            f"{f.parameters[i].name}: {f.measured.decay_of(i):.3g}·w" for i in f.weights()
        ),
        "the penalty's step must shrink the weights: w ← w − η·(∇ + (λ/n)·w)",
        "weights grow every step instead of shrinking: training diverges",
        lines="decay",
    ),
    Row(
        "layers-regularized-differently", "mistake", "torch", _layers_differ,
        "The weight layers are not regularized alike", _layers_found,
        "regularize every weight matrix alike: all of `p for p in model.parameters() if "
        "p.ndim > 1`",
        "the layers' weights drift apart in scale: a layer without the penalty keeps growing",
        lines="decay",
    ),
    Row(
        "gradient-not-averaged", "mistake", "torch", _summed,
        "The loss sums over the mini-batch (reduction='sum'), not its mean",
        "w ← w − η·Σ∇C_x",
        "use the loss's default reduction='mean' (or divide the summed loss by len(xb))",
        lambda f: (
            f"steps are m× too large ({f.setting_text}: lr = {f.eta:g} acts as "
            f"{f.eta * f.m:g}); training is unstable or diverges"
        ),
        lines="none",
    ),
    Row(
        "weight-decay-is-lambda-over-n", "note", "torch", _weight_decay_notes,
        "weight_decay is the book's λ/n", _weight_decay_found,
        "nothing, if this is the λ you want: for the book's λ, set weight_decay = λ/n",
        "",
        lines="none",
    ),
]  # fmt: skip


def torch_findings(facts: TorchFacts) -> list[Finding]:
    return [finding_of(row, facts) for row in ROWS if row.recognized(facts)]
