"""The package's front: ``import nnreg`` gives every public name, listed once."""

import subprocess
import sys

import pytest

import nnreg


def test_every_public_name_is_listed_once_and_importable():
    names = dir(nnreg)
    assert len(names) == len(set(names))
    public = [name for name in names if not name.startswith("_")]
    assert sorted(public) == sorted(nnreg.__all__)
    for name in nnreg.__all__:
        getattr(nnreg, name)
    assert sorted(dir(nnreg)) == names  # loading them all changes nothing
    assert "importlib" not in names and "__version__" in names


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        nnreg.Nope  # noqa: B018


def test_the_python_api_speaks_of_arguments_not_command_line_options(tmp_path):
    """A Python user without the data is told about the folder argument and NNREG_DATA,
    in nnreg's own documented exception."""
    script = (
        "import nnreg\n"
        "from nnreg import mnist_loader\n"
        "try:\n"
        "    mnist_loader.load_data_wrapper()\n"
        "except nnreg.DownloadError as error:\n"
        "    print(error)\n"
    )
    environment = {"NNREG_DATA": str(tmp_path), "NNREG_MNIST_MIRRORS": "file:///nowhere/"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **environment},
    )
    assert result.returncode == 0, result.stderr
    message = " ".join(result.stdout.split())
    assert "folder=" in message and "NNREG_DATA" in message
    assert "--data-dir" not in message and "--mirror" not in message
