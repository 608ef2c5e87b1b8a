"""The command line, in process (``main([...])``) and once through the installed console script.

Expected problems must print one clear ``fashion-desktop: ...`` line and exit non-zero, never a
traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fd_testdata import REPO_ROOT, item_metadata, snapshot_tree, toy_embeddings, write_toy_index
from PIL import Image

from fashion_desktop import resources
from fashion_desktop.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, build_parser, main
from fashion_desktop.cli.common import scoring_of
from fashion_desktop.cli.train import alignment_weights, mixed_training_config, training_config
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.filters import Filters

RESULT_KEYS = {"rank", "id", "score", "similarity", "image", "metadata"}


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check_response_schema(answer: dict, k: int) -> None:
    assert set(answer) <= {
        "query",
        "results",
        "timings_ms",
        "predicted",
        "scoring",
        "garment_box",
        "query_kind",
    }
    assert {"query", "results", "timings_ms", "scoring"} <= set(answer)
    assert isinstance(answer["query"], str)
    assert len(answer["results"]) == k
    for rank, result in enumerate(answer["results"], start=1):
        assert set(result) == RESULT_KEYS
        assert result["rank"] == rank
        assert isinstance(result["id"], str) and isinstance(result["score"], float)
        assert os.path.isabs(result["image"]) and Path(result["image"]).is_file()
        assert isinstance(result["metadata"], dict)
        assert result["metadata"]["id"] == result["id"]
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)
    assert "embed" in answer["timings_ms"]
    assert all(isinstance(v, (int, float)) for v in answer["timings_ms"].values())


# --------------------------------------------------------------------------- parsing
def test_filter_options_group_values_by_field() -> None:
    # `--filter FIELD=VALUE` (search and the window) is parsed by the core's Filters.parse.
    parsed = Filters.parse(["gender=Men", "baseColour=Blue", "baseColour= Navy Blue "])
    assert parsed.to_dict() == {"gender": ["Men"], "baseColour": ["Blue", "Navy Blue"]}
    assert Filters.parse(None).to_dict() == {}
    for bad in ("gender", "=Men", "gender=", " = "):
        with pytest.raises(FashionDesktopError, match="should look like FIELD=VALUE"):
            Filters.parse([bad])


# ------------------------------------------------------------------ defaults from the core
def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def help_of(*command: str) -> str:
    parser = build_parser()
    for name in command:  # the subparsers action of each level, then the named parser
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name].populate()  # a command's arguments are added on first use
    return " ".join(parser.format_help().split())  # the formatter's line breaks undone


def core_default(function, parameter: str):
    return inspect.signature(function).parameters[parameter].default


def test_train_defaults_are_the_training_configs() -> None:
    from fashion_desktop.core.training import MixedTrainingConfig, TrainingConfig

    args = parse("train", "CATALOG", "--out", "X")
    # Every option: the config the CLI builds equals the config class's own defaults.
    assert training_config(args) == TrainingConfig(catalogue="CATALOG", out="X")
    assert mixed_training_config(args) == MixedTrainingConfig()
    assert alignment_weights(args) == [MixedTrainingConfig().alignment_weight]
    # And the options that map one to one hold the dataclass's values as parsed.
    for dest in ("init", "val_fraction", "epochs", "min_class_count", "class_weighting"):
        assert getattr(args, dest) == getattr(TrainingConfig, dest), dest
    for dest in ("patience", "projection_dim", "photo_views", "instance_weight", "precision"):
        assert getattr(args, dest) == getattr(TrainingConfig, dest), dest
    assert args.workers == TrainingConfig.workers
    assert args.labels.split(",") == list(TrainingConfig.labels)
    assert args.seconds == MixedTrainingConfig.seconds
    # Options shared by both trainers with different defaults: the help names both.
    text = help_of("train")
    assert f"images per step (default {TrainingConfig.batch_size};" in text
    assert f"items per step, default {MixedTrainingConfig.catalogue_batch})" in text
    assert f"0-5 (default {TrainingConfig.freeze_backbone}:" in text
    assert f"with --photos {MixedTrainingConfig.frozen_stages})" in text
    assert f"Adam (default {TrainingConfig.learning_rate:g}; with --photos" in text


def test_train_options_override_the_defaults() -> None:
    from fashion_desktop.core.training import MixedTrainingConfig, TrainingConfig

    args = parse(
        *("train", "C", "--out", "X", "--batch-size", "3", "--freeze-backbone", "0"),
        *("--learning-rate", "0.5", "--seed", "7", "--no-augment", "--labels", "gender, x"),
        *("--photo-views", "0.5", "--instance-weight", "0.25"),
    )
    config = training_config(args)
    assert (config.batch_size, config.freeze_backbone, config.learning_rate) == (3, 0, 0.5)
    assert (config.seed, config.augment, config.labels) == (7, False, ("gender", "x"))
    mixed = mixed_training_config(args)
    assert (mixed.catalogue_batch, mixed.frozen_stages, mixed.learning_rate) == (3, 0, 0.5)
    assert mixed.seed == 7
    # --photo-views: that share of the catalogue batch as simulated photos paired with their items
    assert (mixed.instance_views, mixed.instance_weight) == (2, 0.25)
    assert TrainingConfig.seed == MixedTrainingConfig.seed == 0  # the default both fall back to
    with pytest.raises(FashionDesktopError, match="at least one column"):
        training_config(parse("train", "C", "--out", "X", "--labels", " , "))
    with pytest.raises(FashionDesktopError, match="takes numbers"):
        alignment_weights(parse("train", "C", "--out", "X", "--alignment-weights", "a"))


def test_search_evaluate_index_model_and_kiosk_defaults_are_the_cores() -> None:
    from fashion_desktop.core.builder import build_index
    from fashion_desktop.core.evaluation import DEFAULT_FIELDS, evaluate
    from fashion_desktop.core.export import DEFAULT_CALIBRATION_IMAGES, export_model
    from fashion_desktop.core.index import DEFAULT_PROJECTED_DIM, PROJECT_ABOVE_ITEMS
    from fashion_desktop.core.kiosk_config import CONFIG_FILE_NAME
    from fashion_desktop.core.kiosk_pin import MAX_PIN_LENGTH, MIN_PIN_LENGTH
    from fashion_desktop.core.localise import DEFAULT_LOCALISE, LOCALISE_MODES
    from fashion_desktop.core.scoring import DEFAULT_SCORING
    from fashion_desktop.core.search import DEFAULT_K

    for args in (parse("search", "x.jpg"), parse("evaluate", "--index", "i")):
        assert args.k == DEFAULT_K
        assert args.localise == DEFAULT_LOCALISE
        assert args.match_colour == DEFAULT_SCORING.match_colour and not args.cosine_only
        assert scoring_of(args) == DEFAULT_SCORING
    assert core_default(evaluate, "k") == DEFAULT_K  # evaluation.py has no constant of its own
    assert f"results per query (default {DEFAULT_K})" in help_of("search")
    assert f"{{{','.join(LOCALISE_MODES)}}}" in help_of("search")
    assert f"(default: {','.join(DEFAULT_FIELDS)})" in help_of("evaluate")

    build = parse("index", "build", "CATALOG", "--out", "X")
    assert build.dim == core_default(build_index, "dim")
    assert build.batch_size is None  # the embedder's DEFAULT_BATCH_SIZE (load_embedder)
    assert f"auto (PCA to {DEFAULT_PROJECTED_DIM} above {PROJECT_ABOVE_ITEMS:,} items)" in help_of(
        "index", "build"
    )

    export = parse("model", "export", "bundled", "--out", "X")
    assert export.calibration_images == DEFAULT_CALIBRATION_IMAGES
    assert export.keep_float == core_default(export_model, "keep_float")
    assert export.int8 == core_default(export_model, "int8")

    assert f"Set the {MIN_PIN_LENGTH}-{MAX_PIN_LENGTH} digit PIN" in help_of("kiosk", "set-pin")
    assert f"default: {CONFIG_FILE_NAME} in the user data folder" in help_of()  # window options


def test_parser_imports_a_commands_core_modules_only_when_it_is_used(tmp_path: Path) -> None:
    # `fashion-desktop --help` and the window's start pay for no command's defaults.
    code = textwrap.dedent(
        """
        import json, sys
        from fashion_desktop.cli import build_parser
        build_parser().format_help()
        build_parser().parse_args(["--kiosk"])
        before = sorted({m.split(".")[0] for m in sys.modules} | set(sys.modules))
        build_parser().parse_args(["train", "C", "--out", "X"])
        heavy = {"tensorflow", "keras", "jax", "PySide6", "ai_edge_litert"}
        print(json.dumps([before, sorted({m.split(".")[0] for m in sys.modules} & heavy),
                          "fashion_desktop.core.training" in sys.modules]))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    before, heavy, training = json.loads(completed.stdout)
    commands = ("training", "search", "evaluation", "export", "index", "builder", "kiosk_pin")
    loaded = {"numpy", "PIL"} | {f"fashion_desktop.core.{name}" for name in commands}
    assert loaded.isdisjoint(before), sorted(loaded & set(before))
    assert heavy == [] and training


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "fashion-desktop" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "x.jpg", "-k", "many"])
    assert exit_info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


