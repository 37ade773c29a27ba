"""Plugins: the researcher's own model and dataset in the built-in trainer, declared factors
validated at load like built-in ones; a broken plugin stops the loop before anything is written."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from parser.hypothesis import HypothesisError, load_hypothesis

ROOT = Path(__file__).resolve().parent.parent

# A bigram LM (an embedding and a mixing layer): the smallest model the trainer's LM loss takes.
PLUGIN = '''
import numpy as np
import torch
from torch import nn

import datasets
import models


class Bigram(nn.Module):
    def __init__(self, vocab_size, hidden, mix):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.mix = nn.Linear(hidden, hidden) if mix == "linear" else nn.Identity()
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens):
        return self.head(torch.tanh(self.mix(self.embed(tokens))))


def build(config, vocab_size):
    return Bigram(vocab_size, config["hidden"], config["mix"])


def cycle(data_dir):
    tokens = np.arange(20000) % 7
    return tokens[:18000], tokens[18000:], 7


models.register_model("{name}", build, [models.Factor("hidden", 16, low=2, high=256),
                                          models.Factor("mix", "linear", choices=("linear", "none"))])
datasets.register_dataset("{name}_cycle", cycle)
'''


def plugin(tmp_path: Path, name: str, body: str = PLUGIN) -> Path:
    path = tmp_path / f"{name}_plugin.py"
    path.write_text(textwrap.dedent(body).replace("{name}", name))
    return path


def study(tmp_path: Path, model: str, dataset: str = "synthetic", plugins=(), **config) -> Path:
    doc = {"hypothesis": {"claim": "a wider bigram fits better",
                          "predictions": ["val loss lower with hidden 32 vs hidden 4"],
                          "initial_config": {"model": model, "dataset": dataset, "hidden": [4, 32],
                                             "seq_len": 16, "batch_size": 8, "max_steps": 20,
                                             "eval_interval": 10, "eval_batches": 1, **config}}}
    if plugins:
        doc["hypothesis"]["plugins"] = list(plugins)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def loop(*args):
    return subprocess.run([sys.executable, str(ROOT / "loop.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_a_plugins_factors_are_typed_and_checked_against_its_declaration(tmp_path):
    path = plugin(tmp_path, "bigram_a")
    h = load_hypothesis(study(tmp_path, "bigram_a", mix="none"), plugins=[str(path)])
    assert h.initial_config["hidden"] == [4, 32] and h.plugins == [str(path.resolve())]
    with pytest.raises(HypothesisError, match=r"hypothesis\.initial_config\.mix: mix: 'lstm' is not one of"):
        load_hypothesis(study(tmp_path, "bigram_a", mix="lstm"), plugins=[str(path)])
    with pytest.raises(HypothesisError, match=r"hypothesis\.initial_config\.hidden\[1\]: .*\[2, 256\]"):
        load_hypothesis(study(tmp_path, "bigram_a", hidden=[4, 1000]), plugins=[str(path)])
    with pytest.raises(HypothesisError, match=r"initial_config\.depth: .*'bigram_a' does not declare it"):
        load_hypothesis(study(tmp_path, "bigram_a", depth=2), plugins=[str(path)])


def test_a_plugin_listed_in_the_hypothesis_is_found_relative_to_the_file(tmp_path):
    plugin(tmp_path, "bigram_b")
    h = load_hypothesis(study(tmp_path, "bigram_b", plugins=["bigram_b_plugin.py"]))
    assert h.plugins == [str((tmp_path / "bigram_b_plugin.py").resolve())]


@pytest.mark.slow
def test_a_plugin_model_and_dataset_train_in_the_built_in_trainer_end_to_end(tmp_path):
    path = plugin(tmp_path, "bigram_c")
    run_dir = tmp_path / "run"
    done = loop("--hypothesis", study(tmp_path, "bigram_c", "bigram_c_cycle"), "--plugin", path,
                "--max-experiments", 2, "--out", run_dir, "--quiet")
    assert done.returncode == 0, done.stderr
    exps = [json.loads(line) for line in (run_dir / "research_log.jsonl").read_text().splitlines()
            if '"experiment"' in line]
    assert [e["status"] for e in exps] == ["completed", "completed"], exps[0].get("error")
    by_hidden = {e["config"]["hidden"]: e["metrics"] for e in exps}
    assert by_hidden[32]["n_params"] == 7 * 32 + 32 * 32 + 32 + 32 * 7 + 7  # built by the plugin
    assert by_hidden[4]["n_params"] == 7 * 4 + 4 * 4 + 4 + 4 * 7 + 7
    assert all(m["final_val_loss"] < m["val_curve"][0][1] for m in by_hidden.values())
    copy = yaml.safe_load((run_dir / "hypothesis.yaml").read_text())
    assert copy["hypothesis"]["plugins"] == [str(path.resolve())]  # a resume loads it again


BROKEN = {
    "missing file": (None, "no such file"),
    "raises": ("raise RuntimeError('no GPU driver here')", "raised RuntimeError: no GPU driver here"),
    "import fails": ("import not_a_module_anywhere", "not_a_module_anywhere"),
    "a factor declared twice": ("import models\nmodels.register_model('twice', lambda c, v: None, "
                                "[models.Factor('w', 1), models.Factor('w', 2)])", "declares factor 'w' twice"),
    "a built-in field as a factor": ("import models\nmodels.register_model('clash', lambda c, v: None, "
                                     "[models.Factor('dropout', 0.1)])", "built-in field"),
}


@pytest.mark.parametrize("body, why", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_plugin_is_refused_naming_it_and_why(tmp_path, body, why):
    path = tmp_path / "broken.py"
    if body is not None:
        path.write_text(body + "\n")
    hypothesis = study(tmp_path, "transformer_tiny")
    with pytest.raises(HypothesisError) as err:
        load_hypothesis(hypothesis, plugins=[str(path)])
    assert str(err.value).startswith(f"{hypothesis}: --plugin {path}: ") and why in str(err.value), str(err.value)
    with pytest.raises(HypothesisError, match=r"hypothesis\.plugins\[0\]: .*" + why.split(":")[0]):
        load_hypothesis(study(tmp_path, "transformer_tiny", plugins=[str(path)]))


def test_the_loop_exits_2_on_a_broken_plugin_and_writes_nothing(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('no GPU driver here')\n")
    run_dir = tmp_path / "run"
    done = loop("--hypothesis", study(tmp_path, "transformer_tiny"), "--plugin", path, "--out", run_dir)
    assert done.returncode == 2 and "no GPU driver here" in done.stderr, done.stderr
    assert not run_dir.exists()


def test_a_local_text_corpus_by_path_is_a_dataset_without_code(tmp_path):
    import datasets

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text("to be or not to be " * 200)
    (folder / "valid.txt").write_text("that is the question " * 50)
    one_file = tmp_path / "one.txt"
    one_file.write_text("abcdefghij" * 100)
    for path, n_train in ((folder, 19 * 200), (one_file, 900)):
        corpus = datasets.load(str(path))
        assert (len(corpus.train), corpus.vocab_size, corpus.unit) == (n_train, 256, "byte")
        assert datasets.n_train_samples(str(path), 8) == n_train // 9
    doc = {"hypothesis": {"claim": "c", "predictions": ["val loss lower with pre-norm vs post-norm"],
                          "initial_config": {"model": "transformer_tiny", "dataset": str(folder),
                                             "norm_position": ["pre", "post"], "seq_len": 8}}}
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_hypothesis(path).initial_config["dataset"] == str(folder.resolve())
    doc["hypothesis"]["initial_config"]["dataset"] = str(tmp_path / "nowhere")
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(HypothesisError, match=r"initial_config\.dataset: no such file or folder"):
        load_hypothesis(path)


def test_an_installed_package_registers_through_its_entry_point(tmp_path, monkeypatch):
    plugin(tmp_path, "bigram_d").rename(tmp_path / "bigram_d_pkg.py")
    info = tmp_path / "bigram_d_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bigram-d-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[research_loop.plugins]\nbigram_d = bigram_d_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    h = load_hypothesis(study(tmp_path, "bigram_d"))
    assert h.initial_config["model"] == "bigram_d" and h.plugins == []


def test_a_ray_task_loads_the_runs_plugins_too(ray_instance, tmp_path):
    import run_config
    from executor.base import RunPaths
    from executor.ray_backend import RayExecutor

    path = plugin(tmp_path, "bigram_e")
    load_hypothesis(study(tmp_path, "bigram_e"), plugins=[str(path)])  # the loop loads it first
    paths = RunPaths.under(tmp_path / "run")
    config = run_config.from_dict({"experiment_id": "exp_0001", "model": "bigram_e", "dataset": "synthetic", "hidden": 8,
                            "seq_len": 16, "batch_size": 4, "max_steps": 4, "eval_interval": 4, "eval_batches": 1,
                            "threads": 1, "metrics_path": str(paths.metrics("exp_0001")), "plugins": str(path)})
    executor = RayExecutor()
    result = executor.run(config, paths, 300)
    executor.close()
    assert result.status == "completed", (result.error, result.stderr_tail)
    assert json.loads(paths.metrics("exp_0001").read_text())["n_params"] == 16 * 8 + (8 * 8 + 8) + (8 * 16 + 16)  # synthetic: 16 symbols
