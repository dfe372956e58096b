using PruneFuse.Bench;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Runtime;

const string Usage = """
    prunefuse-bench <command> [options]

    Commands:
      scoring   Score real Fashion-MNIST images with a dense network and its pruned selector, side by side.
                --arch resnet20  --prune 0.5  --samples 20000  --batch-sizes 32,64,128,256,512
                --repeats 3  --threads N (default: torch's)  --thread-sweep 1,2  --worker-sweep 1,2  --method l2|random  --seed 0  --data DIR  --json

      scoring-sweep  Dense vs pruned at several p and vs SVP proxies, speedup against the MAC ratio.
                --arch resnet20  --prune 0.3,0.5,0.7,0.8  --proxies resnet8,resnet14  --samples 10000  --repeats 3  --json
      cluster-overhead  The same pool scored by a plain TorchSharp loop and through the pool-shard grains of an
                embedded silo, in one run.
                --samples 60000  --shards 8  --repeats 3  --arch resnet20  --prune 0.5  --k 1000  --data DIR  --json
      scale     A pool of real-derived samples (Fashion-MNIST with seeded shifts/flips) written as shards, scored and
                merged through the pool-shard grains with the shard cache off (streaming); reports peak RSS.
                --samples 1000000  --shards 16  --arch resnet20  --prune 0.5  --k 1000  --cache-mb 0  --seed 0  --data DIR  --json
      study     The accuracy study: PruneFuse p=0.5/0.7, dense AL, SVP, random and the ablations through the cluster.
                --preset quick|full  --seeds N (quick 1, full 3)  --methods a,b  --out bench/results  --data DIR  --resume  --json
                (finished experiments go to <out>/study-<preset>.runs.jsonl; --resume reuses them, else it starts over)
      chaos     Fault campaign on a real 3-silo cluster (Azurite, cluster mode): per run two experiments at once, a
                kill -9 while a selector trains, while shards score and while the fused network trains, and a
                stop/restart of every silo; selections are compared with undisturbed runs of the same seeds.
                --runs 5  --seed 11  --pool 9000  --json   (needs Azurite: bash scripts/test.sh installs it)
      plot-sweep  Speedup against p (and the MAC ratio) from a scoring-sweep JSON, as a PNG.
                --in bench/results/scoring-sweep-resnet20.json  --out bench/results/speedup-vs-p.png

    With --json the last line of stdout is one JSON object; progress goes to stderr.
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    var options = new BenchArgs(args.Skip(1));
    return args[0] switch
    {
        "scoring" => ScoringBenchmark.Run(options),
        "scoring-sweep" => ScoringBenchmark.RunSweep(options),
        "cluster-overhead" => await ClusterOverheadBenchmark.RunAsync(options),
        "scale" => await ScaleBenchmark.RunAsync(options),
        "study" => await StudyBenchmark.RunAsync(options),
        "chaos" => await ChaosBenchmark.RunAsync(options),
        "plot-sweep" => SweepPlot.Run(options),
        _ => throw new BenchUsageException($"unknown command '{args[0]}'"),
    };
}
catch (PruneFuse.Tests.Shared.MissingPrerequisiteException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
catch (BenchUsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
catch (Exception e) when (e is ArgumentException or DataFormatException or FileNotFoundException or DirectoryNotFoundException or TorchUnavailableException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
