"""A callback that interrupts training part-way through an epoch, as a signal would."""

from nnreg.training import Callback, StopFlag


class StopAfterSteps(Callback):
    """Sets ``stop`` once ``steps`` mini-batch steps are done; training then stops after the
    current step, writes its checkpoint and raises ``TrainingInterrupted``."""

    def __init__(self, stop: StopFlag, steps: int) -> None:
        self.stop, self.steps, self.done = stop, steps, 0

    def on_steps(self, steps: int) -> None:
        self.done += steps
        if self.done >= self.steps:
            self.stop.requested, self.stop.reason = True, "SIGINT"
