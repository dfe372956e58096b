using System.CommandLine;
using System.Text.Json;

namespace PruneFuse.Bench;

/// <summary>Plots a scoring-sweep result: measured speedup and the MAC ratio against the pruning ratio.</summary>
internal static class SweepPlot
{
    private static readonly Option<string> In = BenchOptions.Text("--in", "bench/results/scoring-sweep-resnet20.json", "A scoring-sweep JSON");
    private static readonly Option<string> Out = BenchOptions.Text("--out", "bench/results/speedup-vs-p.png", "The PNG to write");

    /// <summary>The <c>plot-sweep</c> command.</summary>
    public static Command Command()
    {
        var c = new Command("plot-sweep", "Speedup against p (and the MAC ratio) from a scoring-sweep JSON, as a PNG") { In, Out };
        c.SetAction(p => BenchOptions.Guard(() => Run(p)));
        return c;
    }

    public static int Run(ParseResult a)
    {
        var input = a.GetValue(In)!;
        var output = a.GetValue(Out)!;
        if (!File.Exists(input)) throw new FileNotFoundException($"{input} not found: run `bench -- scoring-sweep --json` and save its last line there", input);
        using var doc = JsonDocument.Parse(File.ReadAllText(input));
        var pruned = doc.RootElement.GetProperty("selectors").EnumerateArray()
            .Where(s => s.GetProperty("selector").GetString()!.StartsWith("pruned p=", StringComparison.Ordinal))
            .Select(s => (P: double.Parse(s.GetProperty("selector").GetString()!["pruned p=".Length..], System.Globalization.CultureInfo.InvariantCulture),
                Speedup: s.GetProperty("speedup").GetDouble(), Macs: s.GetProperty("macRatio").GetDouble()))
            .OrderBy(x => x.P).ToArray();
        var plot = new ScottPlot.Plot();
        var measured = plot.Add.Scatter(pruned.Select(x => x.P).ToArray(), pruned.Select(x => x.Speedup).ToArray());
        measured.LegendText = "measured scoring speedup (dense / pruned samples/s)";
        var limit = plot.Add.Scatter(pruned.Select(x => x.P).ToArray(), pruned.Select(x => x.Macs).ToArray());
        limit.LegendText = "MAC ratio (the limit)";
        limit.LinePattern = ScottPlot.LinePattern.Dashed;
        plot.Axes.SetLimitsY(0, pruned.Max(x => x.Macs) * 1.1);
        plot.Title($"{doc.RootElement.GetProperty("arch").GetString()}: pruned selector speedup vs pruning ratio p ({doc.RootElement.GetProperty("threads").GetInt32()} threads)");
        plot.XLabel("pruning ratio p");
        plot.YLabel("× faster than the dense network");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        plot.SavePng(output, 900, 550);
        Console.Error.WriteLine($"wrote {output}");
        return 0;
    }
}
