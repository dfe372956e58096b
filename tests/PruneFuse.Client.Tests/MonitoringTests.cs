using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>
/// Following an experiment from outside: the silo's PruneFuse page (read in headless Chromium while the experiment
/// runs), its link from the Orleans dashboard, the status JSON's live fields and the silo's log events.
/// </summary>
public sealed class MonitoringTests
{
    [Fact]
    public async Task Experiments_page_follows_a_running_experiment_live_and_the_dashboard_links_to_it()
    {
        using var dir = new TempDir("prunefuse-monitoring-");
        var root = dir.Path;
        await using var silo = new SiloProcess(Path.Combine(root, "silo"));
        await silo.StartAsync();
        var port = silo.GatewayPort;
        var web = $"http://127.0.0.1:{silo.HttpPort}";
        var chromium = new HeadlessChromium(Path.Combine(root, "chromium-profile"), 4000);

        // The log says where everything is.
        Assert.Contains($"PruneFuse silo ready: mode embedded, data root {Path.Combine(root, "silo")}, silo port {silo.SiloPort}, gateway port {port}, " +
            $"dashboard {web}/dashboard, experiments page {web}/prunefuse, scoring engine onnx", silo.Log);

        // A second silo on this one's ports is refused before it starts: Orleans would otherwise share the port.
        foreach (var (setting, value) in new[] { ("PruneFuse:GatewayPort", port), ("PruneFuse:SiloPort", silo.SiloPort) })
        {
            var second = await Processes.SiloUntilExitAsync(null, $"--PruneFuse:DataRoot={Path.Combine(root, "second")}", $"--PruneFuse:GatewayPort={Ports.Free()}",
                $"--PruneFuse:SiloPort={Ports.Free()}", $"--Urls=http://127.0.0.1:{Ports.Free()}", $"--{setting}={value}");
            Assert.Equal(2, second.ExitCode);
            Assert.Equal($"prunefuse-silo: port {value} ({setting}) is already in use by another process; stop it or choose another port", second.Stderr.Trim());
        }

        // The dashboard (its stock page) carries a link to ours.
        var dashboard = await chromium.DumpDomAsync($"{web}/dashboard/");
        Assert.True(dashboard.ExitCode == 0, dashboard.Stderr);
        Assert.Contains("id=\"prunefuse-link\" href=\"/prunefuse\"", dashboard.Stdout);

        // Enough shards that a round's scoring lasts a few seconds: its per-silo progress is watched below.
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "import", "--id", "mon", "--shards", "8", "--limit", "40000")).ExitCode);
        var start = await Processes.ClientAsync(port, "experiment", "start", "mon", "--dataset", "mon", "--arch", "resnet8", "--initial", "200",
            "--round-size", "100", "--rounds", "2", "--selector-epochs", "3", "--final-epochs", "8", "--batch-size", "64");
        Assert.True(start.ExitCode == 0, start.Stderr);

        // Read the rendered page again and again while the experiment runs, until it has shown everything a user
        // follows: the running row, training progress by epoch, and a learning curve with a measured round.
        var seen = new HashSet<string>();
        string? lastDom = null;
        var shot = Path.Combine(root, "page.png");
        using var watching = new CancellationTokenSource();
        var scoring = WatchScoringAsync(web, watching.Token);
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (DateTime.UtcNow < deadline)
        {
            var dom = await chromium.DumpDomAsync($"{web}/prunefuse");
            Assert.True(dom.ExitCode == 0, dom.Stderr);
            lastDom = dom.Stdout;
            if (lastDom.Contains("data-experiment=\"mon\" data-state=\"completed\"")) break;
            if (lastDom.Contains("data-experiment=\"mon\" data-state=\"running\"")) seen.Add("running");
            if (lastDom.Contains("id=\"training\"") && lastDom.Contains("id=\"training-epoch\">")) seen.Add("training");
            if (lastDom.Contains("class=\"selector-point\"")) seen.Add("curve");
            if (seen.Count == 3)
            {
                var screenshot = await chromium.ScreenshotAsync($"{web}/prunefuse", shot, 1200, 900);
                Assert.True(screenshot.ExitCode == 0, screenshot.Stderr);
                break;
            }
        }
        Assert.True(seen.SetEquals(["running", "training", "curve"]), $"the page showed only [{string.Join(", ", seen)}] while the experiment ran; last page:\n{lastDom}");
        AssertVisible(shot);

        var done = await Processes.ClientAsync(port, "experiment", "status", "mon", "--watch", "--json");
        await watching.CancelAsync();
        var (scoringSilo, progress) = await scoring;
        Assert.True(progress is not null, "the status never showed per-silo scoring progress");
        Assert.Equal(scoringSilo, progress.Value.GetProperty("silo").GetString());
        Assert.InRange(progress.Value.GetProperty("units").GetInt32(), 1, 64);
        Assert.True(progress.Value.GetProperty("samplesPerSecond").GetDouble() > 0);
        Assert.Equal("completed", JsonDocument.Parse(done.LastLine).RootElement.GetProperty("state").GetString());
        var final = await chromium.DumpDomAsync($"{web}/prunefuse");
        Assert.Contains("data-experiment=\"mon\" data-state=\"completed\"", final.Stdout);
        Assert.Contains("id=\"final\"", final.Stdout);
        Assert.Contains("class=\"final-point\"", final.Stdout);

        // Every stage change and the completion are log events.
        foreach (var step in new[] { "Setup (round 0)", "TrainSelector (round 1)", "Score (round 1)", "Commit (round 1)", "Commit (round 2)", "FinalSelector (round 3)", "Fuse (round 3)" })
        {
            Assert.Contains($"experiment mon: {step} done in", silo.Log);
        }
        Assert.Contains("experiment mon completed: final accuracy", silo.Log);
    }

    /// <summary>Polls the page's API until cancelled; returns this silo's address and the first per-silo scoring entry seen.</summary>
    private static async Task<(string? Silo, JsonElement? Progress)> WatchScoringAsync(string web, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        string? silo = null;
        try
        {
            while (true)
            {
                using var api = JsonDocument.Parse(await http.GetStringAsync($"{web}/prunefuse/api/experiments", cancellationToken));
                silo = api.RootElement.GetProperty("silo").GetString();
                foreach (var e in api.RootElement.GetProperty("experiments").EnumerateArray())
                {
                    if (e.GetProperty("scoring") is { ValueKind: JsonValueKind.Object } s && s.GetProperty("silos").GetArrayLength() > 0)
                    {
                        return (silo, s.GetProperty("silos")[0].Clone());
                    }
                }
                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            return (silo, null);
        }
    }

    /// <summary>A screenshot that shows something: a real PNG of the window's size with more than a blank page's colours.</summary>
    private static void AssertVisible(string png)
    {
        Assert.True(File.Exists(png), "no screenshot");
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        Assert.Equal((1200, 900), (bitmap.Width, bitmap.Height));
        var colours = new HashSet<uint>();
        for (var y = 0; y < bitmap.Height; y += 3)
        {
            for (var x = 0; x < bitmap.Width; x += 3) colours.Add((uint)bitmap.GetPixel(x, y));
        }
        Assert.True(colours.Count > 50, $"the screenshot looks blank ({colours.Count} colours)");
    }

    [Fact]
    public async Task Deletes_are_refused_while_in_use_remove_only_what_they_name_and_status_reproduces_the_start()
    {
        using var dir = new TempDir("prunefuse-delete-");
        var root = dir.Path;
        var data = Path.Combine(root, "silo");
        await using var silo = new SiloProcess(data);
        await silo.StartAsync();
        var port = silo.GatewayPort;
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "import", "--id", "d1", "--shards", "2", "--limit", "1000")).ExitCode);
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "import", "--id", "d2", "--shards", "1", "--limit", "500")).ExitCode);
        // Importing the same again writes nothing and says so.
        var again = await Processes.ClientAsync(port, "dataset", "import", "d2", "--shards", "1", "--limit", "500");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.StartsWith("already imported 'd2'", again.Stdout);

        // A finished experiment, with options away from the defaults, on d1.
        string[] small = ["--dataset", "d1", "--arch", "resnet8", "--initial", "100", "--round-size", "50", "--rounds", "1", "--selector-epochs", "1",
            "--final-epochs", "1", "--batch-size", "32", "--metric", "margin", "--kd-alpha", "0.25", "--seed", "7", "--width-multiplier", "0.5",
            "--selector-warm-start", "true", "--warm-epochs", "2", "--fusion-source", "last-round"];
        Assert.Equal(0, (await Processes.ClientAsync(port, ["experiment", "start", "done", .. small])).ExitCode);
        var finished = await Processes.ClientAsync(port, "experiment", "status", "done", "--watch", "--json");
        var status = JsonDocument.Parse(finished.LastLine).RootElement;
        Assert.Equal("completed", status.GetProperty("state").GetString());
        Assert.Equal("margin", status.GetProperty("spec").GetProperty("metric").GetString());
        Assert.Equal("pruned", status.GetProperty("spec").GetProperty("selector").GetString());
        Assert.Equal("last-round", status.GetProperty("spec").GetProperty("fusionSource").GetString());
        Assert.True(status.GetProperty("spec").GetProperty("selectorWarmStart").GetBoolean());
        Assert.Equal(0, status.GetProperty("finalSelectorEpochs").GetInt32());
        Assert.True(status.GetProperty("startedAt").GetDateTimeOffset() < status.GetProperty("endedAt").GetDateTimeOffset());
        Assert.True(status.GetProperty("rounds")[0].GetProperty("scoringSeconds").GetDouble() > 0);

        // The reproduce line starts the very same spec (under another id).
        var reproduce = status.GetProperty("reproduce").GetString()!;
        Assert.StartsWith("prunefuse experiment start done --dataset d1 ", reproduce);
        var args = reproduce["prunefuse ".Length..].Split(' ');
        args[2] = "copy";
        var copy = await Processes.ClientAsync(port, [.. args, "--json"]);
        Assert.True(copy.ExitCode == 0, copy.Stderr);
        Assert.Equal(status.GetProperty("spec").GetRawText(), JsonDocument.Parse(copy.LastLine).RootElement.GetProperty("spec").GetRawText());
        var plain = await Processes.ClientAsync(port, "experiment", "status", "done");
        Assert.Contains("reproduce: prunefuse experiment start done --dataset d1", plain.Stdout);

        // While "long" runs, neither it nor its dataset can be deleted; the refusals say what to do.
        var longRun = await Processes.ClientAsync(port, "experiment", "start", "long", "--dataset", "d1", "--arch", "resnet8", "--initial", "100",
            "--round-size", "50", "--rounds", "2", "--selector-epochs", "100", "--final-epochs", "100");
        Assert.True(longRun.ExitCode == 0, longRun.Stderr);
        var busyDataset = await Processes.ClientAsync(port, "dataset", "delete", "d1");
        Assert.Equal(1, busyDataset.ExitCode);
        Assert.Contains("dataset 'd1' is used by running experiment(s) ", busyDataset.Stderr);
        Assert.Contains("'long'", busyDataset.Stderr);
        Assert.Contains("; cancel them first", busyDataset.Stderr);
        var busyExperiment = await Processes.ClientAsync(port, "experiment", "delete", "long");
        Assert.Equal(1, busyExperiment.ExitCode);
        Assert.Contains("experiment 'long' is running", busyExperiment.Stderr);
        Assert.Contains("cancel it first: prunefuse experiment cancel long", busyExperiment.Stderr);
        var cancel = await Processes.ClientAsync(port, "experiment", "cancel", "long");
        Assert.True(cancel.ExitCode == 0, cancel.Stderr);
        Assert.Contains("experiment long cancelled after", silo.Log);
        Assert.Equal(0, (await Processes.ClientAsync(port, "experiment", "status", "copy", "--watch")).ExitCode);

        // Unknown ids are named.
        var unknownExperiment = await Processes.ClientAsync(port, "experiment", "delete", "nope");
        Assert.Equal(1, unknownExperiment.ExitCode);
        Assert.Contains("unknown experiment 'nope'", unknownExperiment.Stderr);
        var unknownDataset = await Processes.ClientAsync(port, "dataset", "delete", "nope");
        Assert.Equal(1, unknownDataset.ExitCode);
        Assert.Contains("unknown dataset 'nope'", unknownDataset.Stderr);

        // Deleting the cancelled experiment removes its folder and nothing else.
        var artifacts = Path.Combine(data, "artifacts");
        var before = Files(artifacts);
        var deleted = await Processes.ClientAsync(port, "experiment", "delete", "long", "--json");
        Assert.True(deleted.ExitCode == 0, deleted.Stderr);
        var removed = before.Except(Files(artifacts)).ToList();
        Assert.NotEmpty(removed);
        Assert.All(removed, f => Assert.StartsWith("experiments/long/", f));
        Assert.DoesNotContain(Files(artifacts), f => f.StartsWith("experiments/long/", StringComparison.Ordinal));
        Assert.Equal(removed.Count, JsonDocument.Parse(deleted.LastLine).RootElement.GetProperty("artifacts").GetInt32());
        Assert.Contains("experiment long deleted", silo.Log);
        Assert.Contains("unknown experiment 'long'", (await Processes.ClientAsync(port, "experiment", "status", "long")).Stderr);
        var list = JsonDocument.Parse((await Processes.ClientAsync(port, "experiment", "list", "--json")).LastLine).RootElement;
        Assert.Equal(["done", "copy"], list.GetProperty("experiments").EnumerateArray().Select(e => e.GetProperty("experiment").GetString()));

        // With no experiment running on it, d1 goes; d2 and the finished experiments stay, and their status still answers.
        before = Files(artifacts);
        var dropped = await Processes.ClientAsync(port, "dataset", "delete", "d1");
        Assert.True(dropped.ExitCode == 0, dropped.Stderr);
        Assert.StartsWith("deleted dataset 'd1'", dropped.Stdout);
        Assert.All(before.Except(Files(artifacts)), f => Assert.StartsWith("datasets/d1/", f));
        Assert.DoesNotContain(Files(artifacts), f => f.StartsWith("datasets/d1/", StringComparison.Ordinal));
        var datasets = JsonDocument.Parse((await Processes.ClientAsync(port, "dataset", "list", "--json")).LastLine).RootElement;
        Assert.Equal(["d2"], datasets.GetProperty("datasets").EnumerateArray().Select(d => d.GetProperty("datasetId").GetString()));
        var kept = await Processes.ClientAsync(port, "experiment", "status", "done", "--json");
        Assert.Equal("completed", JsonDocument.Parse(kept.LastLine).RootElement.GetProperty("state").GetString());

        // Both ids are free again: d1 imports anew (with another limit) and "long" starts afresh.
        var reimport = await Processes.ClientAsync(port, "dataset", "import", "d1", "--shards", "1", "--limit", "400", "--json");
        Assert.True(reimport.ExitCode == 0, reimport.Stderr);
        Assert.Equal(400, JsonDocument.Parse(reimport.LastLine).RootElement.GetProperty("poolSize").GetInt32());
        var restart = await Processes.ClientAsync(port, "experiment", "start", "long", "--dataset", "d1", "--arch", "resnet8", "--initial", "100", "--round-size", "50", "--rounds", "1", "--selector-epochs", "100");
        Assert.True(restart.ExitCode == 0, restart.Stderr);
        Assert.Equal(0, (await Processes.ClientAsync(port, "experiment", "cancel", "long")).ExitCode);

        // The demo names the dashboard of the silo it talks to, and a dataset id imported otherwise is refused with
        // the way on (another --dataset, or a delete) before any experiment starts.
        var demo = await Processes.ClientAsync(port, "demo", "--quick", "--dataset", "d1", "--id", "demo-here");
        Assert.Equal(1, demo.ExitCode);
        Assert.Contains($"dashboard: http://127.0.0.1:{silo.HttpPort}/dashboard (PruneFuse experiments: http://127.0.0.1:{silo.HttpPort}/prunefuse)", demo.Stdout);
        Assert.Contains("dataset 'd1' already exists with 400 pool samples in 1 shards (imported with limit 400); import under another id, or delete it first: prunefuse dataset delete d1", demo.Stderr);
        Assert.Contains("unknown experiment 'demo-here'", (await Processes.ClientAsync(port, "experiment", "status", "demo-here")).Stderr);
        var badDemo = await Processes.ClientAsync(port, "demo", "--dataset", "Bad Id");
        Assert.Equal(1, badDemo.ExitCode);
        Assert.Contains("dataset id 'Bad Id' must be", badDemo.Stderr);
    }

    private static HashSet<string> Files(string root) =>
        [.. Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))];
}
