#!/bin/sh
# Rebuilds public/models/atman-demo-facts from scratch (offline; not part of CI).
# Needs Debian's torch: apt-get install -y python3-torch python3-numpy libopenblas0-pthread
set -e
BUILD=${1:-/tmp/atman-demo-build}
cd "$(dirname "$0")/../.."
npx tsx scripts/demo-model/make-tokenizer.ts "$BUILD"
/usr/bin/python3 scripts/demo-model/train.py --build "$BUILD"
npx tsx scripts/demo-model/export.ts "$BUILD"
npx tsx scripts/demo-model/evaluate.ts
# Last: evaluate.ts writes into config.json. The app checks the bundled files against this manifest.
npx tsx scripts/model-manifest.ts public/models/atman-demo-facts
