"""The demo (README's main job) runs end to end and writes what it promises."""
import json

from fastpot.demo import run_demo


def test_demo_small_run(tmp_path):
    lines = []
    metrics = run_demo(out=tmp_path, n_structures=24, train_seconds=8.0, md_steps=40,
                       md_size=2, log=lines.append)
    # the test command installs matplotlib (the plot extra), so the plots are made too
    for name in ("model.fastpot", "metrics.json", "history.csv", "thermo.csv", "md.extxyz",
                 "demo.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved) >= {"train", "test", "md_frames_vs_emt", "md", "elapsed_s"}
    assert saved["test"]["n_structures"] == 4
    assert saved["md_frames_vs_emt"]["n_frames"] > 0
    assert metrics["md"]["atoms"] == 32
    assert any(line.startswith("5. done") for line in lines)
    thermo = (tmp_path / "thermo.csv").read_text().splitlines()
    assert thermo[0] == ",".join(__import__("fastpot.md").md.THERMO_COLUMNS)