# ------------------------------------------------------------------------------ index
@pytest.mark.model
def test_index_build_update_and_info(capsys, cached_model_loading, make_catalogue, tmp_path):
    folder = make_catalogue(range(12))
    (folder / "images" / "1003.jpg").write_bytes(b"")  # unreadable: skipped, named
    (folder / "images" / "1011.jpg").unlink()  # row without image: a catalogue problem
    out = tmp_path / "my index"
    build = ("index", "build", folder, "--out", out, "--weights", "random")
    code, stdout, stderr = run(capsys, *build)
    assert code == EXIT_OK
    assert "11 items; problems: 1 missing-image" in stderr
    assert "no image images/1011.jpg" in stderr
    assert "skipped" in stderr and "1003.jpg" in stderr and "empty (0 bytes)" in stderr
    assert f"Index written to {out}: 10 items (10 embedded, 0 reused, 0 removed, 1 skipped)" in (
        stdout
    )
    code, stdout, _ = run(
        capsys, "index", "build", folder, "--out", out, "--weights", "random", "--update"
    )
    assert code == EXIT_OK and "10 items (0 embedded, 10 reused, 0 removed" in stdout
    code, stdout, _ = run(capsys, "index", "info", out)
    assert code == EXIT_OK
    assert "items:      10" in stdout and "2048-d float32" in stdout
    assert "random-init(seed=0)" in stdout and "articleType" in stdout


