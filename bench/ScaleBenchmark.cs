using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Datasets;
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
/// A pool of up to millions of real-derived samples (Fashion-MNIST training images with seeded shifts and flips)
/// written as shards, scored and merged through the pool-shard grains of an embedded silo whose shard cache is
/// off, so shards stream from storage. Reports throughput and the process's peak RSS while scoring.
/// </summary>
internal static class ScaleBenchmark
{
    private static readonly Option<int> Samples = BenchOptions.Int("--samples", 1_000_000, 1_000, 16_000_000, "Pool size (real-derived samples)");
    private static readonly Option<int> Shards = BenchOptions.Int("--shards", 16, 1, 1024, "Pool shards");
    private static readonly Option<double> Prune = BenchOptions.Double("--prune", 0.5, 0, 1, "Pruning ratio p");
    private static readonly Option<string> Arch = BenchOptions.Text("--arch", "resnet20", "Target network");
    private static readonly Option<int> K = BenchOptions.Int("--k", 1000, 1, 100_000, "Top-k selected");
    private static readonly Option<int> CacheMb = BenchOptions.Int("--cache-mb", 0, 0, 1_048_576, "Shard cache of the silo in MB (0 = stream every shard)");
    private static readonly Option<int> Seed = BenchOptions.Int("--seed", 0, 0, int.MaxValue, "Seed of the derived samples");
    private static readonly Option<string> Engine = BenchOptions.Text("--engine", "onnx", "Scoring engine of the silo: onnx (default) or torch");
    private static readonly Option<string?> Data = BenchOptions.Data();
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>scale</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("scale", "A pool of real-derived samples (Fashion-MNIST with seeded shifts/flips) written as shards, scored and merged " +
            "through the pool-shard grains with the shard cache off (streaming); reports peak RSS") { Samples, Shards, Prune, Arch, K, CacheMb, Seed, Engine, Data, Json };
        Engine.AcceptOnlyFromAmong("onnx", "torch");
        c.SetAction(p => BenchOptions.Guard(() => RunAsync(p)));
        return c;
    }

    public static async Task<int> RunAsync(ParseResult a)
    {
        var samples = a.GetValue(Samples);
        var shards = a.GetValue(Shards);
        var prune = a.GetValue(Prune);
        var arch = a.GetValue(Arch)!;
        var k = a.GetValue(K);
        var cacheMb = a.GetValue(CacheMb);
        var seed = a.GetValue(Seed);
        var dataDir = a.GetValue(Data);
        var json = a.GetValue(Json);
        var engine = a.GetValue(Engine) == "torch" ? ScoringEngine.Torch : ScoringEngine.Onnx;
        TorchRuntime.EnsureLoaded();

        var root = Directory.CreateTempSubdirectory("prunefuse-scale-").FullName;
        try
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(siloPort: FreePort(), gatewayPort: FreePort());
                silo.AddPruneFuseEmbedded(root, "cpu", new ComputeOptions { ShardCacheBytes = cacheMb * (1L << 20), ScoringEngine = engine });
                silo.UseInMemoryReminderService();
            });
            using var host = builder.Build();
            await host.StartAsync();
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var store = host.Services.GetRequiredService<IArtifactStore>();

            var sw = Stopwatch.StartNew();
            var manifest = await WritePoolAsync(store, "scale", samples, shards, seed, dataDir);
            Log($"wrote {samples:N0} samples as {shards} shards in {sw.Elapsed.TotalSeconds:F0} s ({new DirectoryInfo(Path.Combine(root, "artifacts")).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) / 1e9:F2} GB)");

            using var theta0 = Network.Create(NetworkSpec.Dense(arch, 1, 10), seed);
            var plan = ChannelPruner.Plan(theta0, prune, PruneFuse.Learning.Pruning.PruningMethod.L2);
            using var selector = ChannelPruner.Extract(theta0, plan);
            var ckpt = await store.PutBytesAsync("experiments/scale/checkpoints/selector-round-001.pfc", Checkpoint.Save(selector, plan));
            var labeled = await store.PutBytesAsync("experiments/scale/labeled/before-round-001.json", "[]"u8.ToArray());
            var request = new ScoreRequest
            {
                ExperimentId = "scale", Round = 1, Selector = new ArtifactRef(ckpt.Name, ckpt.ETag), Labeled = new ArtifactRef(labeled.Name, labeled.ETag),
                Metric = Metric.LeastConfidence, K = k, DatasetId = "scale",
            };
            var worker = grains.GetGrain<IScoringWorkerGrain>(host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());

            // Peak RSS of the scoring phase alone: the kernel's high-water mark is reset first (clear_refs 5).
            // The pool was generated in this process: return that memory to the OS so the scoring peak is its own.
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            var resetOk = TryResetPeakRss();
            var baseline = Rss();
            Log($"scoring through the silo's scoring worker, one work unit per shard ({shards}), (shard cache {cacheMb} MB, peak-RSS reset {(resetOk ? "ok" : "unavailable")}, RSS now {baseline / 1e6:F0} MB)");
            sw.Restart();
            var done = 0;
            var results = await Task.WhenAll(manifest.Shards.Select(async s =>
            {
                var r = await worker.Score(request, new WorkUnit(s.Index, s.Index, 0, s.Count));
                Log($"  shard {s.Index}: {r.Scored:N0} scored ({Interlocked.Increment(ref done)}/{shards}, {sw.Elapsed.TotalSeconds:F0} s, RSS {Rss() / 1e6:F0} MB)");
                return r;
            }));
            var top = TopKMerge.Merge([.. results.Select(r => (IReadOnlyList<ScoredSample>)r.TopK.Select(x => new ScoredSample(x.SampleId, x.Score, x.Predicted)).ToList())], k);
            var seconds = sw.Elapsed.TotalSeconds;
            var scored = results.Sum(r => r.Scored);
            if (scored != samples || top.Count != Math.Min(k, samples)) throw new InvalidOperationException($"scored {scored} of {samples}, merged {top.Count} of {k}");
            var peak = PeakRss();
            Log($"{samples:N0} samples in {seconds:F1} s = {samples / seconds:F0}/s; peak RSS while scoring {peak / 1e6:F0} MB");
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    samples, shards, arch, prune, k, shardCacheMb = cacheMb, engine = engine == ScoringEngine.Onnx ? "onnx" : "torch", host = ScoringBenchmark.HostName(),
                    scoreSeconds = Math.Round(seconds, 2),
                    samplesPerSecond = Math.Round(samples / seconds, 1),
                    peakRssBytes = peak,
                    rssBeforeScoringBytes = baseline,
                    peakRssResetWorked = resetOk,
                    poolBytes = manifest.Shards.Sum(s => (long)s.Count * (784 + 12)),
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

    /// <summary>Writes the derived pool shard by shard (memory: one shard) plus a small test shard and the
    /// manifest.</summary>
    /// <summary>Writes a pool of real-derived samples as shards of dataset <paramref name="datasetId"/>, with a
    /// 1,000-image test shard.</summary>
    internal static async Task<DatasetManifest> WritePoolAsync(IArtifactStore store, string datasetId, int samples, int shards, int seed, string? dataDir)
    {
        var dir = FashionMnist.Locate(dataDir);
        var train = FashionMnist.Load(dir, "train", 0);
        var test = FashionMnist.Load(dir, "t10k", 100_000_000).Take(1000);
        var per = (samples + shards - 1) / shards;
        var entries = new List<ShardEntry>();
        for (var s = 0; s < shards; s++)
        {
            var first = (long)s * per;
            var count = (int)Math.Min(per, samples - first);
            if (count <= 0) break;
            var ids = new long[count];
            var labels = new int[count];
            var pixels = new byte[count * 784L];
            Parallel.For(0, count, i =>
            {
                var id = first + i;
                var source = (int)(id % train.Count);
                ids[i] = id;
                labels[i] = train.Labels[source];
                // Every derived sample is a seeded shift (±2 px) and optional horizontal flip of a real image.
                var rng = SeededRandom.For(seed, $"scale-{id}");
                int dx = rng.NextInt(5) - 2, dy = rng.NextInt(5) - 2;
                var flip = rng.NextInt(2) == 1;
                var src = train.Pixels.AsSpan(source * 784, 784);
                var dst = pixels.AsSpan((int)(i * 784L), 784);
                for (var y = 0; y < 28; y++)
                {
                    for (var x = 0; x < 28; x++)
                    {
                        var sx = (flip ? 27 - x : x) - dx;
                        var sy = y - dy;
                        dst[y * 28 + x] = sx is >= 0 and < 28 && sy is >= 0 and < 28 ? src[sy * 28 + sx] : (byte)0;
                    }
                }
            });
            var name = ArtifactLayout.PoolShard(datasetId, s);
            using (var ms = new MemoryStream())
            {
                PoolShardFormat.Write(ms, new ImageSet(ids, labels, pixels, 1, 28, 28), 10);
                ms.Position = 0;
                await store.PutAsync(name, ms);
            }
            entries.Add(new ShardEntry(s, name, first, count));
        }
        using (var ms = new MemoryStream())
        {
            PoolShardFormat.Write(ms, test, 10);
            ms.Position = 0;
            await store.PutAsync(ArtifactLayout.TestShard(datasetId), ms);
        }
        var manifest = new DatasetManifest
        {
            DatasetId = datasetId, Channels = 1, Height = 28, Width = 28, Classes = 10, Normalization = ImageNormalization.FashionMnist,
            Shards = [.. entries], TestShard = ArtifactLayout.TestShard(datasetId), TestCount = test.Count, ClassNames = [.. FashionMnist.ClassNames],
        };
        await store.PutBytesAsync(ArtifactLayout.DatasetManifest(datasetId), manifest.ToJson());
        return manifest;
    }

    private static bool TryResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long Rss() => StatusKb("VmRSS:") * 1024;

    private static long PeakRss() => StatusKb("VmHWM:") * 1024;

    private static long StatusKb(string field)
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void Log(string message) => Console.Error.WriteLine(message);
}
