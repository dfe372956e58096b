using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Tests.Shared.Cluster;

/// <summary>What a chaos campaign does: how many runs, on how much data.</summary>
public sealed record ChaosOptions
{
    /// <summary>Fault runs; each runs two experiments at once through five faults.</summary>
    public int Runs { get; init; } = 1;

    /// <summary>Seed of experiment A (B uses Seed + 1).</summary>
    public long Seed { get; init; } = 11;

    /// <summary>Pool images imported from Fashion-MNIST.</summary>
    public int PoolLimit { get; init; } = 9000;

    /// <summary>Pool shards.</summary>
    public int Shards { get; init; } = 3;

    /// <summary>How long one experiment may take, faults included, before the campaign gives up on it.</summary>
    public TimeSpan ExperimentTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Progress lines.</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;
}

/// <summary>The outcome, as the bench prints it.</summary>
public sealed record ChaosResult
{
    public int Runs { get; init; }
    public int FaultsInjected { get; init; }
    public int Experiments { get; init; }
    public int Completed { get; init; }
    public int IdenticalSelections { get; init; }
    public int LostRounds { get; init; }
    public List<string> Faults { get; init; } = [];
    public List<string> Problems { get; init; } = [];
}

/// <summary>
/// The fault campaign of a real cluster: Azurite, three silo processes in cluster mode (Azure Table membership,
/// grain state and reminders, Azure Blob artifacts; one silo tagged gpu) and an Orleans client.
/// It first runs experiments A and B one at a time, undisturbed, as references. Each run then starts A and B again
/// under new ids, at the same time, and while A progresses it kills (SIGKILL) the silo that trains A's selector
/// (round 1), the silo that scores a pool shard (round 1), then stops and restarts every silo (round 2), kills the
/// silo that hosts A's coordinator (round 2 scoring) and the silo that trains A's fused network. Killed silos come
/// back on the same ports. Both experiments must complete with the same selections as
/// their references, every round recorded exactly once.
/// </summary>
public sealed class ChaosCampaign : IAsyncDisposable
{
    private const string Dataset = "chaos";
    private readonly ChaosOptions _o;
    private readonly List<SiloProcess> _silos = [];
    private AzuriteProcess? _azurite;
    private TempDir? _root; // the silos' data root: unused in cluster mode, but every silo needs one
    private IHost? _client;

    public ChaosCampaign(ChaosOptions options) => _o = options;

    /// <summary>The silos' dashboard password, which must never appear in their logs either.</summary>
    public const string HttpPassword = "pw-7d1c9e0b";

    /// <summary>The silos' configured stop allowance (PruneFuse:ShutdownSeconds); graceful stops get exactly this
    /// much.</summary>
    public const int ShutdownSeconds = 20;

    /// <summary>Graceful silo stops (SIGTERM) that crashed or hung instead of exiting with 0.</summary>
    public int UncleanStops => _silos.Sum(s => s.UncleanStops);

    /// <summary>Every silo's log, for a failure report.</summary>
    public string SiloLogs => string.Join("\n", _silos.Select(s => $"===== {s.Name}\n{s.Log}"));

    private ExperimentSpec Spec(long seed, Metric metric) => new()
    {
        DatasetId = Dataset, Arch = "resnet8", Selector = SelectorKind.Pruned, PruneRatio = 0.5, Metric = metric,
        InitialLabeled = 200, RoundSize = 200, Rounds = 2, SelectorEpochs = 5, FinalEpochs = 5, BatchSize = 64, Seed = seed,
    };

