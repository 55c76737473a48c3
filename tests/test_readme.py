"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    exec(compile(blocks[0], "README example", "exec"), {})
    printed = capsys.readouterr().out
    assert "'accuracy'" in printed and "'fraction_zero'" in printed
