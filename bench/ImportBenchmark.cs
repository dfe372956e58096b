using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PruneFuse.Grains.Storage;
using PruneFuse.Tests.Shared;
using SkiaSharp;

namespace PruneFuse.Bench;

/// <summary>
/// Import at scale: generated JPEG pools (many small images, and one of more decoded pixels than a .NET array holds)
/// imported through the console into a real silo process pinned to one core; images/s and the silo's peak RSS above
/// its idle RSS, per pool, so memory can be compared across pool sizes.
/// </summary>
internal static class ImportBenchmark
{
    private static readonly Option<int> Small = BenchOptions.Int("--images", 200_000, 100, 10_000_000,
        "Images in the many-small-images pool");
    private static readonly Option<int> SmallSize = BenchOptions.Int("--image-size", 32, 8, 1024,
        "Side of the small pool's images (stored at this size)");
    private static readonly Option<int> Large = BenchOptions.Int("--large-images", 17_000, 0, 10_000_000,
        "Images in the large pool (0 = skip it)");
    private static readonly Option<int> LargeSize = BenchOptions.Int("--large-size", 224, 8, 1024,
        "Side of the large pool's images (stored at this size)");
    private static readonly Option<string> ShardSize = BenchOptions.Text("--shard-size", "256MB",
        "--shard-size of the imports");
    private static readonly Option<string> ClusterShardSize = BenchOptions.Text("--cluster-shard-size", "32MB",
        "--shard-size of the cluster imports: enough shards that two silos share them evenly");
    private static readonly Option<string> Cpus = BenchOptions.Text("--cpus", "0",
        "CPU list the silo is pinned to (taskset -c)");
    private static readonly Option<bool> ScaleOut = new("--scale-out")
    {
        Description = "Also import the small pool on a cluster (Azurite) of one silo and of two, each pinned to its "
            + "own core: speed-up and identical shards",
        DefaultValueFactory = _ => true,
    };
    private static readonly Option<bool> Json = BenchOptions.Json();
    private static readonly JsonSerializerOptions Camel = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The <c>import</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("import",
            "Generated JPEG pools (200,000 small images; one above 2.5 GB of decoded pixels) imported by a pinned "
            + "silo: " +
            "images/s and peak RSS per pool") { Small, SmallSize, Large, LargeSize, ShardSize, ClusterShardSize, Cpus,
                ScaleOut, Json };
        c.SetAction(p => BenchOptions.Guard(() => RunAsync(p)));
        return c;
    }

    private sealed record PoolRun(string Pool, int Images, int Side, long DecodedBytes, int Shards, double Seconds,
        double ImagesPerSecond,
        long IdleRssBytes, long PeakRssBytes)
    {
        public long GrowthBytes => PeakRssBytes - IdleRssBytes;
    }

    private static async Task<int> RunAsync(ParseResult a)
    {
        using var root = new TempDir("prunefuse-import-bench-");
        var pools = new List<(string Name, int Count, int Side)> { ("small", a.GetValue(Small),
            a.GetValue(SmallSize)) };
        if (a.GetValue(Large) > 0) pools.Add(("large", a.GetValue(Large), a.GetValue(LargeSize)));
        var runs = new List<PoolRun>();
        foreach (var (name, count, side) in pools)
        {
            var folder = Path.Combine(root.Path, name);
            var sw = Stopwatch.StartNew();
            Generate(folder, count, side);
            Log($"{name}: wrote {count:N0} JPEGs of {side}×{side} in {sw.Elapsed.TotalSeconds:F0} s");
            // A fresh silo per pool, so its peak RSS is this import's.
            await using var silo = new SiloProcess(Path.Combine(root.Path, $"silo-{name}"),
                ["--PruneFuse:Accelerator=cpu"], cpus: a.GetValue(Cpus));
            await silo.StartAsync();
            await Task.Delay(2000);
            var idle = silo.StatusBytes("VmRSS");
            var result = await ImportAsync(silo, name, folder, side, a.GetValue(ShardSize)!);
            var peak = silo.StatusBytes("VmHWM");
            var dataset = result.GetProperty("dataset");
            var seconds = result.GetProperty("seconds").GetDouble();
            var run = new PoolRun(name, count, side, (long)count * side * side * 3,
                dataset.GetProperty("shards").GetInt32(), seconds, count / seconds, idle, peak);
            Log($"{name}: {run.DecodedBytes / 1e9:F2} GB decoded in {run.Shards} shards, {run.ImagesPerSecond:N0} "
                + $"images/s, " +
                $"RSS idle {idle >> 20} MB, peak {peak >> 20} MB (+{run.GrowthBytes >> 20} MB)");
            runs.Add(run);
            if (name != "small" || !a.GetValue(ScaleOut)) Directory.Delete(folder, recursive: true);
        }
        var scaleOut = a.GetValue(ScaleOut) ? await ScaleOutAsync(root.Path, Path.Combine(root.Path, "small"),
            a.GetValue(SmallSize), a.GetValue(ClusterShardSize)!) : null;
        var growth = runs.Select(r => (double)r.GrowthBytes).ToArray();
        var spread = growth.Length > 1 ? growth.Max() / growth.Min() : 1;
        Console.WriteLine($"{"pool",-6} {"images",10} {"decoded",10} {"shards",6} {"images/s",9} {"peak RSS",9} "
            + $"{"growth",8}");
        foreach (var r in runs)
        {
            Console.WriteLine($"{r.Pool,-6} {r.Images,10:N0} {r.DecodedBytes / 1e9,8:F2}GB {r.Shards,6} "
                + $"{r.ImagesPerSecond,9:N0} {r.PeakRssBytes >> 20,7}MB {r.GrowthBytes >> 20,6}MB");
        }
        Console.WriteLine($"peak RSS growth, largest ÷ smallest pool: {spread:F2} (target ≤ 1.20)");
        if (scaleOut is not null)
        {
            foreach (var c in scaleOut.Configs)
            {
                Console.WriteLine($"cluster {c.Config}: {c.Seconds:F1} s, {c.ImagesPerSecond:N0} images/s; " +
                    string.Join(", ", c.Silos.Select(x
                        => $"{x.Silo} {x.Shards} shards at {x.ImagesPerSecond:N0}/s, peak RSS {x.PeakRssBytes >> 20} "
                        + $"MB")));
            }
            Console.WriteLine($"two pinned silos ÷ one: {scaleOut.TwoOverOne:F2}× (target ≥ 1.70); "
                + $"shards identical: {scaleOut.ShardsIdentical}");
        }
        if (a.GetValue(Json)) Console.WriteLine(JsonSerializer.Serialize(new { runs, growthRatio = spread,
            cpus = a.GetValue(Cpus), scaleOut }, Camel));
        return scaleOut is { ShardsIdentical: false } ? 1 : 0;
    }

    private sealed record ClusterSilo(string Silo, string Cpu, int Shards, double ImagesPerSecond, long PeakRssBytes);

    private sealed record ClusterRun(string Config, double Seconds, double ImagesPerSecond, ClusterSilo[] Silos,
        string[] ShardHashes);

    private sealed record ScaleOutResult(ClusterRun[] Configs, double TwoOverOne, bool ShardsIdentical);

    // The same pool imported by a cluster of one pinned silo and of two (each on its own core), artifacts on Azurite.
    private static async Task<ScaleOutResult> ScaleOutAsync(string root, string folder, int side, string shardSize)
    {
        if (Environment.ProcessorCount < 2) throw new InvalidOperationException($"--scale-out pins two silos to two "
            + $"cores; this process sees {Environment.ProcessorCount}");
        var runs = new List<ClusterRun>();
        foreach (var (config, cpus) in new[] { ("one", new[] { "0" }), ("two", new[] { "0", "1" }) })
        {
            // A fresh Azurite per cluster: the console joins the cluster id every silo uses, so no stale members meet.
            await using var azurite = new AzuriteProcess();
            await azurite.InitializeAsync();
            var container = $"import-{config}";
            string[] args = ["--PruneFuse:Mode=Cluster", $"--PruneFuse:Storage:Container={container}",
                "--PruneFuse:Accelerator=cpu"];
            var env = new Dictionary<string,
                string> { ["PruneFuse__Storage__ConnectionString"] = azurite.ConnectionString,
                ["PruneFuse__Http__AllowAnonymous"] = "true" };
            var silos = cpus.Select(c => new SiloProcess(Path.Combine(root, $"cluster-{config}"), args, env,
                $"silo-cpu{c}", c)).ToList();
            try
            {
                foreach (var s in silos) await s.StartAsync();
                await Task.Delay(3000); // membership settles: every silo takes shards from the start
                var result = await ImportAsync(silos[0], "scale", folder, side, shardSize,
                    SiloProcess.ClientArgumentsFor(silos[0].GatewayPort));
                var store = new PruneFuse.Grains.Storage.AzureBlobArtifactStore(azurite.BlobService, container);
                var manifest = await PruneFuse.Grains.Datasets.DatasetManifest.LoadAsync(store, "scale");
                var hashes = new List<string>();
                foreach (var shard in manifest.Shards)
                {
                    var bytes = await store.ReadBytesAsync(shard.Artifact);
                    hashes.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)));
                }
                var perSilo = result.GetProperty("silos").EnumerateArray().Select(x =>
                {
                    var name = x.GetProperty("silo").GetString()!;
                    var process = silos.FirstOrDefault(p => name.Split('@')[0].EndsWith($":{p.SiloPort}",
                        StringComparison.Ordinal));
                    return new ClusterSilo(name, process?.Cpus ?? "?", x.GetProperty("shards").GetInt32(),
                        x.GetProperty("imagesPerSecond").GetDouble(),
                        process?.StatusBytes("VmHWM") ?? 0);
                }).ToArray();
                var seconds = result.GetProperty("seconds").GetDouble();
                var images = result.GetProperty("dataset").GetProperty("poolSize").GetInt32()
                    + result.GetProperty("dataset").GetProperty("testSize").GetInt32();
                runs.Add(new ClusterRun(config, seconds, images / seconds, perSilo, [.. hashes]));
                Log($"cluster {config}: {images:N0} images in {seconds:F1} s ({images / seconds:N0}/s)");
            }
            finally
            {
                foreach (var s in silos) await s.DisposeAsync();
            }
        }
        return new ScaleOutResult([.. runs], runs[1].ImagesPerSecond / runs[0].ImagesPerSecond,
            runs[0].ShardHashes.SequenceEqual(runs[1].ShardHashes));
    }

    // Class-coloured JPEGs with a seeded pattern, written by every core (this is setup, not measured).
    private static void Generate(string folder, int count, int side)
    {
        for (var c = 0; c < 10; c++) Directory.CreateDirectory(Path.Combine(folder, $"class{c}"));
        Parallel.For(0, count, i =>
        {
            var rng = new Random(i);
            using var bitmap = new SKBitmap(side, side);
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(new SKColor((byte)(25 * (i % 10)), (byte)rng.Next(256), 128));
                using var paint = new SKPaint { Color = new SKColor((byte)rng.Next(256), (byte)rng.Next(256),
                    (byte)rng.Next(256)) };
                for (var k = 0; k < 4; k++) canvas.DrawRect(rng.Next(side), rng.Next(side), 1 + rng.Next(side / 2), 1
                    + rng.Next(side / 2), paint);
            }
            using var jpeg = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
            File.WriteAllBytes(Path.Combine(folder, $"class{i % 10}", $"{i:D8}.jpg"), jpeg.ToArray());
        });
    }

    private static async Task<JsonElement> ImportAsync(SiloProcess silo, string id, string folder, int side,
        string shardSize, string[]? clientArgs = null)
    {
        var psi = new ProcessStartInfo("dotnet", [BuildOutput.ClientDll, "dataset", "import", "--id", id, "--from",
            "images", folder, "--size", $"{side}x{side}",
            "--shard-size", shardSize, "--test-fraction", "0.02", "--json", "--gateway-port",
                silo.GatewayPort.ToString(CultureInfo.InvariantCulture), .. clientArgs ?? []])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the console");
        var stderr = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync() is { } line) Log($"  {id}: {line}");
        });
        var stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        await stderr;
        if (p.ExitCode != 0) throw new InvalidOperationException($"import of {id} failed (exit {p.ExitCode}): "
            + $"{stdout}; silo log:\n{string.Join('\n', silo.Log.Split('\n').TakeLast(30))}");
        return JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement.Clone();
    }

    private static void Log(string message)
        => Console.Error.WriteLine($"[{DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}] {message}");
}
