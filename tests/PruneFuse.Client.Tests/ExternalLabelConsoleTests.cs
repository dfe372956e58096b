using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>The external-label workflow through the console: export a selection, label it elsewhere, import, continue.</summary>
public sealed class ExternalLabelConsoleTests
{
    /// <summary>True labels read from the stored shard files (payload after the 48-byte header: ids, then int32 labels).</summary>
    private static Dictionary<long, int> TrueLabels(string root, string dataset)
    {
        var labels = new Dictionary<long, int>();
        foreach (var f in Directory.GetFiles(Path.Combine(root, "artifacts", "datasets", dataset, "shards")))
        {
            var b = File.ReadAllBytes(f);
            var n = BitConverter.ToInt32(b, 12);
            for (var i = 0; i < n; i++) labels[BitConverter.ToInt64(b, 48 + 8 * i)] = BitConverter.ToInt32(b, 48 + 8 * n + 4 * i);
        }
        return labels;
    }

    [Fact]
    public async Task Csv_and_jsonl_round_trip_drives_the_experiment_to_completion()
    {
        using var dir = new TempDir("prunefuse-labels-");
        var root = dir.Path;
        await using var silo = new SiloProcess(root);
        await silo.StartAsync();
        var port = silo.GatewayPort;
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "import", "--id", "lab", "--shards", "2", "--limit", "1000")).ExitCode);
        var start = await Processes.ClientAsync(port, "experiment", "start", "--id", "ext", "--dataset", "lab", "--arch", "resnet8", "--initial", "100",
            "--round-size", "50", "--rounds", "1", "--selector-epochs", "1", "--final-epochs", "1", "--batch-size", "32", "--label-source", "external");
        Assert.True(start.ExitCode == 0, start.Stderr);
        var truth = TrueLabels(root, "lab");
        for (var round = 0; round <= 1; round++)
        {
            var waiting = await Processes.ClientAsync(port, "experiment", "status", "--id", "ext", "--watch", "--json");
            Assert.Equal("running", JsonDocument.Parse(waiting.LastLine).RootElement.GetProperty("state").GetString());
            var format = round == 0 ? "csv" : "jsonl";
            var exported = Path.Combine(root, $"selection-{round}.{format}");
            var export = await Processes.ClientAsync(port, "selections", "export", "--id", "ext", "--round", round.ToString(), "--format", format, "--out", exported);
            Assert.True(export.ExitCode == 0, export.Stderr);
            var lines = File.ReadAllLines(exported);
            List<long> ids;
            string labelFile;
            if (format == "csv")
            {
                Assert.Equal("sample_id,shard,score", lines[0]);
                ids = lines.Skip(1).Select(l => long.Parse(l.Split(',')[0])).ToList();
                labelFile = Path.Combine(root, "labels-0.csv");
                File.WriteAllLines(labelFile, ["sample_id,label", .. ids.Select(id => $"{id},{truth[id]}")]);
            }
            else
            {
                ids = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("sampleId").GetInt64()).ToList();
                labelFile = Path.Combine(root, "labels-1.jsonl");
                File.WriteAllLines(labelFile, ids.Select(id => JsonSerializer.Serialize(new { sampleId = id, label = truth[id] })));
            }
            Assert.Equal(round == 0 ? 100 : 50, ids.Count);

            var broken = Path.Combine(root, "broken.csv");
            File.WriteAllLines(broken, ["sample_id,label", $"{ids[0]},cat"]);
            var bad = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", round.ToString(), "--file", broken);
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains($"{broken}:2:", bad.Stderr);

            var import = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", round.ToString(), "--file", labelFile);
            Assert.True(import.ExitCode == 0, import.Stderr);
        }
        var done = await Processes.ClientAsync(port, "experiment", "status", "--id", "ext", "--watch", "--json");
        Assert.Equal("completed", JsonDocument.Parse(done.LastLine).RootElement.GetProperty("state").GetString());
    }
}
