using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>The `prunefuse` console against real silo processes.</summary>
public sealed class ConsoleTests
{
    private static string[] SmallExperiment(string id, string dataset) =>
    [
        "experiment", "start", "--id", id, "--dataset", dataset, "--arch", "resnet8", "--initial", "200", "--round-size", "150",
        "--rounds", "2", "--selector-epochs", "3", "--final-epochs", "2", "--batch-size", "64", "--seed", "5",
    ];

    [Fact]
    public async Task Cluster_unreachable_is_one_clear_line_and_exit_1()
    {
        var port = Ports.Free();
        var r = await Processes.ClientAsync(port, "experiment", "status", "--id", "x");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"cannot reach a PruneFuse silo at 127.0.0.1:{port}", r.Stderr);
        var j = await Processes.ClientAsync(port, "experiment", "status", "--id", "x", "--json");
        Assert.Equal(1, j.ExitCode);
        Assert.Contains("cannot reach", JsonDocument.Parse(j.LastLine).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Silo_refuses_invalid_configuration_at_start_with_the_reason()
    {
        using var dir = new TempDir("prunefuse-badconfig-");
        var root = dir.Path;
        await using var silo = new SiloProcess(root, ["--PruneFuse:Mode=Cluster", "--PruneFuse:Storage:ConnectionString="]);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(silo.StartAsync);
        Assert.Contains("silo exited with 2", e.Message);
        Assert.Contains("cluster mode needs PruneFuse:Storage:ConnectionString", e.Message);
        await using var typo = new SiloProcess(root, ["--PruneFuse:Mode=Clusterr"]);
        var t = await Assert.ThrowsAsync<InvalidOperationException>(typo.StartAsync);
        Assert.Contains("silo exited with 2", t.Message);
        Assert.Contains("'Clusterr' at 'PruneFuse:Mode' is not one of Embedded, Cluster", t.Message);
        var port = await Processes.SiloUntilExitAsync(null, "--PruneFuse:GatewayPort=abc");
        Assert.Equal(2, port.ExitCode);
        Assert.Contains("'abc' at 'PruneFuse:GatewayPort' is not a whole number", port.Stderr);
        Assert.DoesNotContain("System.", port.Stderr);

        // --help describes the settings and exits (a started silo never exits by itself).
        var help = await Processes.SiloUntilExitAsync(null, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("PruneFuse:GatewayPort", help.Stdout);
        Assert.Contains("PruneFuse:Storage:ConnectionString", help.Stdout);
    }

    [Fact]
    public async Task Experiment_survives_a_killed_silo_and_selects_as_an_undisturbed_run()
    {
        using var dir = new TempDir("prunefuse-console-");
        var root = dir.Path;
        await using var silo = new SiloProcess(root);
        await silo.StartAsync();
        var import = await Processes.ClientAsync(silo.GatewayPort, "dataset", "import", "--id", "fm", "--shards", "2", "--limit", "2000", "--json");
        Assert.True(import.ExitCode == 0, import.Stderr + import.Stdout);
        Assert.Equal(2000, JsonDocument.Parse(import.LastLine).RootElement.GetProperty("poolSize").GetInt32());

        // Bad input through the console: refused with the reason, nothing started.
        var bad = await Processes.ClientAsync(silo.GatewayPort, [.. SmallExperiment("bad", "fm"), "--prune", "1.0"]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("prune ratio p must be in [0, 1)", bad.Stderr);
        var unknown = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "bad");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("unknown experiment 'bad'", unknown.Stderr);

        // Undisturbed reference run.
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, SmallExperiment("calm", "fm"))).ExitCode);
        var calm = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "calm", "--watch", "--json");
        Assert.True(calm.ExitCode == 0, calm.Stdout + calm.Stderr);

        // Same spec and seed; kill -9 the silo while round 1 is in progress, then restart it on the same data.
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, SmallExperiment("stormy", "fm"))).ExitCode);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        string stateAtKill;
        while (true)
        {
            var s = JsonDocument.Parse((await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "stormy", "--json")).LastLine).RootElement;
            stateAtKill = s.GetProperty("state").GetString()!;
            if (s.GetProperty("rounds").GetArrayLength() >= 1 || DateTime.UtcNow > deadline) break;
            await Task.Delay(300);
        }
        await silo.KillAsync();
        Assert.Equal("running", stateAtKill); // the kill really interrupted the experiment
        await using var again = new SiloProcess(root);
        await again.StartAsync();
        var stormy = await Processes.ClientAsync(again.GatewayPort, "experiment", "status", "--id", "stormy", "--watch", "--json");
        Assert.True(stormy.ExitCode == 0, stormy.Stdout + stormy.Stderr + again.Log);
        var a = JsonDocument.Parse(calm.LastLine).RootElement;
        var b = JsonDocument.Parse(stormy.LastLine).RootElement;
        Assert.Equal("completed", b.GetProperty("state").GetString());
        Assert.Equal(2, b.GetProperty("rounds").GetArrayLength());
        for (var r = 1; r <= 2; r++)
        {
            var sel = $"experiments/{{0}}/rounds/00{r}/selection.json";
            var calmSel = File.ReadAllText(Path.Combine(root, "artifacts", string.Format(sel, "calm")));
            var stormySel = File.ReadAllText(Path.Combine(root, "artifacts", string.Format(sel, "stormy")));
            Assert.Equal(calmSel, stormySel);
        }
        Assert.Equal(a.GetProperty("final").GetProperty("accuracy").GetDouble(), b.GetProperty("final").GetProperty("accuracy").GetDouble());

        // Lists show what the store holds.
        var experiments = await Processes.ClientAsync(again.GatewayPort, "experiment", "list", "--json");
        var ids = JsonDocument.Parse(experiments.LastLine).RootElement.GetProperty("experiments").EnumerateArray().Select(e => e.GetProperty("experiment").GetString()).Order().ToList();
        Assert.Equal(["calm", "stormy"], ids);
        var datasets = await Processes.ClientAsync(again.GatewayPort, "dataset", "list", "--json");
        Assert.Equal("fm", JsonDocument.Parse(datasets.LastLine).RootElement.GetProperty("datasets")[0].GetProperty("datasetId").GetString());

        // The report command writes the JSON and the learning-curve PNG.
        var outDir = Path.Combine(root, "reports");
        var report = await Processes.ClientAsync(again.GatewayPort, "experiment", "report", "--id", "stormy", "--out", outDir);
        Assert.True(report.ExitCode == 0, report.Stderr);
        var png = File.ReadAllBytes(Path.Combine(outDir, "stormy-learning-curve.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(File.Exists(Path.Combine(outDir, "stormy.json")));
    }
}
