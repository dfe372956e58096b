using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using Spectre.Console;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse arch list</c>: the networks the cluster's silos can build, with their cost.</summary>
public static class ArchCommands
{
    /// <summary>The <c>arch</c> command.</summary>
    public static Command Arch()
    {
        var prune = new Option<double>("--prune") { Description = "Pruning ratio p for the pruned columns", DefaultValueFactory = _ => new ExperimentSpec().PruneRatio };
        var size = new Option<int>("--size") { Description = "Image height and width in pixels", DefaultValueFactory = _ => 32 };
        var channels = new Option<int>("--channels") { Description = "Image channels (1 gray, 3 RGB)", DefaultValueFactory = _ => 3 };
        var classes = new Option<int>("--classes") { Description = "Classes of the classifier", DefaultValueFactory = _ => 10 };
        var width = new Option<double>("--width-multiplier") { Description = "Width multiplier of the dense networks", DefaultValueFactory = _ => 1.0 };
        var list = new Command("list", "Every network family's architectures and stems: dense and pruned parameters and MACs per image")
        {
            prune, size, channels, classes, width,
        };
        list.SetAction((p, ct) => Common.Run(p, async (c, json) =>
        {
            var query = new ArchitectureQuery(p.GetValue(channels), p.GetValue(size), p.GetValue(size), p.GetValue(classes), p.GetValue(prune), p.GetValue(width));
            var rows = await c.GetGrain<ICatalogGrain>(0).ListArchitectures(query);
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new { query, architectures = rows }, Reports.Camel));
                return 0;
            }
            AnsiConsole.MarkupLine($"{query.Channels}×{query.Height}×{query.Width} images, {query.Classes} classes, pruned at p = {query.PruneRatio.ToString(CultureInfo.InvariantCulture)}");
            var unfit = new List<string>();
            foreach (var family in rows.GroupBy(r => r.Family))
            {
                var t = new Table().Title(Markup.Escape(family.Key))
                    .AddColumn(new TableColumn("--arch").NoWrap()).AddColumn(new TableColumn("--stem").NoWrap())
                    .AddColumns("dense params", "dense MACs", "pruned params", "pruned MACs", "MAC ratio");
                foreach (var r in family)
                {
                    if (r.Problem is not null)
                    {
                        t.AddRow(Markup.Escape(r.Arch), r.Stem, "[grey]does not fit[/]", "", "", "", "");
                        unfit.Add($"{r.Arch} ({r.Stem}): {r.Problem}");
                        continue;
                    }
                    t.AddRow(Markup.Escape(r.Arch), r.Stem, Count(r.DenseParameters), Count(r.DenseMacs), Count(r.PrunedParameters), Count(r.PrunedMacs),
                        (r.PrunedMacs / (double)r.DenseMacs).ToString("0.00", CultureInfo.InvariantCulture));
                }
                AnsiConsole.Write(t);
            }
            foreach (var u in unfit) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(u)}[/]");
            AnsiConsole.MarkupLine("Start one with [bold]prunefuse experiment start --arch ARCH --stem STEM[/]; wrn-D-K takes any D = 6n+4 and K.");
            return 0;
        }, ct));
        return new Command("arch", "Network architectures") { list };
    }

    // 11.2M, 1.82G: what a reader compares at a glance.
    private static string Count(long n) => n switch
    {
        >= 1_000_000_000 => (n / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + "G",
        >= 1_000_000 => (n / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + "M",
        >= 1_000 => (n / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + "k",
        _ => n.ToString(CultureInfo.InvariantCulture),
    };
}
