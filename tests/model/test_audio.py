import pytest
import torch
import torch.nn.functional as F

from backend.model.audio import MelEncoder, build_audio_encoder, normalize_waveform, pad_for_cnn
from backend.model.config import AudioEncoderConfig

from helpers import tiny_model_config


@pytest.mark.parametrize("n_frames", [1, 7, 100])
def test_hubert_alignment_gives_two_cnn_features_per_frame_then_halves(n_frames):
    torch.manual_seed(0)
    enc = build_audio_encoder(tiny_model_config(audio="hubert").audio_encoder).eval()
    audio = normalize_waveform(torch.randn(2, n_frames * 640))
    padded = pad_for_cnn(audio)
    assert padded.shape[1] == n_frames * 640 + 80  # 20 reflected samples, twice, on each side
    with torch.no_grad():
        cnn = enc.feature_extractor(padded)
        assert cnn.shape[-1] == 2 * n_frames  # so the resampling to 2L is the identity
        hidden = enc.encoder(enc.feature_projection(cnn.transpose(1, 2))).last_hidden_state
        expected = 0.5 * (hidden[:, 0::2] + hidden[:, 1::2])  # linear 2L -> L, half-pixel centres
        assert torch.allclose(enc.encode(audio, n_frames), expected, atol=1e-5)


def test_padding_is_two_reflections():
    x = torch.arange(640.0).unsqueeze(0)
    once = F.pad(x, (20, 20), mode="reflect")
    assert torch.equal(pad_for_cnn(x), F.pad(once, (20, 20), mode="reflect"))


def test_waveform_normalization():
    x = torch.randn(3, 16000) * 5 + 2
    y = normalize_waveform(x)
    assert torch.allclose(y.mean(-1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std(-1), torch.ones(3), atol=1e-4)


def test_mel_encoder_frame_count():
    enc = MelEncoder(AudioEncoderConfig(kind="mel", out_dim=24, n_mels=20, hidden=32, n_layers=1)).eval()
    with torch.no_grad():
        for n in (1, 13, 100):
            assert enc.encode(torch.randn(1, n * 640), n).shape == (1, n, 24)
