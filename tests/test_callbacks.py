"""Callbacks: event order, Recorder, ParamScheduler/one-cycle, the printed table, plots and
checkpoint/resume."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

from numbaconv.callbacks import (
    EVENTS,
    Callback,
    CancelFitException,
    CancelStepException,
    ProgressCallback,
    SaveModelCallback,
)
from numbaconv.learner import Learner
from numbaconv.metrics import accuracy
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from numbaconv.schedule import one_cycle_schedules

from .loaders import TinyDLs

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def tiny_batches(sizes, seed):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(n, 1, 8, 8)).astype(np.float32), rng.integers(0, 2, n).astype(np.int64))
        for n in sizes
    ]


def tiny_dls(train_sizes=(3, 3, 3), valid_sizes=(3, 1), seed=0):
    return TinyDLs(tiny_batches(train_sizes, seed), tiny_batches(valid_sizes, seed + 1))


def tiny_model(seed=0, bn=True):
    rng = np.random.default_rng(seed)
    layers = [Conv2d(1, 2, 3, stride=2, padding=1, rng=rng)]
    layers += [BatchNorm2d(2)] if bn else []
    layers += [ReLU(), Flatten(), Linear(2 * 4 * 4, 2, rng=rng)]
    return Sequential(*layers)


def quiet(learn):
    learn.progress.show_table = False
    learn.progress.show_bar = False
    return learn


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- events
class EventLog(Callback):
    def __init__(self, order, log):
        self.order = order
        self.log = log


for _event in EVENTS:
    setattr(EventLog, _event, lambda self, _e=_event: self.log.append((self.order, _e)))


def test_events_list_the_cancel_events_the_loop_fires():
    for event in ("after_cancel_backward", "after_cancel_step"):
        assert event in EVENTS
    assert EVENTS.index("after_cancel_step") < EVENTS.index("after_step")
    log = []

    class NoStep(Callback):
        def before_step(self):
            raise CancelStepException

    learn = quiet(Learner(tiny_dls((3,), ()), tiny_model(), cbs=[NoStep(), EventLog(-50, log)]))
    learn.fit(1)
    events = [e for _, e in log]
    i = events.index("before_step")
    assert events[i : i + 3] == ["before_step", "after_cancel_step", "after_step"]


def test_event_order():
    log = []
    learn = quiet(Learner(tiny_dls((3, 3), (2,)), tiny_model(), cbs=[EventLog(5, log)]))
    learn.fit(1, lr=1e-3)
    events = [e for _, e in log]
    train_batch = [
        "before_batch",
        "after_pred",
        "after_loss",
        "before_backward",
        "after_backward",
        "before_step",
        "after_step",
        "after_batch",
    ]
    valid_batch = ["before_batch", "after_pred", "after_loss", "after_batch"]
    assert events == (
        ["before_fit", "before_epoch", "before_train"]
        + train_batch * 2
        + ["after_train", "before_validate"]
        + valid_batch
        + ["after_validate", "after_epoch", "after_fit"]
    )


def test_callbacks_run_in_order_and_are_attributes():
    log = []

    class Late(EventLog):
        pass

    class Early(EventLog):
        pass

    learn = quiet(Learner(tiny_dls(), tiny_model(), cbs=[Late(70, log), Early(-50, log)]))
    assert learn.late.order == 70 and learn.early.order == -50
    assert learn.recorder.name == "recorder" and learn.train_eval.order == -10
    learn.fit(1)
    before_fit = [order for order, e in log if e == "before_fit"]
    assert before_fit == [-50, 70]
    # Callbacks read the Learner's attributes they lack
    assert learn.late.epoch == 0 and learn.late.model is learn.model


def test_fit_cbs_are_removed_afterwards():
    log = []
    learn = quiet(Learner(tiny_dls(), tiny_model()))
    learn.fit(1, cbs=EventLog(3, log))
    assert not any(isinstance(cb, EventLog) for cb in learn.cbs)
    assert "event_log" not in vars(learn)
    assert log


def test_cancel_step_keeps_weights_and_cancel_fit_stops():
    class NoStep(Callback):
        def before_step(self):
            raise CancelStepException

    learn = quiet(Learner(tiny_dls(), tiny_model(bn=False), cbs=NoStep()))
    before = weights(learn.model)
    learn.fit(2, lr=0.1)
    for key, value in weights(learn.model).items():
        np.testing.assert_array_equal(value, before[key])

    class StopAfterFirstEpoch(Callback):
        order = 100  # after the Recorder has logged the epoch

        def after_epoch(self):
            raise CancelFitException

    learn = quiet(Learner(tiny_dls(), tiny_model(), cbs=StopAfterFirstEpoch()))
    learn.fit(3)
    assert len(learn.recorder.values) == 1


# ---------------------------------------------------------------- recorder
class FixedLoss:
    """A loss whose value is given per training / validation batch; its gradient is zero."""

    def __init__(self, train_values, valid_values):
        self.train_values, self.valid_values = list(train_values), list(valid_values)
        self.learn = None
        self.i_train = self.i_valid = 0

    def __call__(self, pred, y):
        if self.learn.training:
            value = self.train_values[self.i_train]
            self.i_train += 1
        else:
            value = self.valid_values[self.i_valid % len(self.valid_values)]
            self.i_valid += 1
        return (pred * 0.0).sum() + value


def test_recorder_smooth_loss_and_weighted_valid_loss_by_hand():
    train_losses = [2.0, 1.5, 0.25, 3.0, 0.5, 1.0]  # 2 epochs × 3 batches
    valid_losses = [1.0, 4.0]  # batches of 3 and 1 samples
    loss = FixedLoss(train_losses, valid_losses)
    learn = quiet(Learner(tiny_dls((3, 3, 3), (3, 1)), tiny_model(), loss_func=loss))
    loss.learn = learn
    learn.fit(2, lr=1e-3)
    expected, val = [], 0.0
    for count, value in enumerate(train_losses, start=1):
        val = 0.98 * val + 0.02 * value
        expected.append(val / (1 - 0.98**count))
    np.testing.assert_allclose(learn.recorder.losses, expected, rtol=1e-12)
    # not reset per epoch: epoch 1's train_loss carries epoch 0's history
    train_column = [row[0] for row in learn.recorder.values]
    np.testing.assert_allclose(train_column, [expected[2], expected[5]], rtol=1e-12)
    valid_column = [row[1] for row in learn.recorder.values]
    np.testing.assert_allclose(valid_column, [(3 * 1.0 + 1 * 4.0) / 4] * 2, rtol=1e-12)
    assert learn.recorder.iters == [3, 6]
    assert learn.recorder.metric_names == ["epoch", "train_loss", "valid_loss", "time"]


def test_one_cycle_positions_and_hypers_set_on_the_optimizer():
    seen = []

    class Spy(Callback):
        order = 70  # after ParamScheduler (60) has set the batch's values

        def before_batch(self):
            if self.training:
                group = self.opt.param_groups[0]
                seen.append((self.pct_train, group["lr"], group["mom"]))

    n_epoch, n_iter, lr_max = 2, 3, 0.01
    learn = quiet(Learner(tiny_dls(), tiny_model(), cbs=Spy()))
    learn.fit_one_cycle(n_epoch, lr_max)
    lr_fn, mom_fn = one_cycle_schedules(lr_max)
    positions = [i / (n_epoch * n_iter) for i in range(n_epoch * n_iter)]
    assert [s[0] for s in seen] == positions
    assert [s[1] for s in seen] == [lr_fn(p) for p in positions]
    assert [s[2] for s in seen] == [mom_fn(p) for p in positions]
    assert learn.recorder.lrs == [lr_fn(p) for p in positions]
    assert learn.recorder.moms == [mom_fn(p) for p in positions]
    assert learn.recorder.hps["lr"] == learn.recorder.lrs
    # §3.5 values: starts at lr_max/25, peaks at pct 0.25
    assert learn.recorder.lrs[0] == pytest.approx(4e-4, rel=1e-12)
    assert learn.recorder.moms[0] == pytest.approx(0.95, rel=1e-12)
    assert learn.pct_train == 1.0


def test_plain_fit_keeps_constant_lr_and_adam_mom():
    learn = quiet(Learner(tiny_dls(), tiny_model()))
    learn.fit(2, lr=0.06)
    assert learn.recorder.lrs == [0.06] * 6
    assert learn.recorder.moms == [0.9] * 6  # nothing schedules Adam's mom (§3.4)
    # Adam's own wd 0.01 applies when neither fit nor Learner gives one (§3.3)
    assert learn.opt.param_groups[0]["wd"] == 0.01


# ---------------------------------------------------------------- printed table
def test_epoch_table_format_and_no_bar_off_a_terminal():
    out = io.StringIO()
    learn = Learner(tiny_dls(), tiny_model(), metrics=accuracy, cbs=ProgressCallback(file=out))
    # replace the default progress callback with the one writing to `out`
    assert learn.progress.file is out
    learn.fit(2, lr=1e-3)
    lines = out.getvalue().split("\n")
    assert lines[0] == "epoch     train_loss  valid_loss  accuracy  time    "
    row = re.compile(r"^(\d)         (\d\.\d{6})    (\d\.\d{6})    (\d\.\d{6})  (\d\d:\d\d)     $")
    for epoch, line in enumerate(lines[1:3]):
        match = row.match(line)
        assert match, line
        assert int(match.group(1)) == epoch
        values = learn.recorder.values[epoch]
        assert match.group(2) == f"{values[0]:.6f}" and match.group(4) == f"{values[2]:.6f}"
        assert match.group(5) == "00:00"
    assert lines[3:] == [""]
    assert "\r" not in out.getvalue()


def test_fastprogress_bars_when_asked_no_bar_and_no_logging(capsys):
    learn = Learner(tiny_dls(), tiny_model(), cbs=ProgressCallback(show_bar=True))
    learn.fit(1)
    text = capsys.readouterr().out
    # fastprogress' console bars: "\r<prefix> |<bar>| 100.00% [3/3 00:00<00:00 <loss>]"
    assert "\repoch 1/1 train |" in text and "[3/3 " in text
    assert "\repoch 1/1 valid |" in text and "[2/2 " in text
    assert text.split("\n")[0] == "epoch     train_loss  valid_loss  time    "
    with learn.no_bar():
        learn.fit(1)
    text = capsys.readouterr().out
    assert "\r" not in text and text.startswith("epoch     train_loss")  # the table stays
    assert learn.show_bars  # restored after the block
    with learn.no_logging():
        learn.fit(1)
    assert capsys.readouterr().out == ""


def test_default_table_goes_to_stdout(capsys):
    learn = Learner(tiny_dls(), tiny_model())
    learn.fit(1)
    printed = capsys.readouterr().out
    assert printed.startswith("epoch     train_loss  valid_loss  time    \n0         ")


# ---------------------------------------------------------------- plots
def png_size(fig):
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    matplotlib.pyplot.close(fig)
    buffer.seek(0)
    return Image.open(buffer).size


def test_plot_sched_and_plot_loss_png():
    learn = quiet(Learner(tiny_dls(), tiny_model()))
    learn.fit_one_cycle(2, 0.01)
    fig = learn.recorder.plot_sched()
    assert len(fig.axes) == 2
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_ydata(), learn.recorder.lrs)
    assert png_size(fig) == (864, 288)  # (12, 4) inches, §3.5
    fig = learn.recorder.plot_loss(skip_start=1)
    train_line, valid_line = fig.axes[0].lines
    np.testing.assert_array_equal(train_line.get_ydata(), learn.recorder.losses[1:])
    np.testing.assert_array_equal(valid_line.get_xdata(), [3, 6])
    assert png_size(fig)[0] > 0
    with pytest.raises(ValueError, match="keys"):
        learn.recorder.plot_sched(keys=["beta"])


def test_plots_without_matplotlib_say_how_to_install(monkeypatch):
    learn = quiet(Learner(tiny_dls(), tiny_model()))
    learn.fit(1)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "numbaconv\[plot\]"'):
        learn.recorder.plot_sched()


# ---------------------------------------------------------------- checkpoints
def test_save_model_every_epoch_and_best(tmp_path):
    learn = quiet(
        Learner(tiny_dls(), tiny_model(), path=tmp_path, cbs=SaveModelCallback(with_opt=True))
    )
    learn.fit(3, lr=0.05)
    names = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert {"model_0.npz", "model_1.npz", "model_2.npz", "model.npz"} <= set(names)
    assert not [n for n in names if n.endswith(".tmp")]
    valid = [row[1] for row in learn.recorder.values]
    assert learn.save_model.best == min(valid)
    assert learn.save_model.best_epoch == int(np.argmin(valid))
    with pytest.raises(ValueError, match="monitor"):
        quiet(Learner(tiny_dls(), tiny_model(), cbs=SaveModelCallback(monitor="nope"))).fit(1)


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    def run(cbs=None, model_seed=0, **kw):
        learn = quiet(Learner(tiny_dls(), tiny_model(seed=model_seed), path=tmp_path, cbs=cbs))
        return learn

    full = run()
    full.fit_one_cycle(3, 0.05)

    class Interrupt(Callback):
        order = 100

        def after_epoch(self):
            if self.epoch == 1:
                raise CancelFitException

    first = run(cbs=[SaveModelCallback(fname="ck", with_opt=True), Interrupt()])
    first.fit_one_cycle(3, 0.05)
    assert len(first.recorder.values) == 2

    resumed = run(model_seed=99)  # different initial weights: everything comes from the file
    resumed.load("ck_1")
    resumed.fit_one_cycle(3, 0.05, start_epoch=2)
    assert resumed.recorder.lrs == full.recorder.lrs[6:]  # schedule positioned at epoch 2
    expected = weights(full.model)
    for key, value in weights(resumed.model).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)

    # Without the optimizer state the resumed run cannot repeat the uninterrupted one.
    no_opt = run(model_seed=99)
    no_opt.load("ck_1", with_opt=False)
    no_opt.fit_one_cycle(3, 0.05, start_epoch=2)
    assert not np.array_equal(no_opt.model[0].weight.data, full.model[0].weight.data)


def test_load_errors(tmp_path):
    learn = quiet(Learner(tiny_dls(), tiny_model(), path=tmp_path))
    with pytest.raises(FileNotFoundError, match="missing"):
        learn.load("missing")
    path = learn.save("plain", with_opt=False)
    other = quiet(Learner(tiny_dls(), tiny_model(bn=False), path=tmp_path))
    with pytest.raises(ValueError, match="state_dict"):
        other.load(path)
    with pytest.warns(UserWarning, match="no optimizer state"):
        learn.load("plain", with_opt=True)
