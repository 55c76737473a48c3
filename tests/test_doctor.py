"""The doctor diagnoses every learner in the gallery right, explains each mistake, and
rejects code it cannot probe with exit 2 — without touching the learner's files."""

import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnreg.cli import main
from nnreg.doctor import DoctorError, diagnose, diagnose_in_this_process

GALLERY = Path(__file__).parent / "doctor_gallery"
LEARNERS = sorted(GALLERY.glob("*.py"))


def expectation(path: Path) -> dict:
    """The ``expect:`` line of a gallery file's docstring."""
    line = re.search(r"^expect: ([^\"\n]*)", path.read_text(), flags=re.MULTILINE).group(1)
    expected = dict(part.split("=", 1) for part in line.split())
    expected["exit"] = int(expected["exit"])
    for key in ("mistakes", "notes"):
        expected[key] = set(expected[key].split(",")) if key in expected else set()
    return expected


def run_doctor(*arguments):
    return CliRunner().invoke(main, ["doctor", *map(str, arguments)])


def test_the_gallery_has_the_variety_the_doctor_must_handle():
    assert len(LEARNERS) >= 14
    texts = [path.read_text() for path in LEARNERS]
    assert sum("for x, y in mini_batch:" in text for text in texts) >= 5  # per-example loops
    assert sum("X.shape" in text or "np.hstack" in text for text in texts) >= 3  # vectorized
    assert sum("self.params" in text or "self.p = {}" in text for text in texts) >= 2  # dicts
    assert any(expectation(path)["exit"] == 0 for path in LEARNERS)


@pytest.mark.parametrize("path", LEARNERS, ids=[path.stem for path in LEARNERS])
def test_every_gallery_learner_is_diagnosed_right_with_the_right_exit_code(path):
    expected = expectation(path)
    extra = ["--gradients", expected["gradients"]] if "gradients" in expected else []
    result = run_doctor(path, *extra, "--json")
    assert result.exit_code == expected["exit"], result.output
    report = json.loads(result.output)
    mistakes = {f["code"] for f in report["findings"] if f["kind"] == "mistake"}
    notes = {f["code"] for f in report["findings"] if f["kind"] == "note"}
    assert mistakes == expected["mistakes"]
    assert notes == expected["notes"]