@pytest.mark.model
def test_index_build_with_projection(capsys, cached_model_loading, tiny_catalogue_dir, tmp_path):
    out = tmp_path / "index"
    args = ("index", "build", tiny_catalogue_dir, "--out", out, "--weights", "random")
    code, stdout, _ = run(capsys, *args, "--dim", "8")
    assert code == EXIT_OK and "8-d vectors" in stdout
    code, stdout, _ = run(capsys, "index", "info", out)
    assert "8-d float32 (PCA of 2048-d)" in stdout


@pytest.mark.model
def test_index_build_bad_dim(capsys, cached_model_loading, tiny_catalogue_dir, tmp_path) -> None:
    out = tmp_path / "index"
    args = ("index", "build", tiny_catalogue_dir, "--out", out, "--weights", "random")
    code, _, stderr = run(capsys, *args, "--dim", "lots")
    assert code == EXIT_FAILED and "fashion-desktop: --dim must be" in stderr
    assert not out.exists()


def test_sigterm_stops_a_long_job_as_ctrl_c_does_and_only_while_it_runs() -> None:
    import signal
    import time

    from fashion_desktop.cli.common import stop_on_terminate

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_on_terminate():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this at once
    assert signal.getsignal(signal.SIGTERM) == before


def test_index_ann_adds_and_drops_the_structure_without_re_embedding(capsys, tmp_path) -> None:
    index = write_toy_index(
        tmp_path / "index", toy_embeddings(300), [item_metadata(i) for i in range(300)]
    )
    code, stdout, _ = run(capsys, "index", "ann", index, "on")
    assert code == EXIT_OK and "structure built; nothing was re-embedded" in stdout
    assert "search:     approximate" in stdout
    code, stdout, _ = run(capsys, "index", "ann", index, "on")
    assert code == EXIT_OK and "Nothing to change" in stdout
    code, stdout, _ = run(capsys, "index", "ann", index, "auto")  # 300 items: below the threshold
    assert code == EXIT_OK and "structure dropped" in stdout and "search:     exact" in stdout
    code, _, stderr = run(capsys, "index", "ann", tmp_path / "missing", "on")
    assert code == EXIT_FAILED and "Index not found" in stderr


