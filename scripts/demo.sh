#!/usr/bin/env bash
# The main job: a PruneFuse experiment on Fashion-MNIST, end to end, on the embedded default.
#   bash scripts/demo.sh --quick          (a few minutes on 2 cores)
#   bash scripts/demo.sh                  (longer: 4 rounds, 30 final epochs)
#   bash scripts/demo.sh --quick --json   (last line: one JSON object)
# Installs what is missing (Debian's dataset-fashion-mnist), builds, starts an embedded silo on 127.0.0.1
# (dashboard http://127.0.0.1:8080/dashboard) unless one is already running, runs `prunefuse demo`, stops the silo.
set -uo pipefail
cd "$(dirname "$0")/.."
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
    trap '[ -n "$silo_pid" ] && kill "$silo_pid" 2>/dev/null && wait "$silo_pid" 2>/dev/null' EXIT
    for _ in $(seq 1 120); do
        port_open 30000 && port_open 8080 && break
        if ! kill -0 "$silo_pid" 2>/dev/null; then
            echo "error: the silo exited during start-up; last lines of .data/silo.log:" >&2
            tail -n 20 .data/silo.log >&2
            exit 1
        fi
        sleep 0.5
    done
    port_open 30000 || { echo "error: the silo did not open its gateway within 60 s (see .data/silo.log)" >&2; exit 1; }
fi

dotnet src/Client/bin/Release/net10.0/prunefuse.dll demo "$@"