    public async Task<ChaosResult> RunAsync(CancellationToken cancellationToken = default)
    {
        await StartClusterAsync();
        var specA = Spec(_o.Seed, Metric.LeastConfidence);
        var specB = Spec(_o.Seed + 1, Metric.Entropy);

        Say("reference runs (undisturbed, one at a time)");
        var refA = await RunUndisturbedAsync("ref-a", specA, cancellationToken);
        var refB = await RunUndisturbedAsync("ref-b", specB, cancellationToken);

        var faults = new List<string>();
        var problems = new List<string>();
        int completed = 0, identical = 0, lost = 0;
        for (var run = 1; run <= _o.Runs; run++)
        {
            var (a, b) = ($"run{run}-a", $"run{run}-b");
            Say($"run {run}: {a} and {b} at once, with faults");
            await Call(c => c.GetGrain<ICoordinatorGrain>(a).Start(specA));
            await Call(c => c.GetGrain<ICoordinatorGrain>(b).Start(specB));

            faults.Add(await KillDuringAsync(a, "training selector", "selectorgrain", a));
            faults.Add(await KillDuringAsync(a, "scoring pool", "scoringworkergrain", null));
            faults.Add(await RestartAllDuringAsync(a, "training"));
            faults.Add(await KillDuringAsync(a, "scoring pool", "coordinatorgrain", a));
            faults.Add(await KillDuringAsync(a, "fusing", "fusiongrain", a));

            foreach (var (id, spec, reference) in new[] { (a, specA, refA), (b, specB, refB) })
            {
                var status = await WaitDoneAsync(id, cancellationToken);
                if (status.State == ExperimentState.Completed) completed++;
                else problems.Add($"{id} ended {status.State}: {status.Error}");
                var missing = MissingOrRepeatedRounds(status, spec);
                lost += missing;
                if (missing > 0) problems.Add($"{id}: {missing} round(s) lost or applied twice: rounds [{string.Join(",", status.Rounds.Select(r => r.Round))}], labeled [{string.Join(",", status.Rounds.Select(r => r.Labeled))}]");
                if (status.State == ExperimentState.Completed)
                {
                    var selections = await SelectionsAsync(id, spec);
                    var differing = Enumerable.Range(0, selections.Count).Where(r => !selections[r].SequenceEqual(reference[r])).ToList();
                    if (differing.Count == 0) identical++;
                    else problems.Add($"{id}: selections differ from the undisturbed run in round(s) {string.Join(",", differing)}");
                }
            }
        }
        return new ChaosResult
        {
            Runs = _o.Runs, FaultsInjected = faults.Count(f => f.StartsWith("injected", StringComparison.Ordinal)), Experiments = 2 * _o.Runs,
            Completed = completed, IdenticalSelections = identical, LostRounds = lost, Faults = faults, Problems = problems,
        };
    }

