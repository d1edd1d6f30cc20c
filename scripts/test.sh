#!/usr/bin/env bash
# The project's test command (README, CI): builds and tests the whole solution, then prints one line,
# "N passed, N failed, N skipped", summed over every test project from their TRX results.
# Exits non-zero if the build or any test failed, or a project produced no results.
# With CI=true a skipped integration test also fails the run: CI must exercise the real servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each project writes its TRX into its own TestResults/ (the default), so parallel projects never collide;
# clear them so that only this run is counted.
for project in tests/*/; do
    rm -rf "${project}TestResults"
done

status=0
# `dotnet test` builds only the test projects: build the whole solution first, so the benchmark console
# (bench/, never run by the tests) is compiled under the same warnings-as-errors settings.
dotnet build Invalidator.sln --nologo --verbosity quiet || status=$?

# The hang timeout turns a stuck test into a failure (with a dump) instead of a CI job that never ends.
dotnet test Invalidator.sln --logger trx --blame-hang-timeout 10m "$@" || status=$?

summary_status=0
python3 scripts/summarize-test-results.py tests || summary_status=$?

if [[ $status -ne 0 || $summary_status -ne 0 ]]; then
    exit 1
fi
