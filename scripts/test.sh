#!/usr/bin/env bash
# The project's test command (README, CI): builds and tests the whole solution, then prints one line,
# "N passed, N failed, N skipped", summed over every test project from their TRX results.
# Exits non-zero if the build or any test failed, or a project produced no results.
# With CI=true a skipped integration test also fails the run: CI must exercise the real servers.
# The Docker-only end-to-end tests (category DockerEndToEnd: the real Debezium in containers) run where
# Testcontainers finds a Docker engine; elsewhere they are left out by a test filter, not skipped, and one line
# before the summary says so. Arguments go to dotnet test (a --filter of yours is combined with that one).
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

# The same decision the test fixtures make (Testcontainers' Docker discovery, INVALIDATOR_TEST_SERVERS).
docker_probe=tools/Invalidator.DockerProbe/bin/Debug/net10.0/Invalidator.DockerProbe.dll
exclude_docker=""
if [[ -f $docker_probe ]] && docker_reason=$(dotnet "$docker_probe"); then
    docker_line="Docker-only end-to-end tests: run ($docker_reason)"
else
    exclude_docker="Category!=DockerEndToEnd"
    docker_line="Docker-only end-to-end tests: not run, ${docker_reason:-the Docker probe did not build}"
fi

args=()
user_filter=""
while (($#)); do
    case $1 in
        --filter) user_filter=$2; shift 2 ;;
        --filter=*) user_filter=${1#--filter=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
filter=$user_filter
if [[ -n $exclude_docker ]]; then
    filter=${user_filter:+($user_filter)&}$exclude_docker
fi
[[ -z $filter ]] || args+=(--filter "$filter")

# The hang timeout turns a stuck test into a failure (with a dump) instead of a CI job that never ends.
dotnet test Invalidator.sln --logger trx --blame-hang-timeout 10m "${args[@]}" || status=$?

echo "$docker_line"
summary_status=0
python3 scripts/summarize-test-results.py tests || summary_status=$?

if [[ $status -ne 0 || $summary_status -ne 0 ]]; then
    exit 1
fi
