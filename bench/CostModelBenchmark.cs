using System.CommandLine;
using System.Text.Json.Nodes;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Bench;

/// <summary>
/// <c>cost-model</c>: the selection cost ratio (PruneFuse ÷ dense AL) that a protocol has with the rates measured by
/// <c>scoring --measure scoring,training</c> runs, for each cheaper-selector variant. Reads the runs' JSON files, so a
/// table for another protocol needs no new measurement.
/// </summary>
internal static class CostModelBenchmark
{
    private static readonly Option<string[]> Rates = BenchOptions.TextList("--rates", [],
        "JSON files written by `scoring --measure scoring,training --json`");
    private static readonly Option<int> Pool = BenchOptions.Int("--pool", 0, 0, int.MaxValue,
        "Pool size (0: the full preset's 60,000 and the wide preset's)");
    private static readonly Option<int> Initial = BenchOptions.Int("--initial", 0, 0, int.MaxValue,
        "Initial labeled samples (0: the preset's)");
    private static readonly Option<int> RoundSize = BenchOptions.Int("--round-size", 0, 0, int.MaxValue,
        "Samples selected per round (0: the preset's)");
    private static readonly Option<int> Rounds = BenchOptions.Int("--rounds", 0, 0, 1000, "Rounds (0: the preset's)");
    private static readonly Option<int> SelectorEpochs = BenchOptions.Int("--selector-epochs", 0, 0, 1000,
        "Selector epochs (0: the preset's)");
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>cost-model</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("cost-model",
            "Selection cost ratio PruneFuse ÷ dense AL of a protocol, from measured scoring and training rates")
        {
            Rates, Pool, Initial, RoundSize, Rounds, SelectorEpochs, Json,
        };
        c.SetAction(p => BenchOptions.Guard(() => Run(p)));
        return c;
    }

    private static int Run(ParseResult a)
    {
        var files = a.GetValue(Rates)!.SelectMany(e => e.Split(',',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        if (files.Length == 0) throw new BenchUsageException("--rates names no file");
        var protocols = new List<(string Name, SelectionCostModel.Protocol Protocol)>();
        var defaults = new ExperimentSpec();
        if (a.GetValue(Pool) > 0 || a.GetValue(Initial) > 0 || a.GetValue(RoundSize) > 0 || a.GetValue(Rounds) > 0
            || a.GetValue(SelectorEpochs) > 0)
        {
            var full = SelectionCostModel.FullPreset(defaults);
            var spec = full with
            {
                InitialLabeled = Or(a.GetValue(Initial), full.InitialLabeled), RoundSize = Or(a.GetValue(RoundSize),
                    full.RoundSize),
                Rounds = Or(a.GetValue(Rounds), full.Rounds), SelectorEpochs = Or(a.GetValue(SelectorEpochs),
                    full.SelectorEpochs),
            };
            protocols.Add(("given", new(Or(a.GetValue(Pool), 60_000), spec)));
        }
        else
        {
            protocols.Add(("full preset", new(60_000, SelectionCostModel.FullPreset(defaults))));
            protocols.Add(("wide preset", new(StudyBenchmark.WidePool, StudyBenchmark.Wide(defaults))));
        }
        var rows = new JsonArray();
        foreach (var file in files)
        {
            JsonNode run;
            try { run = JsonNode.Parse(File.ReadAllText(file).Trim().Split('\n')[^1])
                ?? throw new BenchUsageException($"{file}: empty"); }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException)
            {
                throw new BenchUsageException($"--rates {file}: {e.Message}");
            }
            var (dense, pruned, engine) = RatesOf(run, file);
            var arch = $"{run["arch"]} ({run["stem"]} stem, {run["size"]} px)";
            foreach (var (name, protocol) in protocols)
            {
                foreach (var (variant, spec) in SelectionCostModel.Variants(protocol.Spec))
                {
                    var p = protocol with { Spec = spec };
                    var pf = SelectionCostModel.PruneFuseSeconds(p, pruned);
                    var d = SelectionCostModel.DenseSeconds(p, dense);
                    Console.Error.WriteLine($"{arch,-40} {name,-12} {variant,-52} " +
                        $"PruneFuse {pf,7:F0} s ÷ dense AL {d,7:F0} s = {pf / d:F2}x");
                    rows.Add(new JsonObject
                    {
                        ["arch"] = run["arch"]?.DeepClone(), ["stem"] = run["stem"]?.DeepClone(),
                            ["size"] = run["size"]?.DeepClone(), ["protocol"] = name,
                        ["pool"] = p.Pool, ["initial"] = spec.InitialLabeled, ["roundSize"] = spec.RoundSize,
                            ["rounds"] = spec.Rounds, ["selectorEpochs"] = spec.SelectorEpochs,
                        ["variant"] = variant, ["scoringEngine"] = engine, ["pruneFuseSeconds"] = Math.Round(pf, 1),
                            ["denseSeconds"] = Math.Round(d, 1), ["ratio"] = Math.Round(pf / d, 3),
                    });
                }
            }
        }
        if (a.GetValue(Json)) Console.WriteLine(rows.ToJsonString());
        return 0;
    }

    private static int Or(int value, int fallback) => value > 0 ? value : fallback;

    /// <summary>Training rates and the faster engine's scoring rates of one scoring run.</summary>
    internal static (NetworkRates Dense, NetworkRates Pruned, string Engine) RatesOf(JsonNode run, string source)
    {
        var engine = run["fastestEngine"]?.GetValue<string>()
            ?? throw new BenchUsageException($"{source}: no scoring figures " +
                "(run scoring with --measure scoring,training)");
        var training = run["training"]
            ?? throw new BenchUsageException($"{source}: no training figures " +
                "(run scoring with --measure scoring,training)");
        var e = run["engines"]![engine]!;
        return (new NetworkRates((double)training["dense"]!, (double)e["dense"]!["samplesPerSecond"]!),
            new NetworkRates((double)training["pruned"]!, (double)e["pruned"]!["samplesPerSecond"]!), engine);
    }
}
