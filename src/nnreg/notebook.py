"""Where output goes: a Jupyter (or Colab) kernel, or a terminal / log.

In a notebook, progress and live figures are *one* output each, replaced in place through
IPython's ``display(…, display_id=True)`` handle — no widgets needed, so it works in
Jupyter, JupyterLab, VS Code and Colab, and a notebook executed by nbclient keeps one
output per display (the last one). Outside a kernel nothing here imports IPython.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (not a terminal IPython, not a script)."""
    if "ipykernel" not in sys.modules and "google.colab" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class Display:
    """One notebook output, shown on the first :meth:`show` and replaced by later ones."""

    def __init__(self) -> None:
        self.handle = None

    def show(self, content) -> None:
        from IPython.display import display

        if self.handle is None:
            self.handle = display(content, display_id=True)
        else:
            self.handle.update(content)


def show(*figures, dpi: int = 90) -> None:
    """Show matplotlib figures (e.g. those :func:`nnreg.plot` returns) as images in a
    notebook, whatever matplotlib backend is active; elsewhere do nothing."""
    if not in_notebook():
        return
    import io

    from IPython.display import Image, display

    for figure in figures:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        display(Image(data=buffer.getvalue(), format="png"))
