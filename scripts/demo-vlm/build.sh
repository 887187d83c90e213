#!/bin/sh
# Rebuilds public/models/atman-demo-shapes from scratch (offline; not part of CI).
# Needs Debian's torch: apt-get install -y python3-torch python3-numpy libopenblas0-pthread
# Extra arguments go to train.py (e.g. --time-limit 1200).
set -e
BUILD=${BUILD:-/tmp/atman-demo-vlm-build}
cd "$(dirname "$0")/../.."
npx tsx scripts/demo-vlm/make-tokenizer.ts "$BUILD"
/usr/bin/python3 scripts/demo-vlm/train.py --build "$BUILD" "$@"
npx tsx scripts/demo-vlm/export.ts "$BUILD"
npx tsx scripts/demo-vlm/evaluate.ts
# Last: evaluate.ts writes into config.json. The app checks the bundled files against this manifest.
npx tsx scripts/model-manifest.ts public/models/atman-demo-shapes
