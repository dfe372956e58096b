using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using PruneFuse.Tests.Shared.Cluster;

namespace PruneFuse.Bench;

/// <summary>
/// The fault campaign (tests/Shared/Cluster/ChaosCampaign.cs) over several runs: a real 3-silo cluster on Azurite,
/// two experiments at once per run, four faults per run, every result checked against undisturbed references.
/// </summary>
internal static class ChaosBenchmark
{
    private static readonly Option<int> Runs = BenchOptions.Int("--runs", 5, 1, 100, "Runs of the campaign");
    private static readonly Option<int> Seed = BenchOptions.Int("--seed", 11, 0, int.MaxValue, "Seed of the first run (run i uses seed + i)");
    private static readonly Option<int> Pool = BenchOptions.Int("--pool", 9000, 1000, 60000, "Pool size (Fashion-MNIST images)");
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>chaos</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("chaos", "Fault campaign on a real 3-silo cluster (Azurite, cluster mode): per run two experiments at once, a kill -9 " +
            "while a selector trains, while shards score and while the fused network trains, and a stop/restart of every silo; selections are " +
            "compared with undisturbed runs of the same seeds (needs Azurite: bash scripts/test.sh installs it)") { Runs, Seed, Pool, Json };
        c.SetAction(p => BenchOptions.Guard(() => RunAsync(p)));
        return c;
    }

    public static async Task<int> RunAsync(ParseResult a)
    {
        var runs = a.GetValue(Runs);
        var seed = a.GetValue(Seed);
        var pool = a.GetValue(Pool);
        var json = a.GetValue(Json);

        var sw = Stopwatch.StartNew();
        await using var campaign = new ChaosCampaign(new ChaosOptions { Runs = runs, Seed = seed, PoolLimit = pool, Log = Console.Error });
        var result = await campaign.RunAsync();
        foreach (var f in result.Faults) Console.Error.WriteLine($"  {f}");
        foreach (var p in result.Problems) Console.Error.WriteLine($"  problem: {p}");
        Console.Error.WriteLine($"{result.Runs} runs, {result.FaultsInjected} faults injected, {result.Completed}/{result.Experiments} experiments completed, " +
                                $"{result.IdenticalSelections} with identical selections, {result.LostRounds} lost rounds, {campaign.UncleanStops} unclean graceful stops, in {sw.Elapsed.TotalMinutes:F1} min");
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                runs = result.Runs, faultsInjected = result.FaultsInjected, completed = result.Completed,
                identicalSelections = result.IdenticalSelections, lostRounds = result.LostRounds, uncleanStops = campaign.UncleanStops,
                experiments = result.Experiments, minutes = Math.Round(sw.Elapsed.TotalMinutes, 1),
            }));
        }
        var clean = result.Completed == result.Experiments && result.IdenticalSelections == result.Experiments && result.LostRounds == 0 && campaign.UncleanStops == 0;
        return clean ? 0 : 1;
    }
}
