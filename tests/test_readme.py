"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    exec(compile(blocks[0], "README example", "exec"), {})
    printed = capsys.readouterr().out
    assert "'accuracy'" in printed and "'fraction_zero'" in printed


def test_readme_toolbox_example_builds_a_regularizer_that_trains():
    import nnreg

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    toolbox = next(block for block in blocks if "Combined(" in block)
    namespace: dict = {}
    exec(compile(toolbox, "README toolbox example", "exec"), namespace)
    data = nnreg.load_digits()
    network = nnreg.Network([64, 30, 10], rng=0)
    history = nnreg.train(
        network,
        data["training"],
        epochs=1,
        batch_size=10,
        optimizer=nnreg.SGD(0.5),
        regularizer=namespace["regularizer"],
        evaluation_data={"test": data["test"]},
        rng=0,
    )
    assert history.last["test"]["activity_penalty"] > 0
    assert max(float((w**2).sum(axis=1).max()) for w in network.weights) <= 9 * (1 + 1e-12)


def test_readme_notebook_example_runs_and_writes_a_run_folder(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    example = next(block for block in blocks if "nnreg.LivePlot()" in block)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README notebook example", "exec"), namespace)
    assert (tmp_path / "runs" / "l1-notebook" / "summary.json").is_file()
    assert namespace["same"].sizes == [64, 30, 10]


def test_the_readme_and_the_plot_command_list_every_figure_nnreg_plot_writes():
    from nnreg.cli import plot
    from nnreg.plots import FIGURES

    text = " ".join(README.read_text().split())
    start = text.index("`nnreg plot` writes")
    sentence = text[start : text.index("`nnreg experiment NAME", start)]
    assert sorted(re.findall(r"`([\w-]+)\.png`", sentence)) == sorted(FIGURES)
    help_text = " ".join(plot.help.split())
    assert sorted(re.findall(r"([\w-]+)\.png", help_text)) == sorted(FIGURES)
