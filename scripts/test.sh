#!/usr/bin/env bash
# Runs every PruneFuse test. Installs what the tests need (Debian packages dataset-fashion-mnist, python3-torch,
# python3-torchvision, chromium, kubernetes-client; Azurite and the Kubernetes schema packages from npm) or fails
# at once saying what is missing. Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh

# Any early exit (missing prerequisite, failed install) still ends with the closing line CI reads.
summary_printed=0
trap '[ "$summary_printed" -eq 1 ] || echo "0 passed, 1 failed"' EXIT

require_dotnet
ensure_fashion_mnist
ensure_azurite
ensure_python_torch
ensure_chromium
ensure_k8s_tools

results="$(pwd)/TestResults"
rm -rf "$results"
mkdir -p "$results"

echo "==> building (Release)"
if ! dotnet build PruneFuse.sln -c Release -nologo -v quiet; then
    echo "build failed" >&2
    exit 1
fi

# One test project at a time: torch work in parallel test hosts and their silo processes oversubscribes a small
# host's cores so badly (OpenMP threads spin) that the parallel run took 22 minutes where one at a time takes ~12.
status=0
for project in tests/PruneFuse.*.Tests/PruneFuse.*.Tests.csproj; do
    name=$(basename "$project" .csproj)
    echo "==> running $name"
    started=$SECONDS
    dotnet test "$project" -c Release --no-build -nologo \
        --logger "trx;LogFilePrefix=$name" --logger "console;verbosity=minimal" --results-directory "$results" || status=$?
    echo "    $name took $((SECONDS - started)) s"
done

passed=0; failed=0; skipped=0; files=0
for trx in "$results"/*.trx; do
    [ -e "$trx" ] || continue
    files=$((files + 1))
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
    get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    p=$(get passed); f=$(get failed); t=$(get total); e=$(get executed)
    p=${p:-0}; f=${f:-0}; t=${t:-0}; e=${e:-0}
    # Errors, timeouts and aborts count as failures; not-executed tests as skipped.
    other=$((e - p - f)); [ "$other" -lt 0 ] && other=0
    # A test project that discovered nothing is a failure, never a silent green.
    if [ "$t" -eq 0 ]; then echo "no tests found in $trx" >&2; other=$((other + 1)); fi
    passed=$((passed + p)); failed=$((failed + f + other)); skipped=$((skipped + t - e))
done

if [ "$files" -eq 0 ] || { [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; }; then
    # The test host crashed or produced no results: never report that as green.
    echo "test run did not complete (exit $status, $files result files)" >&2
    failed=$((failed + 1))
fi

summary_printed=1
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