# One row per finding of the catalogue: a gallery learner that makes it, and what the
# finding must say — the formula found, the fix and the consequence in numbers or words.
FINDINGS = {
    "lambda-over-m": ("loop_lambda_over_m", "ηλ/m·w", "divide by n", "5,000× faster per step"),
    "wrong-sign": ("loop_wrong_sign", "−ηλ/n·w", "subtract the penalty", "grow by about ×1.28"),
    "no-eta": ("loop_no_eta", "λ/n·w", "multiply the penalty's step by η", "2× as strongly"),
    "penalty-twice": ("loop_penalty_twice", "2·ηλ/n·w", "keep one of the two", "λ acts as 10"),
    "layers-regularized-differently": (
        "loop_decay_last_layer_only",
        "layer 1: no penalty; layer 2: w ← (1 − ηλ/n)·w",
        "every weight layer",
        "drift apart",
    ),
    "half-penalty-step": ("loop_decay_half", "0.5·ηλ/n·w", "the ½ cancels", "λ acts as 2.5"),
    "penalty-in-example-loop": (
        "loop_decay_per_example",
        "about m·ηλ/n·w per mini-batch",
        "move the penalty line out of the loop",
        "λ acts as 50",
    ),
    "penalty-over-n-and-m": ("vec_penalty_over_n_and_m", "ηλ/(n·m)·w", "averaged", "10× weaker"),
    "lambda-not-divided": (
        "loop_lambda_not_divided",
        "ηλ·w",
        "divide by n",
        "50,000× the intended",
    ),
    "unexpected-scaling": (
        "loop_lambda_over_n_squared",
        "ηλ/n^2·w",
        "ηλ/n·w",
        "2e-05× the intended",
    ),
    "unrecognized-step": (
        "loop_unrecognized_step",
        "only to 14.2%",
        "one of the rules",
        "not the one",
    ),
    "no-penalty-in-update": (
        "loop_no_penalty_in_update",
        "do not change",
        "(1 − ηλ/n)",
        "unregularized",
    ),
    "l1-as-decay": (
        "loop_l1_as_decay",
        "(1 − ηλ/n)·w",
        "sgn(w)",
        "never makes a weight exactly zero",
    ),
    "l1-averaged": ("loop_l1_averaged", "mean(sgn(w))", "without np.mean", "drags the whole layer"),
    "bias-decay": (
        "loop_bias_decay",
        "b ← (1 − ηλ/n)·b",
        "leave the biases out",
        "×0.78 per epoch",
    ),
    "gradient-not-averaged": (
        "loop_gradient_not_averaged",
        "η·Σ∇C_x",
        "divide the summed gradient by m",
        "like η = 5",
    ),
    "gradient-averaged-twice": (
        "dict_gradient_averaged_twice",
        "(η/m²)",
        "divide by m once",
        "η = 0.05",
    ),
    "gradient-mean-spread": (
        "loop_gradient_mean_spread",
        "mean(Σ∇C_x)",
        "never np.mean",
        "near chance",
    ),
    "data-step-scale": ("loop_data_step_halved", "0.5·(η/m)·Σ∇C_x", "mean", "acts as 0.25"),
    "update-cost-mismatch": (
        "loop_l1_update_l2_cost",
        "(λ/2n)·Σw²",
        "(λ/n)·Σ|w| to match the update",
        "not the one the update minimizes",
    ),
    "cost-uses-evaluated-size": (
        "book_exact",
        "len(data)",
        "divide by n",
        "book's own network2.py",
    ),
    "cost-fixed-scale": (
        "loop_cost_lambda_over_m",
        "λ/(20)·Σw²",
        "divide by n",
        "5,000× too large",
    ),
    "cost-penalty-scale": ("loop_cost_half_twice_n", "λ/(4·n)", "(λ/2n)·Σw²", "0.5× the one"),
    "cost-penalty-in-loop": (
        "loop_cost_penalty_in_loop",
        "len(data) × (λ/2n)·Σw²",
        "move the penalty line out of the loop",
        "added 10,000 times",
    ),
    "cost-penalizes-biases": (
        "loop_cost_penalizes_biases",
        "only the biases",
        "weights only",
        "book's rule",
    ),
    "cost-no-penalty": ("loop_cost_no_penalty", "= 0", "add the penalty", "data cost only"),
}
NOTES = {"l1-crosses-zero", "l1-stops-at-zero", "penalty-in-gradients"}


def test_every_finding_of_the_catalogue_has_a_row_and_a_learner_that_makes_it():
    from nnreg.doctor.catalogue import ROWS

    codes = [row.code for row in ROWS]
    assert len(codes) == len(set(codes))  # one row each
    assert set(codes) == set(FINDINGS) | NOTES
    made = {code for path in LEARNERS for code in expectation(path)["mistakes"]}
    assert set(FINDINGS) <= made


@pytest.mark.parametrize("code", list(FINDINGS))
def test_a_mistake_is_reported_with_formula_fix_and_consequence(code):
    learner, formula, fix, consequence = FINDINGS[code]
    # in this process: the findings are the point here; the isolation has its own tests
    diagnosis = diagnose_in_this_process(str(GALLERY / f"{learner}.py"))
    finding = next(f for f in diagnosis.findings if f.code == code)
    assert finding.kind == "mistake"
    assert formula in finding.found
    assert fix in finding.fix
    assert consequence in finding.consequence
    for _, text in finding.lines:  # only ever code lines, never a docstring or comment
        assert text.strip() and not text.strip().startswith(("#", '"', "'"))


