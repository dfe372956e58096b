using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Bench;

/// <summary>
/// The same pool scored with the same pruned selector two ways in one process: a plain loop over the shards (on
/// the same scoring engine as the silo), and through the pool-shard grains of an embedded silo (store, grain calls,
/// per-silo cache and replica,
/// top-k messages, merge). Reports raw/cluster throughput.
/// </summary>
internal static class ClusterOverheadBenchmark
{
    private static readonly Option<int> Samples = BenchOptions.Int("--samples", 60_000, 1_000, 60_000, "Pool size (Fashion-MNIST images)");
    private static readonly Option<int> Shards = BenchOptions.Int("--shards", 8, 1, 64, "Pool shards");
    private static readonly Option<int> Repeats = BenchOptions.Int("--repeats", 3, 1, 20, "Alternating passes of each path");
    private static readonly Option<double> Prune = BenchOptions.Double("--prune", 0.5, 0, 1, "Pruning ratio p");
    private static readonly Option<string> Arch = BenchOptions.Text("--arch", "resnet20", "Target network");
    private static readonly Option<int> K = BenchOptions.Int("--k", 1000, 1, 100_000, "Top-k kept per pass");
    private static readonly Option<string> Engine = BenchOptions.Text("--engine", "onnx", "Scoring engine of both paths: onnx (the silo default) or torch");
    private static readonly Option<string?> Data = BenchOptions.Data();
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>cluster-overhead</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("cluster-overhead", "The same pool scored by a plain TorchSharp loop and through the pool-shard grains of an embedded silo, in one run")
        {
            Samples, Shards, Repeats, Prune, Arch, K, Engine, Data, Json,
        };
        Engine.AcceptOnlyFromAmong("onnx", "torch");
        c.SetAction(p => BenchOptions.Guard(() => RunAsync(p)));
        return c;
    }

    public static async Task<int> RunAsync(ParseResult a)
    {
        var samples = a.GetValue(Samples);
        var shards = a.GetValue(Shards);
        var repeats = a.GetValue(Repeats);
        var prune = a.GetValue(Prune);
        var arch = a.GetValue(Arch)!;
        var k = a.GetValue(K);
        var dataDir = a.GetValue(Data);
        var json = a.GetValue(Json);
        var engine = a.GetValue(Engine) == "torch" ? ScoringEngine.Torch : ScoringEngine.Onnx;
        TorchRuntime.EnsureLoaded();

        var root = Directory.CreateTempSubdirectory("prunefuse-bench-").FullName;
        try
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(siloPort: FreePort(), gatewayPort: FreePort());
                silo.AddPruneFuseEmbedded(root, "cpu", new Grains.Compute.ComputeOptions { ScoringEngine = engine });
                silo.UseInMemoryReminderService();
            });
            using var host = builder.Build();
            await host.StartAsync();
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var store = host.Services.GetRequiredService<IArtifactStore>();

            Log($"importing {samples} Fashion-MNIST images as {shards} shards");
            await grains.GetGrain<IDatasetGrain>("bench").ImportFashionMnist(dataDir ?? "", shards, samples);
            var manifest = await new ExperimentStore(store, host.Services.GetRequiredService<Grains.Compute.ShardCache>()).ManifestAsync("bench");

            // The round's selector and an empty labeled set, stored as the coordinator would store them.
            using var theta0 = Network.Create(NetworkSpec.Dense(arch, 1, 10), 0);
            var plan = ChannelPruner.Plan(theta0, prune, PruneFuse.Learning.Pruning.PruningMethod.L2);
            using var selector = ChannelPruner.Extract(theta0, plan);
            var ckpt = await store.PutBytesAsync("experiments/bench/checkpoints/selector-round-001.pfc", Checkpoint.Save(selector, plan));
            var labeled = await store.PutBytesAsync("experiments/bench/labeled/before-round-001.json", "[]"u8.ToArray());
            var request = new ScoreRequest
            {
                ExperimentId = "bench", Round = 1, Selector = new ArtifactRef(ckpt.Name, ckpt.ETag), Labeled = new ArtifactRef(labeled.Name, labeled.ETag),
                Metric = Metric.LeastConfidence, K = k,
            };

            // Raw: the same shard files read once, scored by a plain loop.
            var shardSets = manifest.Shards.Select(s => PoolShardFormat.ReadFile(Path.Combine(root, "artifacts", s.Artifact)).Images).ToList();
            // The ONNX session is made once, as the silo caches its own per selector checkpoint.
            using var session = engine == ScoringEngine.Onnx
                ? OnnxScoringNetwork.FromModel(selector, manifest.Normalization, "selector", TorchSharp.torch.get_num_threads()) : null;
            double Raw()
            {
                var sw = Stopwatch.StartNew();
                using var scorer = session is null ? new PoolScorer(selector, manifest.Normalization) : new PoolScorer(session, ownsNetwork: false);
                var lists = shardSets.Select(set => (IReadOnlyList<ScoredSample>)scorer.TopK(PoolScorer.Batches(set, 128), 1, 28, 28, SelectionMetric.LeastConfidence, k, new HashSet<long>(), 0).TopK).ToList();
                var top = TopKMerge.Merge(lists, k);
                if (top.Count != Math.Min(k, samples)) throw new InvalidOperationException("raw top-k incomplete");
                return samples / sw.Elapsed.TotalSeconds;
            }
            async Task<(double Rate, long[] Ids)> Cluster()
            {
                var sw = Stopwatch.StartNew();
                var worker = grains.GetGrain<IScoringWorkerGrain>(host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());
                var results = await Task.WhenAll(manifest.Shards.Select(s => worker.Score(request with { DatasetId = "bench" }, new WorkUnit(s.Index, s.Index, 0, s.Count))));
                var top = TopKMerge.Merge([.. results.Select(r => (IReadOnlyList<ScoredSample>)r.TopK.Select(x => new ScoredSample(x.SampleId, x.Score)).ToList())], k);
                return (samples / sw.Elapsed.TotalSeconds, top.Select(t => t.SampleId).ToArray());
            }

            Log("warm-up (caches shards and the selector replica on the silo)");
            Raw();
            var warm = await Cluster();
            var raw = new List<double>();
            var cluster = new List<double>();
            for (var r = 0; r < repeats; r++)
            {
                raw.Add(Raw());
                var c = await Cluster();
                cluster.Add(c.Rate);
                if (!c.Ids.SequenceEqual(warm.Ids)) throw new InvalidOperationException("cluster selection changed between passes");
                Log($"  pass {r + 1}: raw {raw[^1]:F0}/s, cluster {cluster[^1]:F0}/s, overhead {raw[^1] / cluster[^1]:F3}");
            }
            var rawMedian = ScoringBenchmark.Median(raw);
            var clusterMedian = ScoringBenchmark.Median(cluster);
            Log($"overhead (raw/cluster) {rawMedian / clusterMedian:F3}");
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    samples, shards, arch, prune, repeats, engine = engine == ScoringEngine.Onnx ? "onnx" : "torch", host = ScoringBenchmark.HostName(),
                    rawSamplesPerSecond = Math.Round(rawMedian, 1),
                    clusterSamplesPerSecond = Math.Round(clusterMedian, 1),
                    overhead = Math.Round(rawMedian / clusterMedian, 3),
                    rawPasses = raw.Select(x => Math.Round(x, 1)),
                    clusterPasses = cluster.Select(x => Math.Round(x, 1)),
                }));
            }
            await host.StopAsync();
            return 0;
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void Log(string message) => Console.Error.WriteLine(message);
}
