"""The take the guide's plots start from: a real recording (``assets/real_speech/austen_0870``,
recognized with its transcript, as the service does) generated with the shipped default model."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backend import DEFAULT_MODEL_DIR, audio_io  # noqa: E402
from backend.evaluation.evaluate import features_for  # noqa: E402
from backend.model import load_model  # noqa: E402

RECORDING = ROOT / "assets" / "real_speech" / "austen_0870"


def recorded_take(seed: int = 0):
    """-> (bundle, audio, speech features, the take generated with ``seed``)."""
    audio = audio_io.load_audio(RECORDING.with_suffix(".flac"))
    bundle = load_model(DEFAULT_MODEL_DIR)
    features = features_for(bundle, audio, transcript=RECORDING.with_suffix(".txt").read_text().strip())
    return bundle, audio, features, bundle.generate(audio, speech_features=features, seed=seed)[0]
