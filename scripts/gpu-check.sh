#!/usr/bin/env bash
# gpu-check.sh - one command for a bare CUDA machine (no Node, no Bun, no package registry):
# build llama.cpp with CUDA for one GPU architecture from node-llama-cpp's source bundle
# (scripts/build-llama.sh), build native/ against that build, run the native tests (CTest) with
# every layer offloaded, and the verify cost curve (tree llama_decode of 1..65 nodes) on a
# 1B-shaped random model. Results go to one folder as JSON plus logs. docs/gpu.md says how to
# run it and what it needs.
#
#   scripts/gpu-check.sh [--cpu] [--cuda-arch 90] [--bundle FILE] [--jobs N] [--threads N]
#
#   --cpu          the same on the CPU with a small model (no nvcc needed)
#   --cuda-arch A  the one CUDA architecture to build for (default 90: H100/H200)
#   --bundle FILE  llama.cpp source bundle (default node_modules/node-llama-cpp/llama/gitRelease.bundle)
#   --jobs N       parallel compile jobs and CTest programs (default: number of cores)
#   --threads N    CPU threads of verify-cost (default 0: half the cores)
#
# Output folder: $OUT if set, else ./gpu-check-out. It gets results.json (phases and their
# seconds, CTest per test, the verify-cost curve), gpu-check.log (everything), ctest.log and
# verify-cost.json. Exit status 0 only when every phase and every test passed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
mode=cuda arch=90 threads=0
jobs=$(nproc 2>/dev/null || echo 2)
usage() { sed -n '9,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --cpu) mode=cpu ;;
    --cuda-arch) arch=${2:?--cuda-arch needs a value}; shift ;;
    --bundle) bundle=${2:?--bundle needs a value}; shift ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift ;;
    --threads) threads=${2:?--threads needs a value}; shift ;;
    -h|--help) usage ;;
    *) echo "gpu-check: unknown option $1" >&2; usage ;;
  esac
  shift
done

out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee "$out/gpu-check.log") 2>&1

if [ $mode = cuda ]; then
  variant=cuda-sm$arch
  build_args=(--cuda --cuda-arch "$arch")
  gpu_layers=-1
  # 1B-shaped: D 2048, 16 layers, 32000 tokens (F32 weights, ~2.9 GB; make-tiny-model's 4
  # heads of 512 and FFN 2D are its fixed shape)
  shape=(--embd 2048 --layers 16 --vocab 32000 --ctx 4096)
else
  variant=cpu
  build_args=()
  gpu_layers=0
  shape=(--embd 256 --layers 4 --vocab 4096 --ctx 4096)
fi
bdir="$root/native/build-check-$variant"
model="$bdir/check-model.gguf"

t_start=$(date +%s)
declare -A took
failed_phase=""
say() { echo "[gpu-check] $*"; }
# phase NAME COMMAND...: run it, time it, remember the first failure
phase() {
  local name=$1 t0 rc
  shift
  say "== $name"
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  took[$name]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  say "$name: exit $rc after ${took[$name]} s"
  [ $rc = 0 ] || failed_phase=${failed_phase:-$name}
  return $rc
}
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\n'/ }"; }

