"""The dataset registry: synthetic language, subsets, local dirs, cache and download."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

import datasets
from datasets import synthetic
from datasets.text import RemoteFile, Split, TextDataset

TRAIN = b"The quick brown fox jumps over the lazy dog. " * 40
VALID = b"Pack my box with five dozen liquor jugs. " * 10


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No user data dir, and a cache inside tmp_path."""
    monkeypatch.delenv("RESEARCH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def register_toy(monkeypatch, source: Path, train_sha=None, valid_sha=None):
    """A two-file corpus like wikitext-2, fetched from file:// URLs under `source`."""
    ds = TextDataset(
        name="toy",
        files=(RemoteFile("train.txt", (source / "train.txt").as_uri(), train_sha or sha(TRAIN), len(TRAIN)),
               RemoteFile("valid.txt", (source / "valid.txt").as_uri(), valid_sha or sha(VALID), len(VALID))),
        train=Split("train.txt"), val=Split("valid.txt"))
    monkeypatch.setitem(datasets.DATASETS, "toy", ds)
    return ds


def write_files(folder: Path, train=TRAIN, valid=VALID) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if train is not None:
        (folder / "train.txt").write_bytes(train)
    (folder / "valid.txt").write_bytes(valid)
    return folder


def test_unknown_dataset_error_lists_the_valid_names():
    with pytest.raises(ValueError, match="synthetic, tinyshakespeare, wikitext-2"):
        datasets.load("imagenet")


def test_synthetic_entropy_rate_matches_the_empirical_log_loss_of_its_samples():
    lang = synthetic.language()
    x = np.concatenate([lang.train, lang.val]).astype(np.int64)
    v = lang.counts.shape[1]
    probs = lang.counts[x[:-2] * v + x[1:-1], x[2:]] / synthetic.QUANT
    assert -np.log(probs).mean() == pytest.approx(lang.entropy_rate, abs=0.02)


def test_synthetic_stationary_distribution_is_invariant_under_the_chain():
    lang = synthetic.language()
    v = lang.counts.shape[1]
    flow = (lang.stationary[:, None] * lang.counts / synthetic.QUANT).reshape(v, v, v).sum(0).ravel()
    assert np.allclose(flow, lang.stationary, atol=1e-12)


def test_synthetic_corpus_exposes_its_floor_and_is_generated_deterministically():
    synthetic.language.cache_clear()
    first = datasets.load("synthetic")
    synthetic.language.cache_clear()
    second = datasets.load("synthetic")
    assert first.sha256 == second.sha256 and np.array_equal(first.val, second.val)
    assert 0 < first.entropy_floor < np.log(first.vocab_size)
    assert (len(first.train), len(first.val), first.unit) == (200_000, 20_000, "token")


def test_smaller_fractions_are_deterministic_subsets_of_larger_ones():
    corpus = datasets.load("synthetic")
    rows = {f: {r.tobytes() for r in datasets.train_sequences(corpus, 32, f)} for f in (0.1, 0.5, 1.0)}
    assert rows[0.1] < rows[0.5] < rows[1.0]
    again = datasets.train_sequences(corpus, 32, 0.1)
    assert np.array_equal(again, datasets.train_sequences(corpus, 32, 0.1))


def test_a_seeds_subset_is_nested_across_fractions_shared_by_its_arms_and_differs_between_seeds():
    corpus = datasets.load("synthetic")
    rows = lambda f, seed: {r.tobytes() for r in datasets.train_sequences(corpus, 32, f, seed)}  # noqa: E731
    for seed in (0, 1):
        assert rows(0.1, seed) < rows(0.5, seed) < rows(1.0, seed)
        assert rows(0.1, seed) == rows(0.1, seed)  # both arms of a pair: same seed, same data
    assert rows(0.1, 0) != rows(0.1, 1) and len(rows(0.1, 0)) == len(rows(0.1, 1))
    assert rows(1.0, 0) == rows(1.0, 1)  # the whole split is the whole split
    assert rows(0.1, None) != rows(0.1, 0)  # the fixed subset stays available


def test_the_trainer_draws_the_subset_from_the_run_seed_unless_told_fixed(tmp_path):
    from run_config import TrainConfig
    from executor.train import prepare
    import torch

    def subset(**kw):
        config = TrainConfig(dataset="synthetic", seq_len=32, dataset_fraction=0.1, **kw)
        return prepare(config, torch.device("cpu"))[1]

    assert torch.equal(subset(seed=3), subset(seed=3)) and not torch.equal(subset(seed=3), subset(seed=4))
    assert torch.equal(subset(seed=3, data_subset="fixed"), subset(seed=4, data_subset="fixed"))


def test_train_sequences_are_non_overlapping_chunks_of_seq_len_plus_one():
    corpus = datasets.load("synthetic")
    seqs = datasets.train_sequences(corpus, 9, 1.0)
    assert seqs.shape == (200_000 // 10, 10)
    assert np.array_equal(seqs.ravel(), corpus.train[: seqs.size])


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_fraction_outside_zero_one_is_rejected(fraction):
    with pytest.raises(ValueError, match="dataset_fraction"):
        datasets.n_train_samples("synthetic", 32, fraction)


@pytest.mark.parametrize("seq_len,fraction", [(32, 1.0), (64, 0.1), (255, 0.003), (1000, 0.0001)])
def test_n_train_samples_agrees_with_train_sequences_without_loading(seq_len, fraction):
    corpus = datasets.load("synthetic")
    expected = len(datasets.train_sequences(corpus, seq_len, fraction))
    assert datasets.n_train_samples("synthetic", seq_len, fraction) == expected


def test_n_train_samples_counts_the_90_percent_train_split_of_tinyshakespeare():
    assert datasets.n_train_samples("tinyshakespeare", 256, 1.0) == int(1_115_394 * 0.9) // 257


def test_n_train_samples_is_unknown_when_the_train_size_is_not_pinned():
    assert datasets.n_train_samples("wikitext-2", 256, 1.0) is None


def test_local_dir_with_matching_checksums_loads_bytes_without_warning(tmp_path, monkeypatch, capsys):
    register_toy(monkeypatch, tmp_path / "nowhere")
    corpus = datasets.load("toy", data_dir=write_files(tmp_path / "data"))
    assert corpus.train.tobytes() == TRAIN and corpus.val.tobytes() == VALID
    assert corpus.vocab_size == 256 and corpus.unit == "byte"
    assert "warning" not in capsys.readouterr().err


def test_local_dir_with_wrong_checksum_warns_with_the_actual_sha_and_continues(tmp_path, monkeypatch, capsys):
    register_toy(monkeypatch, tmp_path / "nowhere", train_sha="0" * 64)
    corpus = datasets.load("toy", data_dir=write_files(tmp_path / "data"))
    err = capsys.readouterr().err
    assert "warning" in err and sha(TRAIN) in err
    assert corpus.train.tobytes() == TRAIN


def test_a_subfolder_named_after_the_dataset_is_found_through_the_env_var(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "nowhere")
    write_files(tmp_path / "data" / "toy")
    monkeypatch.setenv("RESEARCH_DATA_DIR", str(tmp_path / "data"))
    assert datasets.load("toy").val.tobytes() == VALID


def test_a_dir_missing_train_txt_names_the_file_and_the_dir(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "nowhere")
    folder = write_files(tmp_path / "partial", train=None)
    with pytest.raises(datasets.DatasetUnavailable, match=rf"train\.txt is missing from {folder}"):
        datasets.load("toy", data_dir=folder)


def test_offline_and_uncached_raises_dataset_unavailable_with_instructions(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "nowhere")
    with pytest.raises(datasets.DatasetUnavailable) as info:
        datasets.load("toy")
    message = str(info.value)
    for hint in ((tmp_path / "nowhere" / "train.txt").as_uri(), str(tmp_path / "cache" / "research-loop" / "toy"),
                 "--data-dir", "RESEARCH_DATA_DIR"):
        assert hint in message


def test_download_is_verified_cached_and_reused(tmp_path, monkeypatch):
    source = write_files(tmp_path / "server")
    register_toy(monkeypatch, source)
    first = datasets.load("toy")
    for f in source.iterdir():
        f.unlink()  # the "server" goes away: the second load must come from the cache
    second = datasets.load("toy")
    assert first.train.tobytes() == second.train.tobytes() == TRAIN
    assert (tmp_path / "cache" / "research-loop" / "toy" / "train.txt").read_bytes() == TRAIN


def test_downloaded_file_with_wrong_checksum_is_rejected_and_not_kept(tmp_path, monkeypatch):
    register_toy(monkeypatch, write_files(tmp_path / "server"), valid_sha="f" * 64)
    with pytest.raises(datasets.ChecksumMismatch, match=sha(VALID)):
        datasets.load("toy")
    cache = tmp_path / "cache" / "research-loop" / "toy"
    assert not (cache / "valid.txt").exists() and not list(cache.glob("*.part"))


def test_single_file_corpus_splits_first_90_percent_train_last_10_percent_val(tmp_path, monkeypatch):
    data = bytes(range(256)) * 4
    ds = TextDataset("one", (RemoteFile("input.txt", "file:///none", sha(data), len(data)),),
                     Split("input.txt", 0.0, 0.9), Split("input.txt", 0.9, 1.0))
    monkeypatch.setitem(datasets.DATASETS, "one", ds)
    (tmp_path / "input.txt").write_bytes(data)
    corpus = datasets.load("one", data_dir=tmp_path)
    cut = int(len(data) * 0.9)
    assert corpus.train.tobytes() == data[:cut] and corpus.val.tobytes() == data[cut:]
    assert corpus.sha256 == sha(data)



def test_a_training_run_never_downloads_a_corpus_the_loop_has_not_prepared(tmp_path, monkeypatch):
    source = write_files(tmp_path / "server")
    register_toy(monkeypatch, source)
    with pytest.raises(datasets.DatasetUnavailable, match="a training run never downloads"):
        datasets.load("toy", fetch=False)
    assert not (tmp_path / "cache" / "research-loop" / "toy" / "train.txt").exists()


def test_prepare_fetches_and_verifies_once_so_runs_find_the_corpus_in_the_cache(tmp_path, monkeypatch, capsys):
    source = write_files(tmp_path / "server")
    register_toy(monkeypatch, source)
    checksum = datasets.prepare("toy")
    assert "toy: downloading" in capsys.readouterr().err  # progress on stderr
    for f in source.iterdir():
        f.unlink()
    corpus = datasets.load("toy", fetch=False)
    assert corpus.train.tobytes() == TRAIN and corpus.sha256 == checksum
    assert datasets.prepare("toy") == checksum  # already there: verified, nothing fetched
    assert "downloading" not in capsys.readouterr().err


def test_prepare_of_generated_data_needs_nothing():
    assert datasets.prepare("synthetic") is None


def test_a_window_longer_than_a_split_is_named_with_the_split():
    datasets.check_seq_len("synthetic", 19999)
    with pytest.raises(ValueError, match="seq_len=20000 is longer than synthetic's 20000-token val split"):
        datasets.check_seq_len("synthetic", 20000)
