#!/usr/bin/env bash
# A candidate model through every issue-11 yardstick, as the shipped model is measured:
#   tests/benchmarks/evaluate_candidate.sh MODEL_DIR NAME
# MODEL_DIR holds Keras weights (backbone.f16.npz + heads.npz: a training run's folder or
# build/interpolate_weights.py's output). Writes under bench-out/: ft/NAME-int8 (the int8 LiteRT
# export the product would ship), NAME/index-all (the whole catalogue, ~8 minutes on 2 cores),
# real/NAME (bench_real_photos.py), full-NAME (bench_scoring.py and evaluate --photos).
# Needs bench-out/calibration (build/make_calibration_sets.py) and bench-out/photos
# (make_photo_queries.py, see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$1; NAME=$2; Q=bench-out/ft/$NAME-int8
FD=${FD:-.venv/bin/fashion-desktop}; PY=${PY:-.venv/bin/python}
date; $FD model export "$MODEL" --out "$Q" --int8 --calibration bench-out/calibration/products.csv \
  --calibration bench-out/calibration/photos.csv --calibration-images 200 --keep-float 10
cp resources/models/garment_colour.npz "$Q/"
date; $FD index build ../shared/catalog --out "bench-out/$NAME/index-all" --dim full --weights "$Q"
date; $PY tests/benchmarks/bench_real_photos.py --all-index "bench-out/$NAME/index-all" \
  --weights "$Q" --out "bench-out/real/$NAME"
date; $PY tests/benchmarks/bench_scoring.py --all-index "bench-out/$NAME/index-all" \
  --out "bench-out/full-$NAME" --weights "$Q" --latency 30
date; $FD evaluate --index "bench-out/full-$NAME/index-train+photo-items" \
  --photos bench-out/photos/queries/photos.csv --weights "$Q" --json \
  > "bench-out/full-$NAME/product-photos.json"
date; echo "evaluated $NAME"
