import argparse
import json

from backend.model import load_model
from backend.cli import train_denoiser, train_style
from backend.training.recipe import ROOT, publish_report

from helpers import tiny_training_config


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_train_style_then_denoiser_commands_make_a_loadable_model(tiny_corpus, tmp_path, capsys):
    style, run = tmp_path / "style", tmp_path / "denoiser"
    common = ["--steps", "2", "--batch-size", "4", "--log-every", "1", "--checkpoint-every", "2", "--device", "cpu",
              "--threads", "1"]
    assert train_style.run(_parse(train_style, ["--corpus", str(tiny_corpus), "--out", str(style),
                                                        "--layers", "1", *common])) == 0
    assert (style / "style_encoder.safetensors").exists()
    config = tmp_path / "model.json"
    config.write_text(json.dumps(tiny_training_config().to_dict()))
    args = _parse(train_denoiser, ["--corpus", str(tiny_corpus), "--style-encoder", str(style), "--out", str(run),
                                       "--config", str(config), "--name", "tiny", "--loss-vertices", "50",
                                       "--warmup", "1", "--decay", "0.5", *common])
    assert train_denoiser.run(args) == 0
    assert "model in" in capsys.readouterr().out
    bundle = load_model(run / "checkpoint")
    assert bundle.name == "tiny" and bundle.expression_space == "arkit"
    assert bundle.config.style_encoder.n_layers == 1  # the trained encoder's config, not the file's
    assert "denoiser step 2/2" in (run / "train.log").read_text()


def test_published_report_names_repository_paths_relatively(tmp_path):
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    (evaluation / "report.md").write_text(
        f"# Evaluation of tiny\n\nSetup: held-out {ROOT / 'runs' / 'default' / 'corpus'} split test, "
        f"real speech {tmp_path / 'speech'}\n\n![mouth](mouth_real.png)\n")
    (evaluation / "mouth_real.png").write_bytes(b"png")
    report = tmp_path / "docs" / "evaluation.md"
    publish_report(evaluation, report, "- made for this test")
    text = report.read_text()
    assert text.startswith("# Evaluation of tiny\n\n- made for this test\n")
    assert "held-out runs/default/corpus split test" in text
    assert f"real speech {tmp_path / 'speech'}" in text  # outside the repository: left whole
    assert "](images/evaluation/mouth_real.png)" in text
    assert (tmp_path / "docs" / "images" / "evaluation" / "mouth_real.png").read_bytes() == b"png"
