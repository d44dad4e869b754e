#!/usr/bin/env bash
# build-llama.sh - build llama.cpp itself (shared libraries, optionally llama-server) from the
# source bundle node-llama-cpp ships, for what the prebuilt libraries do not cover: a CUDA build
# for one GPU architecture (scripts/gpu-check.sh) and llama-server for the race (bench/peers.ts).
# Never run at install time: `npm install` links the prebuilt libraries and compiles nothing of
# llama.cpp.
#
#   scripts/build-llama.sh [--cuda [--cuda-arch 90]] [--server] [--jobs N] [--out DIR] [--bundle FILE]
#
#   --cuda         ggml's CUDA backend (needs nvcc), for one architecture: --cuda-arch (default 90)
#   --server       also build llama-server
#   --jobs N       parallel compile jobs (default: number of cores)
#   --out DIR      where the source and builds go (default ${REDRAFTER_CACHE:-~/.cache/redrafter})
#   --bundle FILE  the git bundle (default node_modules/node-llama-cpp/llama/gitRelease.bundle)
#
# Layout: DIR/llama.cpp-<commit>/ is the source (a clone of the bundle's one commit), and
# DIR/llama.cpp-<commit>/build-cpu or build-cuda-sm<arch>/bin holds libllama.so, libggml*.so
# and llama-server. Idempotent: a build whose stamp matches its options returns at once.
# Progress goes to stderr; stdout gets exactly two lines a caller can eval:
#   LLAMA_SRC=<source dir>
#   LLAMA_BIN=<folder of the libraries and llama-server>
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
out=${REDRAFTER_CACHE:-$HOME/.cache/redrafter}
cuda=0 arch=90 server=0
jobs=$(nproc 2>/dev/null || echo 2)

usage() { sed -n '8,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --cuda) cuda=1 ;;
    --cuda-arch) arch=${2:?--cuda-arch needs a value}; shift ;;
    --server) server=1 ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift ;;
    --out) out=${2:?--out needs a value}; shift ;;
    --bundle) bundle=${2:?--bundle needs a value}; shift ;;
    -h|--help) usage ;;
    *) echo "build-llama: unknown option $1" >&2; usage ;;
  esac
  shift
done
log() { echo "[build-llama] $*" >&2; }
die() { echo "[build-llama] error: $*" >&2; exit 1; }

[ -f "$bundle" ] || die "no llama.cpp bundle at $bundle (npm install puts it there; or pass --bundle FILE)"
command -v git >/dev/null || die "git is required"
command -v cmake >/dev/null || die "cmake is required"
if [ $cuda = 1 ]; then
  command -v nvcc >/dev/null || die "--cuda needs nvcc on PATH (CUDA toolkit), e.g. PATH=/usr/local/cuda/bin:\$PATH"
  [[ $arch =~ ^[0-9]+[a-z]?$ ]] || die "--cuda-arch wants one architecture like 90, 89 or 90a, not '$arch'"
fi

commit=$(git bundle list-heads "$bundle" | awk '$2 == "HEAD" { print $1 }')
[ -n "$commit" ] || die "$bundle has no HEAD"
src="$out/llama.cpp-${commit:0:10}"
variant=cpu
[ $cuda = 1 ] && variant=cuda-sm$arch
build="$src/build-$variant"

targets=(llama ggml) # ggml depends on its backend modules (ggml-cpu, ggml-cuda): they come too
[ $server = 1 ] && targets+=(llama-server)
# The CPU backend gets the x86 features ggml's own release variants are built from
# (GGML_CPU_ALL_VARIANTS), as this CPU has them. Not GGML_NATIVE, which ggml refuses beside
# GGML_BACKEND_DL, and not -march=native, which also turns on AVX512-FP16: no release variant
# uses it, and its f16 arithmetic moves f16 results (test_drafter_ref's f16 drafter by 0.0023).
[ "$(uname -m)" = x86_64 ] || die "the CPU feature list is written for x86-64 (this is $(uname -m))"
cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
feature() { # GGML option, then the /proc/cpuinfo flags it needs
  local opt=$1 f
  shift
  for f in "$@"; do [[ $cpu_flags == *" $f "* ]] || { echo "-DGGML_$opt=OFF"; return; }; done
  echo "-DGGML_$opt=ON"
}
# CMake options, the same with or without --server (a later --server builds one more target
# instead of reconfiguring). GGML_BACKEND_DL: backends are modules loaded at run time from the
# library folder, as in node-llama-cpp's prebuilt set, so rd_backend_init(dir) finds them the
# same way. No UI download, no OpenSSL, no tests or examples: nothing is fetched.
opts=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF
  "$(feature SSE42 sse4_2)" "$(feature AVX avx)" "$(feature F16C f16c)" "$(feature FMA fma)"
  "$(feature AVX2 avx2)" "$(feature BMI2 bmi2)" "$(feature AVX_VNNI avx_vnni)"
  "$(feature AVX512 avx512f avx512cd avx512vl avx512dq avx512bw)" "$(feature AVX512_VBMI avx512vbmi)"
  "$(feature AVX512_VNNI avx512_vnni)" "$(feature AVX512_BF16 avx512_bf16)"
  "$(feature AMX_TILE amx_tile)" "$(feature AMX_INT8 amx_int8)" "$(feature AMX_BF16 amx_bf16)"
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF
)
if [ $cuda = 1 ]; then
  # "-real": SASS for this one architecture only, no PTX: the shortest nvcc build
  opts+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${arch}-real" -DGGML_CUDA_NCCL=OFF)
fi
# One stamp per built target, holding the commit and options it was built with.
built() { [ "$(cat "$build/.stamp-$1" 2>/dev/null)" = "$commit ${opts[*]}" ]; }
todo=()
for t in "${targets[@]}"; do built "$t" || todo+=("$t"); done

if [ ${#todo[@]} = 0 ]; then
  log "up to date: $build/bin (${targets[*]})"
else
  if [ "$(git -C "$src" rev-parse HEAD 2>/dev/null || true)" != "$commit" ]; then
    log "cloning $bundle (${commit:0:10}) into $src"
    rm -rf "$src"
    mkdir -p "$out"
    git -c advice.detachedHead=false clone --quiet "$bundle" "$src" >&2
  fi
  t0=$(date +%s)
  log "configuring $build ($variant)"
  mkdir -p "$build"
  gen=() # Ninja schedules nvcc's long jobs better than make; an existing build keeps its generator
  [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$src" -B "$build" "${gen[@]}" "${opts[@]}" >"$build/configure.log" 2>&1 ||
    { tail -n 40 "$build/configure.log" >&2; die "cmake configure failed (log: $build/configure.log)"; }
  log "building ${todo[*]} with $jobs jobs"
  cmake --build "$build" --target "${todo[@]}" -j "$jobs" >&2
  for t in "${todo[@]}"; do echo "$commit ${opts[*]}" >"$build/.stamp-$t"; done
  log "built in $(($(date +%s) - t0)) s: $build/bin"
fi
echo "LLAMA_SRC=$src"
echo "LLAMA_BIN=$build/bin"
