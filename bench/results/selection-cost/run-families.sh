#!/usr/bin/env bash
# Issue 27's per-family table: scoring and training, dense and pruned (p = 0.5), TorchSharp, ONNX Runtime and
# PyTorch side by side in one run per family. From the repository root, after a Release build of bench/.
set -euo pipefail
out=bench/results/selection-cost
bench() { dotnet bench/bin/Release/net10.0/prunefuse-bench.dll scoring --prune 0.5 --engine torch,onnx --measure scoring,training --pytorch --profile --json "$@"; }
run() { local name=$1; shift; bench "$@" > "$out/$name.json" 2> "$out/$name.log"; tail -n 1 "$out/$name.log" >&2; }
run resnet20 --arch resnet20 --samples 10000 --train-samples 2048 --repeats 3 --batch-sizes 64,128,256,512
run resnet18-small --arch resnet18 --stem small --samples 2048 --train-samples 512 --repeats 3 --batch-sizes 64,128,256
run wrn-16-4 --arch wrn-16-4 --samples 2048 --train-samples 512 --repeats 3 --batch-sizes 64,128,256
run resnet50-imagenet-64 --arch resnet50 --stem imagenet --size 64 --samples 2048 --train-samples 512 --repeats 3 --batch-sizes 64,128,256
run mobilenet_v2-small --arch mobilenet_v2 --stem small --samples 2048 --train-samples 512 --repeats 3 --batch-sizes 64,128,256
