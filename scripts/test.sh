#!/usr/bin/env bash
# test.sh - every test suite of the project (`npm test`): the native CTest programs (again
# under ASan + UBSan when RD_TEST_ASAN=1), the TypeScript suites on vitest under Bun, and the
# Python SDK suite. Each suite's counts are parsed from its own report; the last line is
# always "N passed, N failed" over all of them, and the exit code is nonzero if any failed.
#
# Environment: RD_TEST_ASAN=1 adds the sanitizer pass (CI sets it); RD_TEST_JOBS = parallel
# CTest programs (default: number of cores).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
cache="$root/.cache"
mkdir -p "$cache"
bun="$root/node_modules/.bin/bun"
jobs=${RD_TEST_JOBS:-$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)}

passed=0
failed=0
summary=()
count() { # suite passed failed [note]
  passed=$((passed + $2))
  failed=$((failed + $3))
  summary+=("$(printf '  %-14s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# native SUITE BUILD_DIR [build-native.js args]: build (incremental, seconds when nothing
# changed), then run CTest; a failed build counts as one failure.
native() {
  local suite=$1 dir=$2 log="$cache/$1.log"
  shift 2
  echo "== $suite: build"
  if ! node scripts/build-native.js "$@"; then
    count "$suite" 0 1 "build failed"
    return
  fi
  echo "== $suite: ctest"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 1800 2>&1 | tee "$log"
  local line
  line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [[ -z $line ]]; then
    count "$suite" 0 1 "no CTest summary"
    return
  fi
  local f=${line%% *} total=${line##* }
  count "$suite" $((total - f)) "$f"
}

native native native/build
if [[ ${RD_TEST_ASAN:-0} == 1 ]]; then
  native native-asan native/build-asan --sanitize
fi

# vitest: counts from its JSON report; a run that fails outside any test (a file that does
# not load, an unhandled error) still counts as one failure.
echo "== vitest"
report="$cache/vitest.json"
rm -f "$report"
"$bun" --bun node_modules/.bin/vitest run --pool=threads --passWithNoTests \
  --reporter=default --reporter=json --outputFile.json="$report"
status=$?
if [[ -s $report ]]; then
  read -r p f < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const broken = r.testResults.filter((t) => t.status === "failed" &&
      !t.assertionResults.some((a) => a.status === "failed")).length;
    console.log(r.numPassedTests, r.numFailedTests + broken);' "$report")
  p=${p:-0} f=${f:-1} # an unreadable report is a failure too
  if ((status != 0 && f == 0)); then f=1; fi
  count vitest "$p" "$f"
else
  count vitest 0 1 "no report, exit $status"
fi

# Python: the official openai SDK against the server, in a venv under .cache/.
python_suite() {
  [[ -d tests/python ]] || return
  echo "== python"
  if ! command -v python3 >/dev/null; then
    count python 0 0 "skipped: no python3"
    return
  fi
  local venv="$cache/py-venv" req=tests/python/requirements.txt
  if [[ ! -x $venv/bin/python ]] && ! python3 -m venv "$venv"; then
    rm -rf "$venv"
    count python 0 0 "skipped: python3 -m venv failed (install python3-venv)"
    return
  fi
  if [[ ! -e $venv/.installed || $req -nt $venv/.installed ]]; then
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"; then
      count python 0 0 "skipped: pip could not install $req"
      return
    fi
    touch "$venv/.installed"
  fi
  local xml="$cache/pytest.xml"
  rm -f "$xml"
  "$venv/bin/python" -m pytest tests/python -q --junitxml="$xml"
  local status=$?
  if [[ ! -s $xml ]]; then
    count python 0 1 "no report, exit $status"
    return
  fi
  local p f
  read -r p f < <("$venv/bin/python" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
n = lambda k: sum(int(s.get(k, 0)) for s in suites)
print(n("tests") - n("failures") - n("errors") - n("skipped"), n("failures") + n("errors"))' "$xml")
  p=${p:-0} f=${f:-1}
  # 5 = nothing collected; any other nonzero exit without a failing test is still a failure
  if ((status != 0 && status != 5 && f == 0)); then f=1; fi
  count python "$p" "$f"
}
python_suite

printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
