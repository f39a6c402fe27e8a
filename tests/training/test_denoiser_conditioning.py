"""Training conditions the network exactly as generation does: the model's person vector,
start context and null audio (``DiffPoseTalk.person`` / ``start_context`` / ``null_audio``)."""
import torch

from backend.data.dataset import MotionWindows
from backend.heads import load_head
from backend.model.model import DiffPoseTalk, StyleEncoder
from backend.model.stats import load_stats
from backend.training.denoiser import DenoiserObjective, draw, loss_head, motion_vector
from backend.training.losses import DenoiserLoss

from helpers import tiny_training_config


def test_training_prediction_is_the_networks_on_the_conditions_generation_builds(tiny_corpus):
    cfg = tiny_training_config()
    torch.manual_seed(0)
    model, encoder = DiffPoseTalk(cfg), StyleEncoder(cfg.style_encoder)
    objective = DenoiserObjective(model, encoder, DenoiserLoss(load_stats(tiny_corpus), True,
                                                               loss_head(load_head("builtin"), 100).torch_module()))
    objective.eval()
    dataset = MotionWindows(tiny_corpus, "train", window=100, n_windows=2, phone_features=True, seed=0)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(4)])
    draws = draw(4, 2, cfg.denoiser, torch.Generator().manual_seed(1), "cpu")
    # every pairing of the two dropouts among the four samples
    draws["drop_style"] = torch.tensor([False, True, False, True])
    draws["drop_audio"] = torch.tensor([False, False, True, True])
    with torch.no_grad():
        _, _, pred = objective(batch, draws)

        d = cfg.denoiser
        L, P = d.n_motions, d.n_prev_motions
        target = motion_vector(batch["exp"], batch["pose"], d.head_pose).view(4, 2, L, -1)
        audio = model.audio_features(objective.encoder_inputs(batch, draws["mask"].reshape(4, -1)), 2 * L).view(4, 2, L, -1)
        for i in range(4):
            for w in range(2):
                row = i * 2 + w
                shape = batch["shape"][i:i + 1]
                style = None if draws["drop_style"][i] else encoder(target[i, 1 - w][None])
                if w == 0:
                    prev_motion, prev_audio = model.start_context(1)
                else:
                    prev_motion, prev_audio = target[i:i + 1, 0, -P:], audio[i:i + 1, 0, -P:]
                window_audio = model.null_audio(1, L) if draws["drop_audio"][i] else audio[i:i + 1, w]
                mask = draws["mask"][i, w][None]
                x_t = objective.schedule.add_noise(target[i, w][None] * mask[..., None], draws["noise"][row:row + 1],
                                                   draws["t"][row:row + 1])
                expected = model.denoising_net(x_t=x_t, audio_feat=window_audio, person=model.person(shape, style),
                                               prev_motion=prev_motion, prev_audio=prev_audio,
                                               t=draws["t"][row:row + 1], indicator=mask)[:, P:]
                torch.testing.assert_close(pred[i, w][None], expected, rtol=1e-5, atol=1e-5)
