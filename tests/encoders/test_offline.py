"""Without network, weights or hub settings: building the encoders neither hangs nor touches the network, and a
missing checkpoint says where to get it. Runs in a fresh interpreter, as a user's first ``ncse train`` would."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from ncse_cli.encoders import ENCODERS, EncoderContext
    clap = ENCODERS.get("clap")(ENCODERS.get("clap").Config(dim=8))
    try:
        clap.train().require_pretrained()
    except Exception as err:
        print("MESSAGE", type(err).__name__, err)
    panns = ENCODERS.get("panns")
    panns(panns.Config(dim=8), EncoderContext(load_pretrained=False))  # as load_model builds it
    print("IMPORTED", sorted(m for m in ("transformers", "laion_clap", "panns_inference", "torchvision",
                                         "librosa.filters", "numba") if m in sys.modules))
    print("PANNS_DATA", (Path.home() / "panns_data").exists())
    print("HUB", os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
""")


@pytest.mark.slow
def test_building_the_towers_offline_is_quiet_and_says_where_the_weights_go(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "NCSE_ALLOW_DOWNLOAD", "NCSE_CACHE",
                        "XDG_CACHE_HOME"}}
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                         cwd=os.getcwd())
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    default = tmp_path / ".cache" / "ncse" / "clap" / "630k-audioset-best.pt"
    assert lines["MESSAGE"].startswith("PretrainedWeightsError LAION-CLAP HTSAT-tiny weights: no checkpoint given")
    assert f"put it at {default}" in lines["MESSAGE"]
    assert "https://huggingface.co/lukewys/laion_clap/resolve/main/630k-audioset-best.pt" in lines["MESSAGE"]
    # neither package's __init__ ran; transformers never loaded; neither tower needed torchvision or librosa
    assert lines["IMPORTED"] == "[]"
    assert lines["PANNS_DATA"] == "False"  # panns_inference's import-time wget did not run
    assert lines["HUB"] == "1 1"
