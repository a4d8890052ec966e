"""The training loop's progress bar (greenkd_lib.engine.epochs): short labels, and a disabled bar that does nothing."""

from __future__ import annotations

import io

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.engine.configs import run_label, teacher_config
from greenkd_lib.engine.epochs import progress_bar, short_label


def test_short_label_cuts_long_run_names_with_an_ellipsis():
    assert short_label("resnet18 CE seed 0") == "resnet18 CE seed 0"
    long = "wrn_40_2->wrn_16_1 KD tau~U{1..10}/batch seed 0 (a long run label)"
    cut = short_label(long)
    assert len(cut) <= 40 and cut.endswith("\u2026") and long.startswith(cut[:-1])
    assert short_label(long, 12) == "wrn_40_2->w\u2026"


def test_progress_bar_counts_all_batches_and_can_be_disabled(capsys):
    cfg = teacher_config(get_profile("smoke"), "resnet18", "digits", seed=0)
    bar = progress_bar(cfg, steps_per_epoch=5, start_epoch=1, enabled=False)
    bar.update(3)
    bar.set_postfix_str("loss 1.000, val 50.0%")
    bar.close()
    assert capsys.readouterr().err == ""  # disabled: prints nothing
    bar = progress_bar(cfg, steps_per_epoch=5, start_epoch=1, enabled=True)
    bar.fp = io.StringIO()  # outside a notebook tqdm.auto is the text bar
    assert (bar.total, bar.n) == (cfg.epochs * 5, 5)  # a resumed run starts at its epoch
    assert bar.desc == short_label(run_label(cfg))
    bar.close()