def test_index_build_refuses_a_folder_of_other_files(
    capsys, cached_model_loading, tiny_catalogue_dir, tmp_path
) -> None:
    out = tmp_path / "Documents"
    out.mkdir()
    (out / "letter.txt").write_text("keep", encoding="utf-8")
    before = snapshot_tree(out)
    code, _, stderr = run(
        capsys, "index", "build", tiny_catalogue_dir, "--out", out, "--weights", "random"
    )
    assert code == EXIT_FAILED and "is not a Fashion Desktop index" in stderr
    assert snapshot_tree(out) == before


@pytest.mark.model
@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_interrupted_build_exits_130_and_keeps_nothing_half_written(
    capsys, cached_model_loading, random_embedder, tiny_catalogue_dir, tmp_path, monkeypatch, stop
) -> None:
    import signal
    import time

    def interrupted(images):
        if stop == "sigterm":  # as `kill PID` would: the handler stops the build
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        raise KeyboardInterrupt

    monkeypatch.setattr(random_embedder, "embed_batch", interrupted)
    out = tmp_path / "index"
    code, _, stderr = run(
        capsys, "index", "build", tiny_catalogue_dir, "--out", out, "--weights", "random"
    )
    assert code == EXIT_INTERRUPTED
    assert "Interrupted" in stderr and "again to resume" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda tmp: tmp / "absent", "Catalogue not found"),
        (lambda tmp: tmp, "No metadata CSV"),
    ],
)
def test_index_build_bad_catalogue(capsys, tmp_path, setup, expected) -> None:
    code, _, stderr = run(
        capsys, "index", "build", setup(tmp_path), "--out", tmp_path / "i", "--weights", "random"
    )
    assert code == EXIT_FAILED and f"fashion-desktop: {expected}" in stderr
    assert not (tmp_path / "i").exists()


def test_index_build_bad_batch_size(capsys, tiny_catalogue_dir, tmp_path) -> None:
    code, _, stderr = run(
        capsys, "index", "build", tiny_catalogue_dir, "--out", tmp_path / "i", "--batch-size", "0"
    )
    assert code == EXIT_FAILED and "--batch-size must be at least 1" in stderr


def test_index_info_of_a_missing_index(capsys, tmp_path) -> None:
    code, stdout, stderr = run(capsys, "index", "info", tmp_path / "none")
    assert code == EXIT_FAILED and stdout == ""
    assert stderr.startswith("fashion-desktop: Index not found")


def test_index_info_of_a_corrupted_index(capsys, copied_tiny_index) -> None:
    (copied_tiny_index / "vectors.npy").write_bytes(b"\x93NUMPY broken")
    code, _, stderr = run(capsys, "index", "info", copied_tiny_index)
    assert code == EXIT_FAILED and "is corrupted" in stderr


# ----------------------------------------------------------------------------- search
@pytest.mark.model
def test_search_json_schema(capsys, cached_model_loading, tiny_index_dir, tiny_catalogue_dir):
    first = tiny_catalogue_dir / "images" / "1002.jpg"
    second = tiny_catalogue_dir / "images" / "1013.jpg"
    code, stdout, stderr = run(
        capsys, "search", first, second, "--index", tiny_index_dir, "--weights", "random", "--json"
    )
    assert code == EXIT_OK, stderr
    answers = json_lines(stdout)
    assert len(answers) == 2
    for answer, query in zip(answers, (first, second), strict=True):
        check_response_schema(answer, 5)
        assert answer["query"] == str(query)
        assert "predicted" not in answer  # the random model has no classifier heads
        assert query.stem not in [r["id"] for r in answer["results"]]  # itself never returned


