#!/usr/bin/env bash
# Pins the outputs of the scoring commands (score, check, batch scoring, eval, search,
# search-table) on a few NAS-Bench-201, chain-space and exported-model targets, so that a change
# of code structure can be shown to change no number: `tests/score_pins.rs` reruns the same
# commands and compares the JSON field by field, bitwise for numbers (timings excepted).
#
# Run from the project root with a built binary: bash tests/goldens/make_score_pins.sh [BIN [OUT]]
# Regenerate only when a score is meant to change, and say why in the commit.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/debug/intrain}
OUT=${2:-tests/goldens/pins}
WORK="$OUT/work"
DATA=../shared/data/nasbench201
mkdir -p "$OUT"
rm -rf "$OUT"/*.json "$OUT"/*.jsonl
T="--threads 1"
NB=models/spaces/nb201.yaml
A1='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
A2='|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|'
$BIN score $NB --arch "$A1" --batch 16 --json $T > $OUT/score_nb201_a1.json
$BIN score $NB --arch "$A2" --batch 16 --json $T > $OUT/score_nb201_a2.json
$BIN score $NB --arch "$A1" --batch 8 --seed 3 --init as-is --bn eval --layer-rule relu \
  --param-rule weights --resolution 32 --json $T > $OUT/score_nb201_a1_variant.json
$BIN score models/spaces/fbnet_cifar.yaml --arch 'skip|w24:ir-k5-e3,ir-k5-e3,ir-k5-e3|w64:ir-k5-e3,skip,skip|w128:ir-k5-e3' \
  --batch 8 --json $T > $OUT/score_fbnet.json
$BIN score models/onnx/tinyresnet_ts_unfolded.onnx --batch 8 --json $T > $OUT/score_tinyresnet.json
$BIN score models/onnx/tinyresnet_ts_unfolded.onnx --input models/onnx/tinyresnet_input.npy \
  --layer-rule relu --json $T > $OUT/score_tinyresnet_input.json
$BIN check models/onnx/tinyresnet_ts_unfolded.onnx --batch 8 --init kaiming --min-intrain 1 --format json $T \
  > $OUT/check_tinyresnet.json || test $? -eq 1
$BIN score $NB --sample 3 --batch 8 --seed 1 -o $OUT/batch.jsonl --json $T > $OUT/batch_summary.json
# InTrain's own path, named (the defaults start with InTrain-Agg, which tests/search.rs covers).
$BIN eval --sample 12 --batch 8 --bootstrap 50 --data $DATA --out "$WORK/eval" \
  --proxies intrain,gamma,o,additive,params,flops \
  --cache "$WORK/eval"/scores.jsonl --json $T > $OUT/eval.json
$BIN search $NB -T 8 -k 3 --batch 8 --max-params 1M --out "$WORK/search" --json $T \
  --proxy intrain --truth $DATA/nb201_all.csv > $OUT/search.json
$BIN search-table --samples 6 --runs 2 --from-cache --batch 8 --truth $DATA/nb201_all.csv \
  --proxies intrain,gamma,o,params,flops \
  --cache "$WORK/eval"/scores.jsonl --json $T > $OUT/search_table.json
rm -rf "$WORK"
