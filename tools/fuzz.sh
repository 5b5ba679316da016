#!/usr/bin/env bash
# Bounded libFuzzer runs of every parser harness (docs/VERIFICATION.md
# section 10): seeds each corpus from the fixtures, runs each target for
# SECONDS, prints executions per target, and fails on the first crash,
# leaving the input under <dir>/crashes/ with the command to replay it.
#   tools/fuzz.sh <fuzz binary> <work dir> <seconds per target> <image folder> [targets...]
# FUZZ_SEED (default 1) seeds libFuzzer's mutations, so a CI run explores
# the same inputs each time; FUZZ_SEED=0 draws a new seed.
set -euo pipefail
bin=$1 dir=$2 seconds=$3 images=$4
shift 4
targets=${*:-config model npy npz safetensors onnx idx images space constants}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/crashes"
# Each fuzzing process writes its inputs into a scratch folder of its own
# under the temporary directory: keep them in the work folder, not /tmp.
export TMPDIR=$(cd "$dir" && pwd)/tmp
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"

seed() {  # target files...
    local t=$1
    shift
    mkdir -p "$dir/corpus/$t"
    for f in "$@"; do cp -n "$f" "$dir/corpus/$t/seed-$(basename "$f")"; done
}
seed config "$root"/src/config/default.toml "$root"/fixtures/*/hw.toml "$root"/examples/estimate/*.toml
seed model "$root"/fixtures/digits/model.toml "$root"/fixtures/digits/cnn.toml "$root"/fixtures/fmnist/mlp.toml
seed npy "$root"/fixtures/digits/pool.npy "$images"/pool.npy
seed npz "$root"/fixtures/onnx/resblock_io.npz "$root"/fixtures/digits/calib.npz
seed safetensors "$root"/fixtures/digits/mlp.safetensors
seed onnx "$root"/fixtures/onnx/resblock.onnx "$root"/fixtures/digits/cnn.onnx
seed space "$root"/examples/sweep/*.toml
seed constants "$root"/src/estimate/constants.toml
# IDX: two Fashion-MNIST images with a header that says so, plain and gzip.
mkdir -p "$dir/corpus/idx"
idx=$dir/corpus/idx/seed-two-images
if [ ! -f "$idx" ]; then
    { printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c'
      gzip -dc "$root"/fixtures/fmnist/t10k-images-idx3-ubyte.gz | tail -c +17 | head -c 1568 || true
    } > "$idx"
    gzip -c "$idx" > "$idx.gz"
fi
# Images: one input per file of the seed folder, its index byte first.
mkdir -p "$dir/corpus/images"
i=0
for f in $(cd "$images" && ls | sort); do
    [ -f "$images/$f" ] || continue
    out=$dir/corpus/images/seed-$f
    [ -f "$out" ] || { printf "\\x$(printf %02x $i)" > "$out"; cat "$images/$f" >> "$out"; }
    i=$((i + 1))
done

total=0
printf '%-12s %12s %8s %10s\n' target executions seconds corpus
for t in $targets; do
    log=$dir/$t.log
    if ! CIMPOOL_FUZZ_TARGET=$t CIMPOOL_FUZZ_IMAGES=$images "$bin" "$dir/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=131072 \
        -seed="${FUZZ_SEED:-1}" -print_final_stats=1 -artifact_prefix="$dir/crashes/$t-" > "$log" 2>&1; then
        echo "cimpool-fuzz: target $t FAILED; the end of $log:" >&2
        tail -40 "$log" >&2
        crash=$(ls -t "$dir/crashes/$t-"* 2>/dev/null | head -1 || true)
        echo "replay: CIMPOOL_FUZZ_TARGET=$t CIMPOOL_FUZZ_IMAGES=$images $bin $crash" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    printf '%-12s %12s %8s %10s\n' "$t" "$runs" "${time:-$seconds}" "$(ls "$dir/corpus/$t" | wc -l)"
    total=$((total + runs))
done
echo "cimpool-fuzz: $total executions, 0 crashes, every rejection one line"