@pytest.mark.model
def test_search_with_filters_and_k(capsys, cached_model_loading, tiny_index_dir, tmp_path):
    query = tmp_path / "query.png"
    Image.new("RGB", (40, 60), (200, 30, 30)).save(query)
    code, stdout, _ = run(
        capsys,
        "search",
        query,
        "--index",
        tiny_index_dir,
        "--weights",
        "random",
        "--json",
        "-k",
        "3",
        "--filter",
        "gender=women",
        "--filter",
        "baseColour=Blue",
        "--filter",
        "baseColour=Green",
    )
    assert code == EXIT_OK
    [answer] = json_lines(stdout)
    check_response_schema(answer, 3)
    for result in answer["results"]:
        assert result["metadata"]["gender"] == "Women"
        assert result["metadata"]["baseColour"] in {"Blue", "Green"}


@pytest.mark.model
def test_unreadable_query_among_several(
    capsys, cached_model_loading, tiny_index_dir, tiny_catalogue_dir, tmp_path
) -> None:
    broken = tmp_path / "broken photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    good = [tiny_catalogue_dir / "images" / f"{i}.jpg" for i in (1001, 1008)]
    code, stdout, stderr = run(
        capsys,
        "search",
        good[0],
        broken,
        good[1],
        "--index",
        tiny_index_dir,
        "--weights",
        "random",
        "--json",
    )
    assert code == EXIT_FAILED
    assert "fashion-desktop: broken photo.jpg" in stderr
    assert [answer["query"] for answer in json_lines(stdout)] == [str(p) for p in good]


def test_all_queries_unreadable(capsys, tiny_index_dir, tmp_path) -> None:
    code, stdout, stderr = run(
        capsys, "search", tmp_path / "a.jpg", tmp_path / "b.jpg", "--index", tiny_index_dir
    )
    assert code == EXIT_FAILED and stdout == ""
    assert stderr.count("fashion-desktop: No such file") == 2


@pytest.mark.model
def test_human_readable_search_output(capsys, cached_model_loading, tiny_index_dir, tmp_path):
    query = tmp_path / "shirt.jpg"
    Image.new("RGB", (30, 40), (30, 40, 190)).save(query)
    code, stdout, _ = run(
        capsys, "search", query, "--index", tiny_index_dir, "--weights", "random", "-k", "2"
    )
    assert code == EXIT_OK
    assert str(query) in stdout and "  1. " in stdout and "  2. " in stdout
    assert "  3. " not in stdout
    assert "embed" in stdout and " ms" in stdout


def test_bad_filter_syntax(capsys, tiny_index_dir, tiny_catalogue_dir) -> None:
    code, stdout, stderr = run(
        capsys,
        "search",
        tiny_catalogue_dir / "images" / "1000.jpg",
        "--index",
        tiny_index_dir,
        "--filter",
        "gender:Men",
    )
    assert code == EXIT_FAILED and stdout == ""
    assert "Filter 'gender:Men' should look like FIELD=VALUE" in stderr


def test_unknown_filter_field(capsys, tiny_index_dir, tiny_catalogue_dir) -> None:
    code, _, stderr = run(
        capsys,
        "search",
        tiny_catalogue_dir / "images" / "1000.jpg",
        "--index",
        tiny_index_dir,
        "--filter",
        "colour=Red",
    )
    assert code == EXIT_FAILED
    assert (
        "Unknown filter field colour; this catalogue's fields are: id, gender, articleType"
        in stderr
    )


@pytest.mark.model
def test_filter_value_nobody_has_warns_with_suggestions(
    capsys, cached_model_loading, tiny_index_dir, tiny_catalogue_dir
) -> None:
    code, stdout, stderr = run(
        capsys,
        "search",
        tiny_catalogue_dir / "images" / "1000.jpg",
        "--index",
        tiny_index_dir,
        "--weights",
        "random",
        "--filter",
        "baseColour=Yelow",
        "--json",
    )
    assert code == EXIT_OK
    assert "warning: No item has baseColour=Yelow. Did you mean Yellow?" in stderr
    assert json_lines(stdout)[0]["results"] == []


