"""IPython magics, loaded by ``%load_ext nnreg``.

``%nnreg_doctor net`` diagnoses the network ``net`` of the notebook (any expression that
evaluates to it) with :func:`nnreg.doctor.check`, on copies, and returns the diagnosis (shown
as the command prints it; ``d = %nnreg_doctor net`` keeps it). What the doctor cannot probe
is printed as its message, never as a traceback.
"""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


def register(ipython) -> None:
    """Add the ``%nnreg_doctor`` line magic to ``ipython``."""

    @magic_arguments()
    @argument("network", nargs="+", help="the network: a name or an expression")
    @argument("--timeout", type=float, default=None, help="seconds the doctor may take (60)")
    @argument("--regularizer", default=None, help="l2, l1, elastic-net or none")
    @argument("--gradients", default=None, help="the name of your gradient method")
    def nnreg_doctor(line: str):
        """Diagnose a network built in this notebook: %nnreg_doctor net"""
        from nnreg.doctor import DoctorError, check

        try:
            options = parse_argstring(nnreg_doctor, line)
        except UsageError as error:
            print(f"%nnreg_doctor: {error}")
            return None
        expression = " ".join(options.network)
        try:
            network = eval(expression, ipython.user_ns)  # noqa: S307 - the learner's own kernel
        except Exception as error:  # noqa: BLE001 - a name not defined yet, a typo
            print(
                f"%nnreg_doctor: {expression} is not defined here ({type(error).__name__}: {error})"
            )
            return None
        try:
            return check(
                network,
                timeout=options.timeout,
                regularizer=options.regularizer,
                gradients=options.gradients,
                namespace=ipython.user_ns,
            )
        except DoctorError as error:
            print(f"nnreg doctor: {error}")
            return None

    ipython.register_magic_function(nnreg_doctor, "line", "nnreg_doctor")
