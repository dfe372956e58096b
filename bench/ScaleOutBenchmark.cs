using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Interfaces.Security;
using PruneFuse.Grains.Storage;
using PruneFuse.Tests.Shared;

namespace PruneFuse.Bench;

/// <summary>
/// Scale-out: real silo processes in cluster mode on Azurite, each pinned to its own core (<c>taskset -c</c>) with one
/// compute slot of one scoring thread, score a pool of real-derived samples through whole experiments. One silo, two
/// silos, and two silos of which one shares its core with a CPU hog; reports each round's scoring rate, the per-silo
/// split, the speed-up and how close the uneven pair comes to its ideal split, and checks that every configuration
/// selects the same samples.
/// </summary>
internal static class ScaleOutBenchmark
{
    private static readonly Option<int> Samples = BenchOptions.Int("--samples", 200_000, 10_000, 16_000_000, "Pool size (real-derived samples)");
    private static readonly Option<int> Shards = BenchOptions.Int("--shards", 8, 1, 1024, "Pool shards");
    private static readonly Option<int> UnitSamples = BenchOptions.Int("--unit-samples", 8192, 256, 16_000_000, "Most samples per work unit");
    private static readonly Option<int> Rounds = BenchOptions.Int("--rounds", 2, 1, 20, "Selection rounds per experiment (round 1 reads the pool from storage; later rounds score from the silos' caches)");
    private static readonly Option<double> Prune = BenchOptions.Double("--prune", 0.5, 0, 1, "Pruning ratio p of the selector");
    private static readonly Option<string> Arch = BenchOptions.Text("--arch", "resnet20", "Target network");
    private static readonly Option<string[]> Configs = BenchOptions.TextList("--configs", ["one", "two", "uneven"], "Configurations: one (one silo), two (two silos), uneven (two silos, a CPU hog on the second's core)");
    private static readonly Option<int> CacheMb = BenchOptions.Int("--cache-mb", 1024, 0, 1_048_576, "Shard cache per silo in MB");
    private static readonly Option<int> Seed = BenchOptions.Int("--seed", 0, 0, int.MaxValue, "Seed of the pool and the experiments");
    private static readonly Option<string?> Data = BenchOptions.Data();
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>scale-out</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("scale-out", "Real silo processes in cluster mode on Azurite, each pinned to its own core with one scoring thread: one silo vs two, " +
            "and two with a CPU hog on one core; round rates, per-silo splits and identical selections (needs taskset and 2 CPUs)")
        { Samples, Shards, UnitSamples, Rounds, Prune, Arch, Configs, CacheMb, Seed, Data, Json };
        c.SetAction(p => BenchOptions.Guard(() => RunAsync(p)));
        return c;
    }

    /// <summary>One configuration's outcome.</summary>
    private sealed record Outcome(string Config, string Cpus, RoundRecord[] Rounds, long[][] Selections, double FinalAccuracy, Dictionary<string, string> CpuOf);

    public static async Task<int> RunAsync(ParseResult a)
    {
        var samples = a.GetValue(Samples);
        var json = a.GetValue(Json);
        var configs = a.GetValue(Configs)!;
        var unknown = configs.Except(["one", "two", "uneven"]).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"--configs: unknown configuration(s) {string.Join(", ", unknown)}; choose from one, two, uneven");
        if (Environment.ProcessorCount < 2) throw new InvalidOperationException($"scale-out pins each silo to its own core and needs 2 CPUs; this process sees {Environment.ProcessorCount}");
        if (!OnPath("taskset")) throw new InvalidOperationException("scale-out pins silos with taskset, which is not installed (Debian: apt-get install util-linux)");

        await using var azurite = new AzuriteProcess();
        await azurite.InitializeAsync();
        using var root = new TempDir("prunefuse-scaleout-");
        const string container = "scaleout";
        var store = new AzureBlobArtifactStore(azurite.BlobService, container);
        var sw = Stopwatch.StartNew();
        var manifest = await ScaleBenchmark.WritePoolAsync(store, "scaleout", samples, a.GetValue(Shards), a.GetValue(Seed), a.GetValue(Data));
        Log($"wrote {samples:N0} real-derived samples as {manifest.Shards.Length} shards to Azurite in {sw.Elapsed.TotalSeconds:F0} s");
        var spec = new ExperimentSpec
        {
            DatasetId = "scaleout", Arch = a.GetValue(Arch)!, Selector = SelectorKind.Pruned,
            PruneRatio = a.GetValue(Prune), Metric = Metric.LeastConfidence, InitialLabeled = 500, RoundSize = 500, Rounds = a.GetValue(Rounds),
            SelectorEpochs = 2, FinalEpochs = 1, BatchSize = 64, Seed = a.GetValue(Seed),
        };
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] = azurite.ConnectionString,
            ["PruneFuse__Http__AllowAnonymous"] = "true",
        };
        var outcomes = new List<Outcome>();
        foreach (var config in configs)
        {
            string[] cpus = config == "one" ? ["0"] : ["0", "1"];
            string[] args =
            [
                "--PruneFuse:Mode=Cluster", $"--PruneFuse:Storage:Container={container}", $"--PruneFuse:ClusterId=scaleout-{config}",
                "--PruneFuse:Accelerator=cpu", "--PruneFuse:Scoring:Threads=1", "--PruneFuse:Compute:Slots=1", "--PruneFuse:Compute:TorchThreads=1",
                $"--PruneFuse:Scoring:UnitSamples={a.GetValue(UnitSamples)}", $"--PruneFuse:ShardCacheMegabytes={a.GetValue(CacheMb)}",
            ];
            var silos = cpus.Select(c => new SiloProcess(root.Path, args, env, $"silo-cpu{c}", c)).ToList();
            Process? hog = null;
            try
            {
                Log($"{config}: starting {silos.Count} silo(s) pinned to cpu {string.Join(" and ", cpus)}");
                foreach (var s in silos) await s.StartAsync();
                if (config == "uneven")
                {
                    // A busy loop on the second silo's core: that silo gets about half of it.
                    hog = Process.Start(new ProcessStartInfo("taskset", ["-c", "1", "sh", "-c", "while :; do :; done"]) { UseShellExecute = false })!;
                    Log("uneven: CPU hog started on cpu 1");
                }
                outcomes.Add(await RunExperimentAsync(config, string.Join(",", cpus), silos, spec));
            }
            catch (Exception) when (Dump(silos))
            {
                throw;
            }
            finally
            {
                if (hog is { HasExited: false }) hog.Kill(entireProcessTree: true);
                hog?.Dispose();
                foreach (var s in silos) await s.DisposeAsync();
            }
        }

        var rows = outcomes.Select(o => new
        {
            config = o.Config, cpus = o.Cpus, finalAccuracy = Math.Round(o.FinalAccuracy, 4),
            rounds = o.Rounds.Select(r => new
            {
                round = r.Round, scored = r.Scored, seconds = Math.Round(r.ScoringSeconds, 2), samplesPerSecond = Math.Round(r.Scored / r.ScoringSeconds, 1),
                units = r.ScoringUnits,
                ideal = IdealSeconds(r) is { } ideal ? Math.Round(ideal, 2) : (double?)null,
                silos = r.ScoringSilos.Select(s => new { silo = s.Silo, cpu = o.CpuOf.GetValueOrDefault(s.Silo), units = s.Units, scored = s.Scored, seconds = Math.Round(s.Seconds, 2), samplesPerSecond = Math.Round(s.SamplesPerSecond, 1) }),
            }),
        }).ToList();
        // The headline uses the last round: shards are then in the silos' caches, as in a long experiment.
        double? Rate(string config) => outcomes.FirstOrDefault(o => o.Config == config) is { } o ? o.Rounds[^1].Scored / o.Rounds[^1].ScoringSeconds : null;
        var speedup = Rate("two") / Rate("one");
        var uneven = outcomes.FirstOrDefault(o => o.Config == "uneven")?.Rounds[^1];
        var unevenOverIdeal = uneven is not null && IdealSeconds(uneven) is { } idealUneven ? uneven.ScoringSeconds / idealUneven : (double?)null;
        var identical = outcomes.All(o => o.Selections.Length == outcomes[0].Selections.Length && o.Selections.Zip(outcomes[0].Selections).All(p => p.First.SequenceEqual(p.Second)));
        foreach (var o in outcomes)
        {
            foreach (var r in o.Rounds)
            {
                Log($"{o.Config} round {r.Round}: {r.Scored:N0} scored in {r.ScoringSeconds:F1} s = {r.Scored / r.ScoringSeconds:N0}/s over {r.ScoringUnits} units; " +
                    string.Join("; ", r.ScoringSilos.Select(s => $"{s.Silo} (cpu {o.CpuOf.GetValueOrDefault(s.Silo)}) {s.Units} units at {s.SamplesPerSecond:N0}/s")));
            }
        }
        Log($"two silos / one silo (last round): {speedup:F2}x (target >= 1.7); uneven round / ideal split: {unevenOverIdeal:F2} (target <= 1.20); selections identical: {identical}");
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                samples, shards = manifest.Shards.Length, unitSamples = a.GetValue(UnitSamples), arch = a.GetValue(Arch), prune = a.GetValue(Prune), host = ScoringBenchmark.HostName(),
                configs = rows, twoOverOne = speedup is { } x ? Math.Round(x, 3) : (double?)null,
                unevenOverIdeal = unevenOverIdeal is { } u ? Math.Round(u, 3) : (double?)null, selectionsIdentical = identical,
            }));
        }
        return identical ? 0 : 1;
    }

    /// <summary>
    /// The round's scoring time had its samples been split in proportion to each silo's own measured rate, so that
    /// all finish together: samples / (sum of the silos' rates).
    /// </summary>
    private static double? IdealSeconds(RoundRecord r)
    {
        var rate = r.ScoringSilos.Sum(s => s.SamplesPerSecond);
        return rate > 0 ? r.Scored / rate : null;
    }

    private static async Task<Outcome> RunExperimentAsync(string config, string cpus, List<SiloProcess> silos, ExperimentSpec spec)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(c => c
            .UseStaticClustering([.. silos.Select(s => new IPEndPoint(IPAddress.Loopback, s.GatewayPort))])
            .Configure<ClusterOptions>(o =>
            {
                o.ClusterId = $"scaleout-{config}";
                o.ServiceId = "prunefuse";
            })
            .UseClusterTls(TestCertificates.Shared.Credentials()));
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<IClusterClient>();
        var coordinator = client.GetGrain<ICoordinatorGrain>($"scaleout-{config}");
        await coordinator.Start(spec);
        var last = "";
        ExperimentStatus status;
        while (true)
        {
            status = await coordinator.GetStatus();
            if (status.State != ExperimentState.Running) break;
            var line = status.Scoring is { } sc
                ? $"round {sc.Round}: {sc.UnitsDone}/{sc.Units} units, " + string.Join("; ", sc.Silos.Select(s => $"{s.Silo} {s.Units} at {s.SamplesPerSecond:N0}/s"))
                : status.Stage ?? "";
            if (line != last) Log($"  {config}: {line}");
            last = line;
            await Task.Delay(1000);
        }
        if (status.State != ExperimentState.Completed) throw new InvalidOperationException($"{config}: experiment ended {status.State}: {status.Error}");
        var selections = new List<long[]>();
        for (var r = 1; r <= spec.Rounds; r++) selections.Add([.. (await coordinator.GetSelection(r)).Select(s => s.SampleId)]);
        await host.StopAsync();
        // Silo addresses are ip:port@generation; the port says which pinned process it was.
        var cpuOf = status.Rounds.SelectMany(r => r.ScoringSilos).Select(s => s.Silo).Distinct()
            .ToDictionary(s => s, s => silos.FirstOrDefault(p => s.Split('@')[0].EndsWith($":{p.SiloPort}", StringComparison.Ordinal))?.Cpus ?? "?");
        return new Outcome(config, cpus, status.Rounds, [.. selections], status.Final?.Accuracy ?? 0, cpuOf);
    }

    private static bool Dump(IEnumerable<SiloProcess> silos)
    {
        foreach (var s in silos) Console.Error.WriteLine($"--- {s.Name} log tail:\n{string.Join('\n', s.Log.Split('\n').TakeLast(40))}");
        return false;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    private static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}] {message}");
}
