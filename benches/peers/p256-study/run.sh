#!/usr/bin/env bash
# The P-256 study (see README.md): builds into ../target, then alternates whole runs under
# each setting (default CPU dispatch, then aws-lc's and OpenSSL's ADX/BMI2 code paths masked
# with OPENSSL_ia32cap), RUNS times (3), and prints one table pooling every sample.
#   STUDY_ROUNDS (15), STUDY_SAMPLE_MS (10), STUDY_ONLY (substrings of case names, comma-separated)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target}"
cargo build --release --manifest-path "$here/Cargo.toml"
bin="$CARGO_TARGET_DIR/release/p256-study"
out="$CARGO_TARGET_DIR/p256-study-data"
mkdir -p "$out"
tsv="$out/samples-$(date +%Y%m%d-%H%M%S).tsv"
for _ in $(seq "${RUNS:-3}"); do
  STUDY_TSV="$tsv" STUDY_LABEL="default dispatch" "$bin" "${STUDY_ROUNDS:-15}" >/dev/null
  # Leaf 7 EBX bits 8 (BMI2) and 19 (ADX) cleared: the mulq/adc instead of mulx/adcx/adox paths.
  STUDY_TSV="$tsv" STUDY_LABEL="OPENSSL_ia32cap=:~0x80100" OPENSSL_ia32cap=':~0x80100' \
    "$bin" "${STUDY_ROUNDS:-15}" >/dev/null
done
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(sed -n 's/^cpu family\s*: //p' /proc/cpuinfo | head -1), model $(sed -n 's/^model\s*: //p' /proc/cpuinfo | head -1)), $(nproc) CPUs; samples in $tsv"
echo
"$bin" summary "$tsv"
