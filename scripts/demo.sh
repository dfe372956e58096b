#!/usr/bin/env bash
# The main job: a PruneFuse experiment on Fashion-MNIST, end to end, on the embedded default.
#   bash scripts/demo.sh --quick          (a few minutes on 2 cores)
#   bash scripts/demo.sh                  (longer: 4 rounds, 30 final epochs)
#   bash scripts/demo.sh --quick --json   (last line: one JSON object)
#   bash scripts/demo.sh --quick --stop-silo   (stop the silo this script started once the demo ends)
# Installs what is missing (Debian's dataset-fashion-mnist), builds, starts an embedded silo on 127.0.0.1
# (dashboard http://127.0.0.1:8080/dashboard, experiments page http://127.0.0.1:8080/prunefuse) unless one is already
# running, and runs `prunefuse demo`. The silo it started keeps running afterwards, so the dashboard stays up with the
# results; the last lines say how to stop it.
set -uo pipefail
cd "$(dirname "$0")/.."

stop_silo=0
demo_args=()
for a in "$@"; do
    if [ "$a" = "--stop-silo" ]; then stop_silo=1; else demo_args+=("$a"); fi
done
source scripts/prerequisites.sh
require_dotnet
ensure_fashion_mnist

echo "==> building (Release)" >&2
dotnet build src/Silo -c Release -nologo -v quiet >&2 || { echo "error: building the silo failed" >&2; exit 1; }
dotnet build src/Client -c Release -nologo -v quiet >&2 || { echo "error: building the client failed" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

silo_pid=""
if port_open 30000; then
    echo "==> using the silo already listening on 127.0.0.1:30000" >&2
else
    mkdir -p .data
    echo "==> starting the embedded silo (log: .data/silo.log)" >&2
    dotnet src/Silo/bin/Release/net10.0/prunefuse-silo.dll --PruneFuse:DataRoot="$(pwd)/.data/embedded" > .data/silo.log 2>&1 &
    silo_pid=$!
    # Stopped at exit only when asked, or when the demo never got going.
    trap '[ -n "$silo_pid" ] && [ "$stop_silo" = 1 ] && kill "$silo_pid" 2>/dev/null && wait "$silo_pid" 2>/dev/null' EXIT
    for _ in $(seq 1 120); do
        port_open 30000 && port_open 8080 && break
        if ! kill -0 "$silo_pid" 2>/dev/null; then
            echo "error: the silo exited during start-up; last lines of .data/silo.log:" >&2
            tail -n 20 .data/silo.log >&2
            exit 1
        fi
        sleep 0.5
    done
    if ! port_open 30000; then
        stop_silo=1
        echo "error: the silo did not open its gateway within 60 s (see .data/silo.log)" >&2
        exit 1
    fi
fi

dotnet src/Client/bin/Release/net10.0/prunefuse.dll demo "${demo_args[@]}"
status=$?
if [ -n "$silo_pid" ] && [ "$stop_silo" = 0 ]; then
    echo "==> the silo keeps running (pid $silo_pid) so the dashboard stays up: http://127.0.0.1:8080/prunefuse; stop it with: kill $silo_pid" >&2
fi
exit $status
