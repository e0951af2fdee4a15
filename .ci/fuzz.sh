#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets of fuzz/ and runs each one briefly, starting
# from the committed seeds (fuzz/corpus/<target>/seed-*) and whatever corpus is already there.
# Fails on any crash, panic, timeout or out-of-memory; the input is left in fuzz/artifacts/.
#
# About 5 minutes on a 2-core machine from a cold fuzz/target (the build is most of it), well
# under one warm. FUZZ_SECONDS sets the time per target (default 15).
# A long run of one target: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a <target>
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

# cargo-fuzz passes flags that only nightly accepts; this lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-15}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# No sanitizer: the crate forbids `unsafe`, so what a fuzzer finds here is a panic, an overflow
# (debug assertions are on), a hang or unbounded memory, not a memory error.
flags=(--sanitizer none --debug-assertions)

echo "== cargo fuzz build"
cargo fuzz build "${flags[@]}"

for target in $(cargo fuzz list); do
  echo "== cargo fuzz run $target (${seconds}s)"
  mkdir -p "corpus/$target"
  dict=()
  if [[ -f "dicts/$target.dict" ]]; then
    dict=("-dict=dicts/$target.dict")
  fi
  log="$(mktemp)"
  if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" >"$log" 2>&1; then
    grep -Ev '^(INFO|WARNING|#[0-9]+\s+(NEW|REDUCE|pulse|INITED)|\s+NEW_FUNC)' "$log" >&2 || true
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+\s+DONE|Done [0-9]+ runs)' "$log" || true
  rm -f "$log"
done
echo "== fuzz: no crash"
