"""Running notebooks in a real Jupyter kernel (nbclient + ipykernel) of this very Python."""

import json
import os
import sys
from pathlib import Path

KERNEL = "nnreg-tests"


def execute(notebook, folder: Path, timeout: int = 120):
    """Run ``notebook`` (an nbformat node) from ``folder`` in a kernel running this Python (a
    kernel spec of its own, found first through JUPYTER_PATH); returns it with outputs."""
    import nbclient

    spec = folder / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "nnreg tests",
                "language": "python",
            }
        )
    )
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(folder / "jupyter")
    try:
        client = nbclient.NotebookClient(
            notebook, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": folder}}
        )
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous
    return notebook


def text_of(cell) -> str:
    """Everything a code cell printed or showed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)
