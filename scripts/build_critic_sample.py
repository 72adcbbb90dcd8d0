"""Build the shipped critic data and the default critic (maintainers only; needs ../shared/data).

Writes under cosmo_kg/samples/critic/:
  annotations.parquet  FolkScope (silver) + IntentionQA (human typicality, distractors as negatives)
  task1.parquet        IntentionQA task 1 questions (4 options, gold index)
  default/             the default ``embedding-lr`` critic, trained on the IntentionQA annotations of
                       the training split of pairs (the same as ``cosmo-kg critic train`` with defaults)
The project never runs this at run time; the outputs are committed.

    python scripts/build_critic_sample.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.public_annotations import import_public, intentionqa_task1
from cosmo_kg.refinement.training import CriticTrainConfig, train

OUT = Path(__file__).resolve().parent.parent / "cosmo_kg" / "samples" / "critic"


def main(shared: Path, cache_dir: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    import_public(shared).write_parquet(OUT / "annotations.parquet", compression="zstd",
                                        compression_level=19)
    intentionqa_task1(shared / "intentionqa" / "QA_fullInfo_task1.jsonl").write_parquet(
        OUT / "task1.parquet", compression="zstd", compression_level=19)
    report = train(CriticTrainConfig(annotations=OUT / "annotations.parquet", output=OUT / "default",
                                     task1=OUT / "task1.parquet", sources=("intentionqa",),
                                     embedding=EmbeddingSettings(cache_dir=cache_dir)))
    print(json.dumps(report.as_dict(), indent=2, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"),
         sys.argv[2] if len(sys.argv) > 2 else "")
