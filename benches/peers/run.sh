#!/usr/bin/env bash
# The peer comparison (issue 5): builds both harnesses in release mode, mints the tokens once,
# measures, and prints one markdown table of median ns/request per peer and scenario with the
# ratio to bearer-guard. Options go through the environment (see README.md):
#   PEERS_SAMPLES, PEERS_SAMPLE_MS, PEERS_CHUNK, PEERS_WARMUP_TOKENS, PEERS_POOL, PEERS_DATA.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# One target directory for both projects (they share most dependencies), git-ignored.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
export PEERS_DATA="${PEERS_DATA:-$CARGO_TARGET_DIR/peers-data}"
results="$PEERS_DATA/results"
bin="$CARGO_TARGET_DIR/release"

cargo build --release --manifest-path "$here/Cargo.toml"
cargo build --release --manifest-path "$here/jwt-authorizer/Cargo.toml"

"$bin/peers" mint
mkdir -p "$results"
"$bin/peers" bench "$results/main.tsv"
"$bin/peers-jwt-authorizer" bench "$results/jwt-authorizer.tsv"

echo
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; bearer-guard $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" diff --quiet HEAD -- ../../src ../../Cargo.toml || echo '+dirty')"
echo
"$bin/peers" table "$results/main.tsv" "$results/jwt-authorizer.tsv"