@pytest.mark.parametrize("k", ["0", "-3"])
def test_k_must_be_positive(capsys, tiny_index_dir, tiny_catalogue_dir, k) -> None:
    code, _, stderr = run(
        capsys,
        "search",
        tiny_catalogue_dir / "images" / "1000.jpg",
        "--index",
        tiny_index_dir,
        "-k",
        k,
    )
    assert code == EXIT_FAILED and "-k must be at least 1" in stderr


def test_search_missing_index(capsys, tiny_catalogue_dir, tmp_path) -> None:
    code, _, stderr = run(
        capsys, "search", tiny_catalogue_dir / "images" / "1000.jpg", "--index", tmp_path / "x"
    )
    assert code == EXIT_FAILED and "Index not found" in stderr


def test_search_without_any_weights(
    capsys, tiny_index_dir, tiny_catalogue_dir, tmp_path, monkeypatch
) -> None:
    empty = tmp_path / "no-resources"
    empty.mkdir()
    monkeypatch.setattr(resources, "resources_root", lambda: empty)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    code, stdout, stderr = run(
        capsys, "search", tiny_catalogue_dir / "images" / "1000.jpg", "--index", tiny_index_dir
    )
    assert code == EXIT_FAILED and stdout == ""
    assert "fashion-desktop: No model available. Options:" in stderr


@pytest.mark.model
def test_search_with_a_model_the_index_was_not_built_with(
    capsys, cached_model_loading, bundled_embedder, tiny_index_dir, tiny_catalogue_dir
) -> None:
    code, stdout, stderr = run(
        capsys, "search", tiny_catalogue_dir / "images" / "1000.jpg", "--index", tiny_index_dir
    )
    assert code == EXIT_FAILED and stdout == ""
    assert "was built with another model" in stderr
    assert "random-init(seed=0)" in stderr and "resnet50_fashion.f16.npz" in stderr


# --------------------------------------------------------------------------- evaluate
@pytest.mark.model
def test_evaluate_leave_one_out_json(capsys, tiny_index_dir) -> None:
    code, stdout, _ = run(
        capsys, "evaluate", "--index", tiny_index_dir, "--fields", "gender, baseColour", "--json"
    )
    assert code == EXIT_OK
    report = json.loads(stdout)
    assert report["mode"] == "leave-one-out" and report["k"] == 5
    assert report["queries"] == report["index_items"] == 20 and report["skipped"] == 0
    assert set(report["fields"]) == {"gender", "baseColour"}
    for scores in report["fields"].values():
        assert set(scores) == {"queries", "precision", "recall", "map", "hit_rate"}
        assert all(0.0 <= scores[m] <= 1.0 for m in ("precision", "recall", "map", "hit_rate"))


@pytest.mark.model
def test_evaluate_with_query_catalogue_table(
    capsys, cached_model_loading, tiny_index_dir, make_catalogue
) -> None:
    queries = make_catalogue(range(30, 34), "queries")
    code, stdout, _ = run(
        capsys,
        "evaluate",
        "--index",
        tiny_index_dir,
        "--queries",
        queries,
        "--weights",
        "random",
        "--fields",
        "articleType",
        "-k",
        "3",
    )
    assert code == EXIT_OK
    assert "k = 3" in stdout and "catalogue-style: 4 queries against 20 items" in stdout
    assert "articleType" in stdout and "P@k" in stdout


def test_evaluate_errors(capsys, tiny_index_dir, tmp_path) -> None:
    code, _, stderr = run(capsys, "evaluate", "--index", tiny_index_dir, "-k", "0")
    assert code == EXIT_FAILED and "-k must be at least 1" in stderr
    code, _, stderr = run(capsys, "evaluate", "--index", tiny_index_dir)
    assert code == EXIT_FAILED and "The index has no field masterCategory" in stderr
    code, _, stderr = run(capsys, "evaluate", "--index", tmp_path / "none")
    assert code == EXIT_FAILED and "Index not found" in stderr


