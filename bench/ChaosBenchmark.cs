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
    public static async Task<int> RunAsync(BenchArgs a)
    {
        var runs = a.Int("runs", 5, 1, 100);
        var seed = a.Int("seed", 11, 0, int.MaxValue);
        var pool = a.Int("pool", 9000, 1000, 60000);
        var json = a.Flag("json");
        a.RejectUnknown();

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
