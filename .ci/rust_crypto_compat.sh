#!/usr/bin/env bash
# Issue 9: bearer-guard in a build where jsonwebtoken also has its `rust_crypto` feature (as when
# another crate asks for it). jsonwebtoken then has no usable CryptoProvider and panics on any
# sign or verify; the tests in compat/rust-crypto validate HMAC and asymmetric tokens there.
# Builds in the root target/ so that the dependencies both projects share (aws-lc) are reused.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== compat/rust-crypto: cargo fmt --check, clippy, test"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
manifest=compat/rust-crypto/Cargo.toml
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --all-targets --locked -- -D warnings
cargo test --manifest-path "$manifest" --locked --tests