# -------------------------------------------------------------- the real console script
@pytest.mark.model
@pytest.mark.slow
def test_console_script_searches_the_demo_with_the_bundled_model(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "fashion-desktop"
    if not script.is_file():
        pytest.skip("console script not installed in this environment")
    demo_images = resources.demo_catalogue_path() / "images"
    if not resources.demo_index_path().is_dir() or not demo_images.is_dir():
        pytest.skip("demo index absent")
    source = sorted(demo_images.glob("*.jpg"))[7]
    query = tmp_path / "phone photo ü.jpg"  # not byte-identical: the item itself may match
    Image.open(source).convert("RGB").save(query, quality=75)
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(source.read_bytes()[:100])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("FASHION_DESKTOP_WEIGHTS", None)
    completed = subprocess.run(
        [str(script), "search", str(query), str(broken), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == EXIT_FAILED  # one of the two queries was unreadable
    assert "fashion-desktop: truncated.jpg is damaged or incomplete" in completed.stderr
    [answer] = json_lines(completed.stdout)
    check_response_schema(answer, 5)
    assert answer["results"][0]["id"] == source.stem, "a re-encoded item should find itself"
    assert set(answer["predicted"]) == {"articleType", "baseColour", "gender"}
    for ranked in answer["predicted"].values():
        assert len(ranked) == 3 and all(isinstance(p, float) for _, p in ranked)
    assert (
        str(REPO_ROOT) in answer["results"][0]["image"]
        or Path(answer["results"][0]["image"]).is_file()
    )


def test_index_info_of_the_demo(capsys) -> None:
    if not (resources.demo_index_path() / "manifest.json").is_file():
        pytest.skip("demo index absent")
    code, stdout, _ = run(capsys, "index", "info", resources.demo_index_path())
    assert code == EXIT_OK and "resnet50_fashion.f16.npz" in stdout
    assert f"catalogue:  {resources.demo_catalogue_path().resolve()}" in stdout


def test_demo_index_finds_its_catalogue_when_moved(tmp_path: Path) -> None:
    from fashion_desktop.core.index import EmbeddingIndex

    if not (resources.demo_index_path() / "manifest.json").is_file():
        pytest.skip("demo index absent")
    moved = tmp_path / "elsewhere" / "demo"
    shutil.copytree(resources.demo_index_path(), moved / "index")
    shutil.copytree(resources.demo_catalogue_path(), moved / "catalog")
    index = EmbeddingIndex.open(moved / "index")
    try:
        assert index.catalogue_root == (moved / "catalog").resolve()
        assert index.item(0).image_path.is_file()
    finally:
        index.close()


@pytest.mark.model
def test_search_localises_photos_and_ranks_with_labels(capsys, cached_model_loading, tmp_path):
    """The bundled model and demo index: a photo is searched on the garment box the model finds
    (whole with --localise never), a product shot whole; ranking options apply."""
    import numpy as np

    from fashion_desktop.core.photosim import simulate_photo
    from fashion_desktop.resources import demo_catalogue_path, demo_index_path

    product = sorted((demo_catalogue_path() / "images").iterdir())[5]
    photo = tmp_path / "photo.jpg"
    simulate_photo(Image.open(product).convert("RGB"), np.random.default_rng(5)).image.save(photo)

    def search(*options):
        code, stdout, stderr = run(
            capsys, "search", product, photo, "--index", demo_index_path(), "--json", *options
        )
        assert code == EXIT_OK, stderr
        return json_lines(stdout)

    shot, picture = search()
    assert "garment_box" not in shot and len(picture["garment_box"]) == 4
    assert (shot["query_kind"], picture["query_kind"]) == ("product shot", "photo")
    _, whole = search("--localise", "never")
    assert "garment_box" not in whole
    # Photos are ranked with the label weights too (measured on real photos, BENCHMARKS.md).
    assert "articleType" in picture["scoring"] and "baseColour" in picture["scoring"]
    assert "articleType" in shot["scoring"] and "baseColour" in shot["scoring"]
    assert all(0 <= r["score"] <= 1 for r in shot["results"])
    shot_any_colour, _ = search("--no-match-colour")
    assert "baseColour" not in shot_any_colour["scoring"]
    cosine, _ = search("--cosine-only")
    assert cosine["scoring"] == "cosine similarity"
