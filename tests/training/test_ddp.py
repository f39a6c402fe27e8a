"""Two CPU processes under torchrun (gloo) train the denoiser for a few steps."""
import json
import subprocess
import sys
import textwrap

import torch

from backend.training.loop import LOG_NAME, STATE_NAME

from helpers import tiny_loop, tiny_training_config
from project import ROOT

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    from backend.model.config import ModelConfig
    from backend.training.loop import LoopConfig
    from backend.training.stages import train_denoiser

    corpus, style, out, config, loop = sys.argv[1:6]
    result = train_denoiser(corpus, out, ModelConfig.from_dict(json.loads(config)), style,
                            LoopConfig(**json.loads(loop)), "cpu", loss_vertices=100)
    torch.save(result.module.state_dict(), os.path.join(out, f"rank{os.environ['RANK']}.pt"))
""")


def test_two_gloo_processes_train_in_step(tiny_corpus, tiny_style, tmp_path):
    from dataclasses import asdict

    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    out.mkdir()
    env_args = [str(tiny_corpus), str(tiny_style), str(out), json.dumps(tiny_training_config().to_dict()),
                json.dumps(asdict(tiny_loop(steps=3, batch_size=2, checkpoint_every=3)))]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), *env_args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    state = torch.load(out / STATE_NAME, weights_only=True)
    assert state["step"] == 3
    for key in rank0:
        # DDP averages the gradients, so both processes hold the same weights...
        assert torch.allclose(rank0[key], rank1[key], atol=1e-6), key
        assert torch.equal(rank0[key], state["model"][key]), key
    # ...and they moved away from the initialization.
    from backend.model.model import DiffPoseTalk

    torch.manual_seed(0)
    fresh = DiffPoseTalk(tiny_training_config()).state_dict()
    assert any(not torch.allclose(fresh[k], rank0[k]) for k in fresh if k in rank0 and fresh[k].is_floating_point())
    log = (out / LOG_NAME).read_text()
    assert "denoiser step 3/3" in log
    assert log.count("denoiser step 3/3") == 1  # only rank 0 writes the log
    assert (out / "checkpoint" / "model.safetensors").exists()