def test_the_report_separates_mistakes_in_training_from_mistakes_in_the_reported_cost():
    result = run_doctor(GALLERY / "book_exact.py")
    assert result.exit_code == 1
    assert "1 mistake found, only in the reported cost (training is not affected)" in result.output
    assert "[MISTAKE in the reported cost]" in result.output
    result = run_doctor(GALLERY / "loop_lambda_over_m.py")
    assert "changing training" in result.output and "line(s) to change:" in result.output


def test_line_pointers_never_point_into_a_docstring(tmp_path):
    learner = tmp_path / "learner.py"
    learner.write_text(
        (GALLERY / "loop_lambda_over_m.py")
        .read_text()
        .replace(
            "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n",
            "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n"
            '        """Update with eta and lmbda: the weights decay by lmbda."""\n'
            "        # lmbda is the regularization strength\n",
        )
    )
    finding = diagnose(str(learner)).findings[0]
    assert finding.lines and all("lmbda is" not in t and '"""' not in t for _, t in finding.lines)


def test_the_rule_found_is_written_as_a_formula_next_to_the_correct_one():
    diagnosis = diagnose(str(GALLERY / "loop_lambda_over_m.py"))
    assert diagnosis.rule_found.startswith("w ← (1 − ηλ/m)·w − (η/m)·Σ∇C_x")
    assert diagnosis.correct_rule.startswith("w ← (1 − ηλ/n)·w − (η/m)·Σ∇C_x")