say "mode $mode ($variant), output $out, $jobs jobs"
missing=()
for tool in git cmake gcc g++; do command -v $tool >/dev/null || missing+=("$tool"); done
if [ $mode = cuda ] && ! command -v nvcc >/dev/null; then
  for d in /usr/local/cuda/bin /opt/cuda/bin; do [ -x "$d/nvcc" ] && PATH="$d:$PATH"; done
  command -v nvcc >/dev/null || missing+=("nvcc (CUDA toolkit; or run with --cpu)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "error: missing ${missing[*]}"
  exit 1
fi
[ -f "$bundle" ] || { say "error: no llama.cpp bundle at $bundle (pass --bundle FILE)"; exit 1; }
gpu="" nvcc_v=""
if [ $mode = cuda ]; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
  nvcc_v=$(nvcc --version | tail -n 1)
  say "GPU: ${gpu:-none visible to nvidia-smi}; $nvcc_v"
fi

build_llama() {
  local paths
  paths=$(bash "$root/scripts/build-llama.sh" "${build_args[@]}" --jobs "$jobs" --bundle "$bundle") || return 1
  eval "$paths"
}
build_native() {
  cmake -S "$root/native" -B "$bdir" -DCMAKE_BUILD_TYPE=Release \
    "-DRD_LLAMA_SRC=$LLAMA_SRC" "-DRD_LLAMA_LIB_DIR=$LLAMA_BIN" >/dev/null &&
    cmake --build "$bdir" -j "$jobs"
}
make_model() {
  "$bdir/make-tiny-model" "$model" --seed 7 --name check-model "${shape[@]}" && ls -l "$model"
}
run_ctest() {
  RD_TEST_GPU_LAYERS=$gpu_layers ctest --test-dir "$bdir" --output-on-failure -j "$jobs" --timeout 900 \
    >"$out/ctest.log" 2>&1
  local rc=$?
  cat "$out/ctest.log"
  return $rc
}
run_verify_cost() {
  "$bdir/verify-cost" --model "$model" --gpu-layers "$gpu_layers" --threads "$threads" --rounds 5 --max-n 65 \
    --lib-dir "$LLAMA_BIN" >"$out/verify-cost.json" && cat "$out/verify-cost.json"
}

LLAMA_SRC="" LLAMA_BIN=""
phase build_llama build_llama &&
  phase build_native build_native &&
  phase make_model make_model &&
  { phase ctest run_ctest; phase verify_cost run_verify_cost; }

# results.json: CTest's "  3/34 Test  #3: name ....   Passed    0.05 sec" lines, one object each
tests=$(awk '/Test +#[0-9]+: / {
    name = $0; sub(/.*Test +#[0-9]+: /, "", name); sub(/ .*/, "", name)
    status = ($0 ~ /Passed/) ? "passed" : "failed"
    secs = $0; sub(/ sec.*/, "", secs); sub(/.* /, "", secs)
    printf "%s{\"name\":\"%s\",\"status\":\"%s\",\"s\":%s}", n++ ? "," : "", name, status, secs + 0
  }' "$out/ctest.log" 2>/dev/null)
n_pass=$(grep -o '"status":"passed"' <<<"$tests" | wc -l)
n_fail=$(grep -o '"status":"failed"' <<<"$tests" | wc -l)
vc=$(cat "$out/verify-cost.json" 2>/dev/null)
phases=""
for p in build_llama build_native make_model ctest verify_cost; do
  [ -n "${took[$p]:-}" ] && phases+="\"$p\":${took[$p]},"
done
ok=false
[ -z "$failed_phase" ] && ok=true
repo_commit=null repo_changed=null # the copy on a GPU machine may come without .git
if c=$(git -C "$root" rev-parse HEAD 2>/dev/null); then
  repo_commit=$(json_str "$c")
  repo_changed=$(git -C "$root" status --porcelain | wc -l)
fi
{
  printf '{"mode":"%s","variant":"%s","ok":%s,"failed_phase":%s,\n' "$mode" "$variant" "$ok" \
    "$([ -n "$failed_phase" ] && json_str "$failed_phase" || echo null)"
  printf ' "gpu":%s,"nvcc":%s,"gpu_layers":%s,\n' "$(json_str "$gpu")" "$(json_str "$nvcc_v")" "$gpu_layers"
  printf ' "repo_commit":%s,"repo_changed_files":%s,"llama_src":%s,"llama_bin":%s,\n' "$repo_commit" "$repo_changed" \
    "$(json_str "$LLAMA_SRC")" "$(json_str "$LLAMA_BIN")"
  printf ' "model":{"args":%s,"bytes":%s},\n' "$(json_str "${shape[*]}")" "$(stat -c %s "$model" 2>/dev/null || echo null)"
  printf ' "seconds":{%s"total":%s},\n' "$phases" "$(($(date +%s) - t_start))"
  printf ' "ctest":{"passed":%s,"failed":%s,"tests":[%s]},\n' "$n_pass" "$n_fail" "$tests"
  printf ' "verify_cost":%s}\n' "${vc:-null}"
} >"$out/results.json"
say "done in $(($(date +%s) - t_start)) s: ctest $n_pass passed, $n_fail failed; ${failed_phase:+first failed phase: $failed_phase; }results in $out/results.json"
[ "$ok" = true ]
