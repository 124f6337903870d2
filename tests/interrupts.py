"""Trainer callbacks the tests interrupt and watch training runs with."""

from transformers import TrainerCallback


class StopAt(TrainerCallback):
    """Simulates a crash (a dead kernel, a disconnect) once training reaches `step`."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated crash")


class StepsSeen(TrainerCallback):
    """The first step a run took: where a resumed run started."""

    def __init__(self):
        self.first = None

    def on_step_end(self, args, state, control, **kwargs):
        self.first = self.first or state.global_step