def fingerprint(folder: Path) -> dict:
    return {
        path.relative_to(folder): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


BROKEN = {
    "raises_on_import.py": (
        "import numpy as np\n\nTOTAL = 1 / 0\n",
        "importing .* failed: ZeroDivisionError: division by zero \\(line 3\\)",
    ),
    "exits_on_import.py": ("import sys\nsys.exit('no')\n", "importing .* failed: SystemExit"),
    "no_class.py": ("def helper():\n    return 1\n", "found no network and no update"),
    "short_signature.py": (
        "import numpy as np\n\n\nclass Network:\n    def __init__(self, sizes):\n"
        "        self.weights = [np.ones((2, 2))]\n        self.biases = [np.ones((2, 1))]\n\n"
        "    def backprop(self, x, y):\n        return [], []\n\n"
        "    def update_mini_batch(self, mini_batch, eta):\n        pass\n",
        "update_mini_batch\\(mini_batch, eta\\) takes no λ",
    ),
    "no_parameters.py": (
        "class Network:\n    def __init__(self, sizes):\n        self.layers = sizes\n\n"
        "    def backprop(self, x, y):\n        return None\n\n"
        "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n        pass\n",
        "changed no chain of weight matrices",
    ),
    "constructor_needs_more.py": (
        "class Network:\n    def __init__(self, sizes, seed, activation, cost):\n        pass\n\n"
        "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n        pass\n",
        "could not build the network",
    ),
    "update_raises.py": (
        "import numpy as np\n\n\nclass Network:\n    def __init__(self, sizes):\n"
        "        self.weights = [np.ones((4, 3)), np.ones((2, 4))]\n"
        "        self.biases = [np.ones((4, 1)), np.ones((2, 1))]\n\n"
        "    def backprop(self, x, y):\n        return self.biases, self.weights\n\n"
        "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n"
        "        raise RuntimeError('not written yet')\n",
        "update_mini_batch: RuntimeError: not written yet",
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_code_that_cannot_be_probed_gets_a_clear_message_and_exit_2(name, tmp_path):
    source, message = BROKEN[name]
    path = tmp_path / name
    path.write_text(source)
    before = fingerprint(tmp_path)
    result = run_doctor(path)
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output
    assert fingerprint(tmp_path) == before  # nothing written, nothing changed


def test_missing_file_unknown_class_and_unknown_gradient_method_exit_2(tmp_path):
    assert run_doctor(tmp_path / "missing.py").exit_code == 2
    result = run_doctor(f"{GALLERY / 'loop_l2_correct.py'}:Nope")
    assert result.exit_code == 2 and "no class or function named 'Nope'" in result.output
    result = run_doctor(GALLERY / "loop_l2_correct.py", "--gradients", "grads")
    assert result.exit_code == 2 and "no method or function 'grads'" in result.output


def test_an_update_computing_its_gradients_inline_is_measured_through_the_update(tmp_path):
    no_gradients = tmp_path / "no_gradients.py"
    no_gradients.write_text(
        "import numpy as np\n\n\nclass Network:\n    def __init__(self, sizes):\n"
        "        self.weights = [np.ones((4, 3)), np.ones((2, 4))]\n"
        "        self.biases = [np.ones((4, 1)), np.ones((2, 1))]\n\n"
        "    def update_mini_batch(self, mini_batch, eta, lmbda, n):\n"
        "        self.weights = [(1 - eta * lmbda / n) * w for w in self.weights]\n"
    )
    result = run_doctor(no_gradients, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    # its decay is right; it has no data step at all
    assert report["rule_found"].startswith("w ← (1 − ηλ/n)·w − 0·(η/m)·Σ∇C_x")
    assert [f["code"] for f in report["findings"] if f["kind"] == "mistake"] == ["data-step-scale"]
    assert any("computes its gradients inline" in note for note in report["notes"])


def test_the_doctor_never_writes_next_to_the_gallery():
    before = fingerprint(GALLERY)
    for path in LEARNERS[:3]:
        run_doctor(path)
    assert fingerprint(GALLERY) == before


def test_the_python_api_raises_doctor_error_for_unloadable_code(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("def broken(:\n")
    with pytest.raises(DoctorError, match="SyntaxError"):
        diagnose(str(path))


def test_intended_regularizer_option_turns_a_decay_into_an_l1_mistake():
    result = run_doctor(GALLERY / "vec_columns_l2_correct.py", "--regularizer", "l1", "--json")
    assert result.exit_code == 1
    codes = {f["code"] for f in json.loads(result.output)["findings"]}
    assert codes == {"l1-as-decay"}


def test_an_adapter_function_builds_a_network_the_doctor_cannot_build_itself(tmp_path):
    learner = tmp_path / "learner.py"
    learner.write_text(
        (GALLERY / "loop_lambda_over_m.py")
        .read_text()
        .replace("def __init__(self, sizes):", "def __init__(self, sizes, seed, activation):")
    )
    adapter = tmp_path / "adapter.py"
    adapter.write_text(
        "import importlib.util, pathlib\n"
        "spec = importlib.util.spec_from_file_location(\n"
        "    'learner', pathlib.Path(__file__).with_name('learner.py'))\n"
        "learner = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(learner)\n\n\n"
        "def make_network(sizes):\n"
        "    return learner.Network(sizes, seed=0, activation='sigmoid')\n"
    )
    assert run_doctor(learner).exit_code == 2
    result = run_doctor(f"{adapter}:make_network", "--json")
    assert result.exit_code == 1
    assert {f["code"] for f in json.loads(result.output)["findings"]} == {"lambda-over-m"}


def test_a_layer_too_small_to_tell_its_rule_apart_is_not_compared_with_the_others():
    import numpy as np

    from nnreg.doctor.measure import fit_step

    rng = np.random.default_rng(0)
    big = rng.uniform(0.1, 1.0, (5, 4)) * rng.choice([-1.0, 1.0], (5, 4))
    small = np.array([[0.5, -0.7, 1e-7]])  # two weights far enough from zero to fit on
    decayed = fit_step([big], [big * (1 - 0.01)])  # w ← (1 − 0.01)·w on 20 weights
    assert decayed.determined and decayed.a == pytest.approx(0.01)
    # two weights moved alike by a shift: a·w + b·sgn(w) fits any two numbers
    shifted = fit_step([small], [small - 0.003])
    assert not shifted.determined
    wider = np.array([[0.5, -0.7, 0.9]])  # with a third, only the shift fits
    assert fit_step([wider], [wider - 0.003]).determined
    untouched = fit_step([small], [small.copy()])  # no step at all is plain on any layer
    assert untouched.determined and not untouched.changes
