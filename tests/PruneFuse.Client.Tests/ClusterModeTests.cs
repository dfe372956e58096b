using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>Cluster mode for real: two silo processes with Azure Table clustering, grain state and reminders, and Azure Blob artifacts, all on a real Azurite.</summary>
public sealed class ClusterModeTests
{
    [Fact]
    public async Task Experiment_runs_on_two_silos_backed_by_azurite()
    {
        await using var azurite = new AzuriteProcess();
        await azurite.InitializeAsync();
        using var dir = new TempDir("prunefuse-azure-");
        var root = dir.Path;
        const string password = "s3cret-dashboard-pass";
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] = azurite.ConnectionString,
            ["PruneFuse__Http__Password"] = password,
        };
        string[] cluster = ["--PruneFuse:Mode=Cluster", "--PruneFuse:Storage:Container=prunefuse-test"];
        // The gpu silo (where scoring and training go) also runs two compute slots and one libtorch thread.
        await using var gpu = new SiloProcess(root, [.. cluster, "--PruneFuse:Accelerator=gpu", "--PruneFuse:Compute:Slots=2", "--PruneFuse:Compute:TorchThreads=1"], env);
        await using var cpu = new SiloProcess(root, [.. cluster, "--PruneFuse:Accelerator=cpu"], env);
        await gpu.StartAsync();
        await cpu.StartAsync();

        // The dashboard and every HTTP path but the probes need the configured credentials.
        using (var http = cpu.HttpClient())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/dashboard")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(WithBasic("/dashboard/", "prunefuse", "wrong"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(WithBasic("/dashboard/", "prunefuse", password))).StatusCode);
            var ready = await http.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
        }

        var import = await Processes.ClientAsync(gpu.GatewayPort, "dataset", "import", "--id", "az", "--shards", "3", "--limit", "1500", "--json");
        Assert.True(import.ExitCode == 0, import.Stdout + import.Stderr + gpu.Log);
        var start = await Processes.ClientAsync(cpu.GatewayPort,
            "experiment", "start", "--id", "azure-run", "--dataset", "az", "--arch", "resnet8", "--initial", "150", "--round-size", "100",
            "--rounds", "2", "--selector-epochs", "2", "--final-epochs", "1", "--batch-size", "64", "--seed", "3");
        Assert.True(start.ExitCode == 0, start.Stdout + start.Stderr);
        // While it runs, `cluster status` shows each silo's share of the current (or last) round's scoring.
        using var watching = new CancellationTokenSource();
        var clusterScoring = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                var r = await Processes.ClientAsync(cpu.GatewayPort, "cluster", "status", "--json");
                if (r.ExitCode == 0)
                {
                    var entry = JsonDocument.Parse(r.LastLine).RootElement.GetProperty("silos").EnumerateArray()
                        .SelectMany(x => x.GetProperty("scoring").EnumerateArray().Select(e => (GatewayPort: x.GetProperty("gatewayPort").GetInt32(), Entry: e.Clone())))
                        .FirstOrDefault(x => x.Entry.GetProperty("units").GetInt32() > 0);
                    if (entry.GatewayPort != 0) return entry;
                }
                await Task.Delay(300);
            }
            return default;
        });
        var done = await Processes.ClientAsync(gpu.GatewayPort, "experiment", "status", "--id", "azure-run", "--watch", "--json");
        await watching.CancelAsync();
        var (scoringPort, scoringEntry) = await clusterScoring;
        Assert.True(scoringPort == gpu.GatewayPort, $"cluster status never showed the gpu silo's scoring figures while the experiment ran (saw port {scoringPort})");
        Assert.Equal("azure-run", scoringEntry.GetProperty("experiment").GetString());
        Assert.Contains("libtorch threads: 1 (PruneFuse:Compute:TorchThreads)", gpu.Log);
        Assert.True(scoringEntry.GetProperty("samplesPerSecond").GetDouble() > 0);
        Assert.InRange(scoringEntry.GetProperty("units").GetInt32(), 1, scoringEntry.GetProperty("unitsOfRound").GetInt32());
        Assert.True(done.ExitCode == 0, done.Stdout + done.Stderr + gpu.Log + cpu.Log);
        var status = JsonDocument.Parse(done.LastLine).RootElement;
        Assert.Equal("completed", status.GetProperty("state").GetString());
        Assert.Equal(2, status.GetProperty("rounds").GetArrayLength());

        // Both silos are members, each a gateway; the experiment's grains are placed on them.
        var members = await Processes.ClientAsync(cpu.GatewayPort, "cluster", "status", "--json");
        Assert.True(members.ExitCode == 0, members.Stderr);
        var silos = JsonDocument.Parse(members.LastLine).RootElement.GetProperty("silos").EnumerateArray().ToList();
        Assert.Equal(2, silos.Count);
        Assert.All(silos, s => Assert.Equal("Active", s.GetProperty("status").GetString()));
        Assert.Equal(new[] { gpu.GatewayPort, cpu.GatewayPort }.Order(), silos.Select(s => s.GetProperty("gatewayPort").GetInt32()).Order());
        Assert.Contains(silos, s => s.GetProperty("grains").TryGetProperty("coordinator", out var n) && n.GetInt32() >= 1);
        var table = await Processes.ClientAsync(gpu.GatewayPort, "cluster", "status");
        Assert.Contains("Active", table.Stdout);

        // Artifacts are blobs in Azurite, not files.
        var container = azurite.BlobService.GetBlobContainerClient("prunefuse-test");
        var blobs = new List<string>();
        await foreach (var b in container.GetBlobsAsync()) blobs.Add(b.Name);
        Assert.Contains("datasets/az/manifest.json", blobs);
        Assert.Contains("experiments/azure-run/rounds/002/selection.json", blobs);
        Assert.Contains("experiments/azure-run/checkpoints/final.pfc", blobs);
        Assert.False(Directory.Exists(Path.Combine(root, "artifacts")), "cluster mode must not write the embedded folder");

        // Membership and grain state live in Azure Tables.
        var tables = new List<string>();
        await foreach (var t in azurite.TableService.QueryAsync()) tables.Add(t.Name);
        Assert.Contains("OrleansSiloInstances", tables);
        Assert.Contains("OrleansGrainState", tables);
        Assert.Contains("OrleansReminders", tables);

        // Neither the storage key nor the HTTP password ever shows up in logs or client output.
        foreach (var text in new[] { gpu.Log, cpu.Log, import.Stdout, import.Stderr, start.Stdout, start.Stderr, done.Stdout, done.Stderr })
        {
            Assert.DoesNotContain("AccountKey=", text);
            Assert.DoesNotContain(AzuriteProcess.AccountKey, text);
            Assert.DoesNotContain(password, text);
        }
    }

    private static HttpRequestMessage WithBasic(string path, string user, string password)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return request;
    }
}
