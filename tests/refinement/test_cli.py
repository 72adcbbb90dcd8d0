"""What users see from `cosmo-kg annotate ...`, `critic ...` and `discover` on the shipped samples."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from cosmo_kg import samples
from cosmo_kg.cli import cli
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.annotation_loop import TASK_COLUMNS
from cosmo_kg.refinement.annotations import ANNOTATIONS, QUESTIONS
from cosmo_kg.refinement.training import read_annotations

SHIPPED_CRITIC = Path(samples.__file__).resolve().parent / "critic" / "default"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _ok(*args: str | Path) -> Result:
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def _context(sample: dict[str, Path]) -> list[str | Path]:
    return ["--pairs", sample["pairs"], "--products", sample["products"]]


def _embedding(settings: EmbeddingSettings) -> list[str]:
    return ["--embeddings-cache-dir", settings.cache_dir]


def _fill_in(sheet: Path, annotator: str, flipped: set[int], out: Path) -> Path:
    blank = pl.read_csv(sheet, infer_schema_length=0)
    rows = range(len(blank))
    blank.with_columns(
        annotator=pl.lit(annotator),
        completeness=pl.lit("yes"),
        relevance=pl.lit("1"),
        informativeness=pl.lit("no"),
        typicality=pl.lit("0.5"),
        plausibility=pl.Series(["no" if (i % 3 == 0) != (i in flipped) else "yes" for i in rows]),
    ).write_csv(out)
    return out


# --- annotate ---------------------------------------------------------------------------------------------


def test_annotate_round_trip_sample_export_import_agreement_prints_kappa(
    tmp_path: Path, refine_sample: dict[str, Path]
) -> None:
    tasks = tmp_path / "tasks.parquet"
    sampled = _ok(
        "annotate", "sample", refine_sample["candidates"], *_context(refine_sample), "-n", "12", "-o", tasks
    )
    assert "Sampled 12 tasks" in sampled.output
    assert pl.read_parquet(tasks).columns == list(TASK_COLUMNS)

    sheet = tmp_path / "sheet.csv"
    exported = _ok("annotate", "export", tasks, "-o", sheet)
    assert "Questions: " in exported.output
    assert pl.read_csv(sheet).columns == [*TASK_COLUMNS, "annotator", *QUESTIONS]

    answers = [
        _fill_in(sheet, "ann1", set(), tmp_path / "ann1.csv"),
        _fill_in(sheet, "ann2", {0, 1}, tmp_path / "ann2.csv"),
    ]
    annotations = tmp_path / "annotations.parquet"
    imported = _ok("annotate", "import", *answers, "-o", annotations, "--workspace-dir", tmp_path / "ws")
    assert "Imported 24 answers" in imported.output and "rejected" not in imported.output
    assert pl.read_parquet(annotations).columns == list(ANNOTATIONS.columns)

    agreement = _ok("annotate", "agreement", annotations).output.splitlines()
    assert [line.split()[0] for line in agreement] == list(QUESTIONS)
    plausibility = next(line for line in agreement if line.startswith("plausibility"))
    assert "items    12" in plausibility and "annotators 2" in plausibility
    cohen = float(plausibility.split("Cohen ")[1].split()[0])
    assert 0 < cohen < 1
    completeness = next(line for line in agreement if line.startswith("completeness"))
    assert "Fleiss 1.000" in completeness


def test_annotate_import_adjudicates_and_sends_bad_answers_to_rejects(
    tmp_path: Path, refine_sample: dict[str, Path]
) -> None:
    sheet = tmp_path / "sheet.jsonl"
    _ok("annotate", "sample", refine_sample["candidates"], *_context(refine_sample), "-n", "5", "-o", sheet)
    blank = pl.read_ndjson(sheet)
    assert blank.columns == [*TASK_COLUMNS, "annotator", *QUESTIONS] and len(blank) == 5
    csv = tmp_path / "sheet.csv"
    blank.write_csv(csv)
    good = _fill_in(csv, "ann1", set(), tmp_path / "ann1.csv")
    second = _fill_in(csv, "ann2", {0}, tmp_path / "ann2.csv")
    broken = tmp_path / "ann3.csv"
    pl.read_csv(good, infer_schema_length=0).head(1).with_columns(
        annotator=pl.lit("ann3"), plausibility=pl.lit("maybe")
    ).write_csv(broken)
    out = tmp_path / "adjudicated.parquet"
    result = _ok(
        "annotate",
        "import",
        good,
        second,
        broken,
        "-o",
        out,
        "--adjudicate",
        "--workspace-dir",
        tmp_path / "ws",
    )
    assert "Imported 10 answers" in result.output and "rejected: bad_answer 1" in result.output
    adjudicated = pl.read_parquet(out)
    assert len(adjudicated) == 5 and adjudicated["annotator"].unique().to_list() == ["adjudicated"]
    rejects = pl.read_parquet(tmp_path / "ws" / "rejects" / "annotations-adjudicated.rejects.parquet")
    assert rejects["reason"].to_list() == ["bad_answer"] and rejects["annotator"].to_list() == ["ann3"]


def test_annotate_export_to_an_unknown_format_is_a_clear_error(
    tmp_path: Path, refine_sample: dict[str, Path]
) -> None:
    tasks = tmp_path / "tasks.parquet"
    _ok("annotate", "sample", refine_sample["candidates"], *_context(refine_sample), "-n", "3", "-o", tasks)
    result = _invoke("annotate", "export", tasks, "-o", tmp_path / "tasks.xlsx")
    assert result.exit_code != 0
    assert f"Error: cannot export tasks to {tmp_path / 'tasks.xlsx'}" in result.output.splitlines()
    assert "Hint: use a .csv or .jsonl file name" in result.output
    assert not (tmp_path / "tasks.xlsx").exists()


def _public_data(root: Path) -> Path:
    """A data folder laid out like ../shared/data, with one IntentionQA question and one FolkScope row."""
    (root / "intentionqa").mkdir(parents=True)
    options = {
        "A": "because they both are a type of USB extension cable.",
        "B": "because they could both be worn as a bracelet.",
        "C": 'because they both are related to the topic of "Army Style".',
        "D": "because they both are used for camping.",
    }
    question = {
        "id": "FS_1",
        "item_a_id": "B00000J1U8",
        "item_b_id": "B00N9HRTFU",
        "item_a_name": "Belkin USB A/A Extension Cable",
        "item_b_name": "Cable Matters 3-Pack USB Extension Cable",
        "assertion": "PersonX bought a product of Item A and a product of Item B " + options["A"],
        "distractors_asserstion": [options[k] for k in "BCD"],
        "typicality": 0.6,
        "gold_ind": "A",
        "options": options,
    }
    questions = root / "intentionqa" / "QA_fullInfo_task1.jsonl"
    questions.write_text(json.dumps(question) + "\n", encoding="utf-8")
    (root / "folkscope_cobuy_intentions").mkdir()
    slot = {
        "id_a": "B005QXX0MG",
        "id_b": "B00PYV5HGC",
        "Product_a": "Case Logic 15-Inch Laptop Briefcase",
        "Product_b": "Lenovo USB Wired Keyboard",
        "tail": "because they both are a type of computer accessories",
        "Agreement": "Yes",
        "item_a_cate": "Electronics",
        "item_b_cate": "Electronics",
    }
    row = {f"{key}_{n}": value for n in ("1", "2") for key, value in slot.items()}
    row["Agreement_2"] = "No"
    row["id_b_2"] = "B0000000XX"
    pl.DataFrame([row]).write_csv(root / "folkscope_cobuy_intentions" / "crowdsourcing_integrate_4500_b1.csv")
    return root


def test_annotate_import_public_reads_intentionqa_and_folkscope(tmp_path: Path) -> None:
    data = _public_data(tmp_path / "data")
    out, task1 = tmp_path / "public.parquet", tmp_path / "task1.parquet"
    result = _ok("annotate", "import-public", data, "-o", out, "--task1", task1)
    # IntentionQA: the gold assertion and 3 distractors; FolkScope: two judged pairs.
    assert "Imported 6 annotations" in result.output and "task 1 questions" in result.output
    annotations = read_annotations(out)
    assert annotations.group_by("source", "plausibility").len().sort("source", "plausibility").rows() == [
        ("folkscope", 0.0, 1),
        ("folkscope", 1.0, 1),
        ("intentionqa", 0.0, 3),
        ("intentionqa", 1.0, 1),
    ]
    questions = pl.read_parquet(task1)
    assert questions["gold"].to_list() == [0] and questions["options"].list.len().to_list() == [4]


def test_annotate_import_public_on_a_folder_without_data_is_a_clear_error(tmp_path: Path) -> None:
    result = _invoke("annotate", "import-public", tmp_path, "-o", tmp_path / "public.parquet")
    assert result.exit_code != 0
    assert f"Error: {tmp_path}: no FolkScope or IntentionQA files found" in result.output.splitlines()
    assert not (tmp_path / "public.parquet").exists()


# --- critic -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_annotations(tmp_path_factory: pytest.TempPathFactory, shipped_annotations: Path) -> dict[str, Path]:
    """40 IntentionQA pairs of the shipped annotations and their task 1 questions."""
    frame = read_annotations(shipped_annotations, ("intentionqa",))
    pairs = frame["behavior_id"].unique().sort().head(40).implode()
    folder = tmp_path_factory.mktemp("tiny-critic")
    paths = {"annotations": folder / "annotations.parquet", "task1": folder / "task1.parquet"}
    frame.filter(pl.col("behavior_id").is_in(pairs)).write_parquet(paths["annotations"])
    task1 = pl.read_parquet(shipped_annotations.parent / "task1.parquet")
    task1.filter(pl.col("behavior_id").is_in(pairs)).write_parquet(paths["task1"])
    return paths


@pytest.mark.slow
def test_critic_score_gives_every_candidate_plausibility_and_typicality(
    tmp_path: Path, refine_sample: dict[str, Path], embedding_settings: EmbeddingSettings
) -> None:
    out = tmp_path / "scores.parquet"
    result = _ok(
        "critic",
        "score",
        refine_sample["candidates"],
        *_context(refine_sample),
        "-o",
        out,
        *_embedding(embedding_settings),
    )
    scores = pl.read_parquet(out)
    candidates = pl.read_parquet(refine_sample["candidates"])
    assert f"Scored {len(candidates):,} candidates" in result.output
    assert scores.columns == ["candidate_id", "behavior_id", "relation", "tail", "plausibility", "typicality"]
    assert sorted(scores["candidate_id"].to_list()) == sorted(candidates["candidate_id"].to_list())
    for label in ("plausibility", "typicality"):
        assert scores[label].null_count() == 0 and scores[label].is_between(0, 1).all()
    assert scores.select(pl.col("plausibility").std()).item() > 0.05  # the critic tells candidates apart


@pytest.mark.slow
def test_critic_train_then_eval_print_the_same_held_out_metrics(
    tmp_path: Path, tiny_annotations: dict[str, Path], embedding_settings: EmbeddingSettings
) -> None:
    data: list[str | Path] = [
        "--annotations",
        tiny_annotations["annotations"],
        "--task1",
        tiny_annotations["task1"],
        "-o",
        tmp_path / "critic",
        "--test-fraction",
        "0.3",
        "--workspace-dir",
        tmp_path / "ws",
        *_embedding(embedding_settings),
    ]
    trained = _ok("critic", "train", *data).output
    assert (tmp_path / "critic" / "critic.json").is_file()
    assert trained.startswith(f"Critic embedding-lr at {tmp_path / 'critic'}: trained on ")
    assert "plausibility  AUC " in trained and "IntentionQA task 1: " in trained
    evaluated = _ok("critic", "eval", *data).output

    def metric_lines(output: str) -> list[str]:
        return [
            line
            for line in output.splitlines()
            if line.startswith(("  plausibility ", "  typicality ", "  IntentionQA task 1"))
        ]

    assert metric_lines(trained) and metric_lines(trained) == metric_lines(evaluated)
    assert "Spearman" in metric_lines(evaluated)[2]
    tables = [line.split()[0] for line in evaluated.splitlines() if line.endswith("typ Spearman")]
    assert tables == ["relation", "kind"] and "\n  co_buy " in evaluated
    assert (tmp_path / "ws" / "reports" / "critic-reliability.png").stat().st_size > 10_000
    reports = sorted(p.name.split("-2")[0] for p in (tmp_path / "ws" / "reports").glob("critic-*.json"))
    assert reports == ["critic-eval", "critic-train"]


def test_critic_score_with_a_folder_that_holds_no_critic_is_a_clear_error(
    tmp_path: Path, refine_sample: dict[str, Path]
) -> None:
    result = _invoke(
        "critic",
        "score",
        refine_sample["candidates"],
        *_context(refine_sample),
        "-o",
        tmp_path / "scores.parquet",
        "--critic",
        tmp_path,
    )
    assert result.exit_code != 0
    assert f"Error: {tmp_path} holds no trained critic (critic.json missing)" in result.output.splitlines()
    assert not (tmp_path / "scores.parquet").exists()


def test_critic_train_rejects_an_unknown_model_name(tmp_path: Path) -> None:
    result = _invoke("critic", "train", "-o", tmp_path / "critic", "--critic", "gpt")
    assert result.exit_code == 2
    assert (
        "Error: Invalid value for '--critic': 'gpt' is not one of 'embedding-lr', 'cross-encoder'."
        in result.output.splitlines()
    )


# --- discover ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_discover_prints_clusters_with_examples_and_writes_the_report(
    tmp_path: Path, embedding_settings: EmbeddingSettings
) -> None:
    knowledge = tmp_path / "knowledge.parquet"
    tails = {
        "USED_FOR_FUNC": ["camping", "hiking in mountains", "sleeping outdoors", "backpacking trips"],
        "xINTERESTED_IN": ["camping", "outdoor adventures", "playing tennis", "tennis matches"],
        "IS_A": ["tennis equipment", "camping gear", "usb cables", "computer accessories"],
    }
    pl.DataFrame([{"relation": r, "tail": t} for r, ts in tails.items() for t in ts]).write_parquet(knowledge)
    report = tmp_path / "discover.json"
    result = _ok(
        "discover",
        knowledge,
        "--clusters",
        "3",
        "--per-relation",
        "2",
        "-o",
        report,
        *_embedding(embedding_settings),
    )
    lines = result.output.splitlines()
    assert lines[0] == "12 distinct tails, 3 clusters across relations:"
    assert all(" e.g. " in line for line in lines[1:4]) and lines[4] == f"Report -> {report}"
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["tails"] == 12 and sorted(saved["per_relation"]) == sorted(tails)
    assert sum(c["size"] for c in saved["overall"]) == 12
    per_relation = saved["per_relation"].values()
    assert all(len(clusters) == 2 and all(c["examples"] for c in clusters) for clusters in per_relation)


def test_discover_on_a_file_without_tails_is_a_clear_error(refine_sample: dict[str, Path]) -> None:
    result = _invoke("discover", refine_sample["pairs"])
    assert result.exit_code != 0
    assert f"Error: {refine_sample['pairs']}: needs relation and tail columns" in result.output.splitlines()
    assert "Hint: pass a knowledge.parquet or candidates.parquet file" in result.output
