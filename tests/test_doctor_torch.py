"""The doctor on PyTorch training code: each learner of ``tests/doctor_gallery_torch/`` (a
planted mistake, or its correct twin) diagnosed right with ``nnreg doctor --run`` (or, for a
module with no script, ``nnreg doctor FILE.py:make_model``); what it reports checked against
PyTorch's own step and against nnreg's engine for the λ it reports."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

import nnreg  # noqa: E402
from nnreg.cli import main  # noqa: E402
from nnreg.doctor.pytorch.capture import capture_step  # noqa: E402
from nnreg.doctor.pytorch.measure import measure  # noqa: E402

GALLERY = Path(__file__).parent / "doctor_gallery_torch"
LEARNERS = sorted([*GALLERY.glob("*.py"), *GALLERY.glob("*.ipynb")])
FAST = ("sgd_weight_decay_all_parameters", "manual_step_lambda_over_m", "module_train_step_l")


def expectation(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "".join(json.loads(text)["cells"][0]["source"])
    line = re.search(r"^expect: ([^\"\n]*)", text, flags=re.MULTILINE).group(1)
    expected = dict(part.split("=", 1) for part in line.split())
    expected["exit"] = int(expected["exit"])
    for key in ("mistakes", "notes"):
        expected[key] = set(expected[key].split(",")) if key in expected else set()
    planted = re.search(r"^planted: (.*)$", text, flags=re.MULTILINE)
    expected["planted"] = re.findall(r"\d+", planted.group(1).split("line")[-1]) if planted else []
    return expected


def arguments_for(path: Path) -> list[str]:
    if path.name.startswith("module_"):
        return [f"{path}:make_model"]
    return ["--run", str(path)]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=[] if p.stem.startswith(FAST) else [pytest.mark.slow])
        for p in LEARNERS
    ],
    ids=[p.name for p in LEARNERS],
)
def test_each_learner_is_diagnosed_right_and_its_twin_is_correct(path):
    expected = expectation(path)
    result = CliRunner().invoke(main, ["doctor", *arguments_for(path), "--json"])
    assert result.exit_code == expected["exit"], result.output
    report = json.loads(result.output)
    mistakes = {f["code"] for f in report["findings"] if f["kind"] == "mistake"}
    notes = {f["code"] for f in report["findings"] if f["kind"] == "note"}
    assert (mistakes, notes) == (expected["mistakes"], expected["notes"]), report
    places = " ".join(place for f in report["findings"] for place, _ in f["lines"])
    for line in expected["planted"]:  # the planted line is among the lines to change
        assert re.search(rf"\b{line}\b", places), (line, places)


def test_the_gallery_has_every_shape_and_a_correct_twin_for_each_mistake():
    wrong = [p for p in LEARNERS if expectation(p)["exit"] == 1]
    right = [p for p in LEARNERS if expectation(p)["exit"] == 0]
    assert len(wrong) >= 8 and len(right) >= 8
    found = set().union(*(expectation(p)["mistakes"] for p in wrong))
    assert {
        "biases-regularized", "coupled-adaptive-decay", "penalty-twice", "norm-not-squared",
        "penalty-in-example-loop", "lambda-over-m",
    } <= found  # fmt: skip
    assert any(p.suffix == ".ipynb" for p in right) and any(p.suffix == ".ipynb" for p in wrong)


# -- what is reported is what the step does ---------------------------------------------------
def penalty_step(record, parameter, index) -> np.ndarray:
    """The learner's own penalty step per unit of η, from PyTorch: the penalty's gradient
    (autograd), the optimizer's weight_decay (its class stepped on copies, with and without
    it) and a step written by hand (w′ − w + η·g)."""
    step = parameter.penalty_gradient.copy()
    if record.optimizer is not None and parameter.group is not None:
        group = record.optimizer.groups[parameter.group]
        if group.get("weight_decay"):
            moved = []
            for wd in (group["weight_decay"], 0.0):
                copy = torch.tensor(parameter.before, requires_grad=True)
                copy.grad = torch.tensor(parameter.data_gradient)
                options = {**group, "weight_decay": wd}
                optimizer = record.optimizer.kind([{"params": [copy], **options}])
                optimizer.step()
                moved.append(copy.detach().numpy())
            step += (moved[1] - moved[0]) / group["lr"]
    if parameter.after is not None:
        eta = measure(record).eta
        step += -(parameter.after - parameter.before) / eta - parameter.gradient
    return step


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "sgd_param_groups_correct", "sgd_weight_decay_all_parameters", "l1_all_parameters",
        "l1_named_weights_correct", "weight_decay_plus_l2_penalty", "l2_penalty_in_loss_correct",
        "manual_step_lambda_over_m", "manual_step_correct", "adamw_param_groups_correct",
    ],
)  # fmt: skip
def test_the_lambda_reported_gives_the_learners_step_in_nnregs_engine(name, monkeypatch):
    path = GALLERY / f"{name}.py"
    monkeypatch.chdir(GALLERY)
    record = capture_step(path, [])
    measured = measure(record)
    n = record.n
    weights = [i for i, p in enumerate(record.parameters) if p.is_weight]
    biases = [i for i, p in enumerate(record.parameters) if not p.is_weight]
    k, l1 = measured.decay_of(weights[0]), measured.l1_of(weights[0])
    on_biases = any(measured.regularized(i) for i in biases)
    if k and l1:
        regularizer = nnreg.make_regularizer(
            "elastic-net", l1 * n, l2_lmbda=k * n, regularize_biases=on_biases
        )
    elif l1:
        regularizer = nnreg.make_regularizer("l1", l1 * n, regularize_biases=on_biases)
    else:
        regularizer = nnreg.make_regularizer("l2", k * n, regularize_biases=on_biases)
    w = [record.parameters[i].before for i in weights]
    b = [record.parameters[i].before.reshape(-1, 1) for i in biases]
    engine_w, engine_b = regularizer.penalty_gradient(w, b, n)
    # float32: a step by hand is known to the rounding of w (about 1e-7·|w|), divided by η
    rounding = 1e-6 * max(np.abs(p.before).max() for p in record.parameters) / measured.eta
    for i, engine in zip(weights + biases, engine_w + engine_b):
        real = penalty_step(record, record.parameters[i], i)
        tolerance = 1e-4 * np.abs(real).max() + (rounding if record.by_hand else 1e-12)
        assert np.abs(engine.reshape(real.shape) - real).max() <= tolerance, (name, i)


# -- without PyTorch, and scripts that never get there ----------------------------------------
def test_without_pytorch_the_doctor_says_which_extra_to_install(tmp_path):
    blocker = tmp_path / "no_torch"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    environment = dict(os.environ, PYTHONPATH=str(blocker))
    script = GALLERY / "sgd_weight_decay_all_parameters.py"
    result = subprocess.run(
        [sys.executable, "-m", "nnreg", "doctor", "--run", str(script)],
        capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert 'pip install "nnreg[torch]"' in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "model = torch.nn.Linear(3, 2)\nprint(model(torch.ones(1, 3)))\n",
            "without calling backward",
        ),
        (
            "model = torch.nn.Linear(3, 2)\nloss = model(torch.ones(4, 3)).pow(2).mean()\n"
            "loss.backward()\n",
            "never changed the model's parameters",
        ),
        ("import sys\nsys.exit(3)\n", "ended (SystemExit: 3"),
        ("raise ValueError('bad data')\n", "raised ValueError: bad data (line 2)"),
    ],
)
def test_a_script_that_never_updates_gets_a_message_and_exit_2(body, message, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\n" + body)
    result = CliRunner().invoke(main, ["doctor", "--run", str(script)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_script_that_gets_pytorch_through_a_module_of_its_own_is_diagnosed(tmp_path):
    (tmp_path / "common.py").write_text(
        "import torch\nfrom torch import nn\ntorch.manual_seed(0)\n"
        "X = torch.randn(64, 5)\ny = (X[:, 0] > 0).long()\n"
    )
    script = tmp_path / "train.py"
    script.write_text(
        "from common import *\n"
        "model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)\n"
        "for xb, yb in zip(X.split(16), y.split(16)):\n"
        "    opt.zero_grad()\n"
        "    nn.functional.cross_entropy(model(xb), yb).backward()\n"
        "    opt.step()\n"
    )
    result = CliRunner().invoke(main, ["doctor", "--run", str(script), "--json"])
    assert result.exit_code == 1, result.output
    codes = {f["code"] for f in json.loads(result.output)["findings"]}
    assert "biases-regularized" in codes
