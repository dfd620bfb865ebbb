#!/bin/bash
# Score a seeded sample of a search space on a Slurm cluster: one shard per array task, each
# appending to its own record file (with a manifest beside it), then one merge. Submit from the
# repository root (SPACE is relative to it), with intrain on PATH.
#
#   sbatch examples/cluster/slurm_score_shards.sh              # 8 shards of 1,000 NAS-Bench-201 cells
#   SPACE=models/spaces/darts.yaml SAMPLE=5000 sbatch examples/cluster/slurm_score_shards.sh
#   intrain merge shards/scores-*.jsonl -o scores.jsonl        # after the array; exit 1 lists what is missing
#
# A failed or killed index is retried alone and resumes from its own file, scoring only what it
# still owes:   sbatch --array=3 examples/cluster/slurm_score_shards.sh
# The split is a stable hash of each architecture's canonical form, so every task computes the
# same sample and keeps its own part; SHARDS must equal the number of array tasks.
#SBATCH --job-name=intrain-shards
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --output=%x-%a.log
set -euo pipefail
SHARDS=8
SPACE=${SPACE:-models/spaces/nb201.yaml}
SAMPLE=${SAMPLE:-1000}
mkdir -p shards
intrain score "$SPACE" --sample "$SAMPLE" --threads "${SLURM_CPUS_PER_TASK:-1}" \
  --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --out "shards/scores-$SLURM_ARRAY_TASK_ID.jsonl"
