import torch

from backend.training.augment import condition_dropout, truncation_mask


def test_condition_dropout_rates_match_the_reference():
    drop_style, drop_audio = condition_dropout(40000, torch.Generator().manual_seed(0))
    assert abs(drop_style.float().mean().item() - 0.45) < 0.01  # r > 0.55
    assert abs(drop_audio.float().mean().item() - 0.10) < 0.01  # r > 0.9
    assert not (drop_audio & ~drop_style).any()  # no audio means no style either


def test_truncation_cuts_windows_at_the_reference_rates():
    mask = truncation_mask(20000, 2, 100, torch.Generator().manual_seed(0))
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # once a frame is cut, every later frame of the window is cut
    assert (mask[:, :, 1:] <= mask[:, :, :-1]).all()
    cut0 = mask[:, 0, -1] == 0
    assert abs(cut0.float().mean().item() - 0.3) < 0.015
    assert (mask[:, 0, 0] == 1).all()  # at least one real frame
    # a window after a cut one is empty; otherwise window 1 is cut with p = 0.4
    assert (mask[cut0, 1] == 0).all()
    cut1 = mask[~cut0, 1, -1] == 0
    assert abs(cut1.float().mean().item() - 0.4) < 0.015