    private async Task StartClusterAsync()
    {
        _root = new TempDir("prunefuse-chaos-");
        _azurite = new AzuriteProcess();
        await _azurite.InitializeAsync();
        var env = new Dictionary<string, string>
        {
            ["PruneFuse__Storage__ConnectionString"] = _azurite.ConnectionString,
            ["PruneFuse__Http__Password"] = HttpPassword,
            ["PruneFuse__ShutdownSeconds"] = ShutdownSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        string[] cluster = ["--PruneFuse:Mode=Cluster", "--PruneFuse:Storage:Container=chaos"];
        _silos.Add(new SiloProcess(_root.Path, [.. cluster, "--PruneFuse:Accelerator=gpu"], env, "silo-gpu"));
        _silos.Add(new SiloProcess(_root.Path, [.. cluster, "--PruneFuse:Accelerator=cpu"], env, "silo-cpu1"));
        _silos.Add(new SiloProcess(_root.Path, [.. cluster, "--PruneFuse:Accelerator=cpu"], env, "silo-cpu2"));
        Say("starting Azurite and 3 silo processes");
        foreach (var s in _silos) await s.StartAsync();
        await ConnectAsync();
        Say($"importing {_o.PoolLimit} Fashion-MNIST images as {_o.Shards} shards");
        await Call(c => c.GetGrain<IDatasetGrain>(Dataset).ImportFashionMnist("", _o.Shards, _o.PoolLimit));
    }

    private async Task ConnectAsync()
    {
        if (_client is not null)
        {
            try { await _client.StopAsync(); } catch (Exception) { /* a client of a stopped cluster may fail to stop cleanly */ }
            _client.Dispose();
        }
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        var gateways = _silos.Select(s => new IPEndPoint(IPAddress.Loopback, s.GatewayPort)).ToArray();
        builder.UseOrleansClient(c => c
            .UseStaticClustering(gateways)
            .Configure<ClusterOptions>(o =>
            {
                o.ClusterId = "prunefuse";
                o.ServiceId = "prunefuse";
            })
            .UseClusterTls(TestCertificates.Shared.Credentials()));
        _client = builder.Build();
        await _client.StartAsync();
    }

    private IClusterClient Client => _client!.Services.GetRequiredService<IClusterClient>();

    /// <summary>A call that rides out silos going away: retried (and the client reconnected) for up to 3
    /// minutes.</summary>
    private async Task<T> Call<T>(Func<IClusterClient, Task<T>> call)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(Client);
            }
            catch (Exception e) when (DateTime.UtcNow < deadline && IsClusterFault(e))
            {
                if (attempt % 10 == 0) await ConnectAsync();
                await Task.Delay(500);
            }
        }
    }

    // Silos and gateways going away; never the grains' own refusals (ArgumentException, InvalidOperationException).
    private static bool IsClusterFault(Exception e) =>
        e is OrleansException or TimeoutException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException;

    private async Task<List<long[]>> RunUndisturbedAsync(string id, ExperimentSpec spec, CancellationToken ct)
    {
        await Call(c => c.GetGrain<ICoordinatorGrain>(id).Start(spec));
        var status = await WaitDoneAsync(id, ct);
        if (status.State != ExperimentState.Completed) throw new InvalidOperationException($"reference {id} ended {status.State}: {status.Error}\n{SiloLogs}");
        return await SelectionsAsync(id, spec);
    }

    private async Task<List<long[]>> SelectionsAsync(string id, ExperimentSpec spec)
    {
        var rounds = new List<long[]>();
        for (var r = 0; r <= spec.Rounds; r++)
        {
            var round = r;
            rounds.Add([.. (await Call(c => c.GetGrain<ICoordinatorGrain>(id).GetSelection(round))).Select(x => x.SampleId)]);
        }
        return rounds;
    }

    private Task<ExperimentStatus> StatusAsync(string id) => Call(c => c.GetGrain<ICoordinatorGrain>(id).GetStatus());

    private async Task<ExperimentStatus> WaitDoneAsync(string id, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _o.ExperimentTimeout;
        while (true)
        {
            var status = await StatusAsync(id);
            if (status.State != ExperimentState.Running) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{id} still running after {_o.ExperimentTimeout}: {status.Stage}, {status.Warning}\n{SiloLogs}");
            await Task.Delay(250, ct);
        }
    }

    /// <summary>Waits until <paramref name="experiment"/> reports a stage starting with <paramref name="stage"/>; null
    /// when it finished first.</summary>
    private async Task<ExperimentStatus?> WaitForStageAsync(string experiment, string stage)
    {
        var deadline = DateTime.UtcNow + _o.ExperimentTimeout;
        while (DateTime.UtcNow < deadline)
        {
            var status = await StatusAsync(experiment);
            if (status.State != ExperimentState.Running) return null;
            if (status.Stage.StartsWith(stage, StringComparison.Ordinal)) return status;
            await Task.Delay(50);
        }
        return null;
    }

    private async Task<string> KillDuringAsync(string experiment, string stage, string grainType, string? grainKey)
    {
        var seen = await WaitForStageAsync(experiment, stage);
        if (seen is null) return $"missed: {experiment} finished before '{stage}'";
        var silo = await HostOfAsync(grainType, grainKey);
        if (silo is null) return $"missed: no {grainType} activation found during '{stage}'";
        var after = await StatusAsync(experiment);
        await silo.KillAsync();
        var landed = after.Stage.StartsWith(stage, StringComparison.Ordinal) && after.Round == seen.Round;
        var line = $"{(landed ? "injected" : "missed")}: kill -9 {silo.Name} while {experiment} was at '{after.Stage}' (round {after.Round})";
        Say(line);
        await silo.StartAsync();
        return line;
    }

    private async Task<string> RestartAllDuringAsync(string experiment, string stage)
    {
        var seen = await WaitForStageAsync(experiment, stage);
        if (seen is null) return $"missed: {experiment} finished before '{stage}'";
        var line = $"injected: stop (SIGTERM) and restart of all {_silos.Count} silos while {experiment} was at '{seen.Stage}' (round {seen.Round})";
        Say(line);
        await Task.WhenAll(_silos.Select(s => s.StopAsync(SiloProcess.StopAllowance(ShutdownSeconds))));
        foreach (var s in _silos) await s.StartAsync();
        await ConnectAsync();
        return line;
    }

    /// <summary>The silo process hosting an activation of the grain type (and key), from Orleans' management
    /// grain.</summary>
    private async Task<SiloProcess?> HostOfAsync(string grainType, string? key)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var stats = await Call(c => c.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(null, null));
            var hit = stats.FirstOrDefault(s =>
                s.GrainType.Contains(grainType, StringComparison.OrdinalIgnoreCase) &&
                (key is null || s.GrainId.Key.ToString() == key));
            if (hit is not null)
            {
                var silo = _silos.FirstOrDefault(p => p.SiloPort == hit.SiloAddress.Endpoint.Port);
                if (silo is not null) return silo;
            }
            await Task.Delay(50);
        }
        return null;
    }

    private static int MissingOrRepeatedRounds(ExperimentStatus status, ExperimentSpec spec)
    {
        var problems = 0;
        for (var r = 1; r <= spec.Rounds; r++)
        {
            var records = status.Rounds.Where(x => x.Round == r).ToList();
            if (records.Count != 1) problems += Math.Max(1, records.Count - 1);
            else if (records[0].Labeled != spec.InitialLabeled + r * spec.RoundSize) problems++;
        }
        return problems;
    }

    private void Say(string line) => _o.Log.WriteLine($"[chaos {DateTime.Now:HH:mm:ss}] {line}");

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            try { await _client.StopAsync(); } catch (Exception) { /* best effort */ }
            _client.Dispose();
        }
        foreach (var s in _silos) await s.DisposeAsync();
        if (_azurite is not null) await _azurite.DisposeAsync();
        _root?.Dispose();
    }
}
