#!/usr/bin/env bash
# The anchor benchmarks moved with the estimators to shared/estimators/benches/; this path stays
# (the issues and older notes name it). Same arguments.
exec bash "$(dirname "$0")/../estimators/benches/anchors.sh" "$@"
