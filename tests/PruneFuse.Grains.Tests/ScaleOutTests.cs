using Orleans.TestingHost;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Rounds;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Tests;

/// <summary>
/// Three in-process CPU silos (one scoring thread per slot; one silo has two slots) sharing one data folder, with a
/// 40,000-sample Fashion-MNIST
/// pool cut into 40 work units, and one undisturbed reference experiment whose selection the disturbed runs must
/// repeat.
/// </summary>
public sealed class ScaleOutFixture : IAsyncLifetime
{
    public const string Dataset = "fmnist-scale";

    public string DataRoot { get; } = Directory.CreateTempSubdirectory("prunefuse-scaleout-").FullName;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    private int _configured;

    /// <summary>Name of the silo configured with two compute slots (the others have one).</summary>
    public string? TwoSlotSiloName { get; private set; }

    /// <summary>Address of that silo (tests may kill it later; the reference run had it).</summary>
    public string TwoSlotSilo { get; private set; } = "";

    public FileSystemArtifactStore Store => new(Path.Combine(DataRoot, "artifacts"));

    /// <summary>The reference run ("ref"), started once by whichever test needs it first.</summary>
    public Lazy<Task<ExperimentStatus>> Reference { get; }

    public ScaleOutFixture() => Reference = new(() => RunAsync("ref"));

    /// <summary>
    /// A dense ResNet-20 selector: the scoring path is the one every method uses, and slow enough per unit (about
    /// 0.3 s on one thread) that a silo can be killed or added while units are left.
    /// </summary>
    public static ExperimentSpec Spec() => new()
    {
        DatasetId = Dataset, Arch = "resnet20", Selector = SelectorKind.Dense, Metric = Metric.LeastConfidence,
        InitialLabeled = 200, RoundSize = 200, Rounds = 1, SelectorEpochs = 1, FinalEpochs = 1, BatchSize = 64, Seed = 5,
    };

    public async ValueTask InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((options, silo) =>
        {
            // The second silo has two compute slots: it is given two units at once.
            var slots = Interlocked.Increment(ref _configured) == 2 ? 2 : 1;
            if (slots == 2) TwoSlotSiloName = options.SiloName;
            silo.AddPruneFuseEmbedded(DataRoot, "cpu", new Compute.ComputeOptions { UnitSamples = 1000, ScoringThreads = 1, Slots = slots });
            silo.UseInMemoryReminderService();
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        TwoSlotSilo = Cluster.Silos.Single(h => h.Name == TwoSlotSiloName).SiloAddress.ToParsableString();
        await Client.GetGrain<IDatasetGrain>(Dataset).ImportFashionMnist("", 4, 40_000);
    }

    public async Task<ExperimentStatus> RunAsync(string id)
    {
        await Client.GetGrain<ICoordinatorGrain>(id).Start(Spec());
        return await WaitAsync(id);
    }

    public Task<ExperimentStatus> WaitAsync(string id) => ClusterFixture.WaitAsync(Client, id, TimeSpan.FromMinutes(10));

    /// <summary>Polls the status until scoring has <paramref name="until"/> true (the experiment must still be
    /// scoring).</summary>
    public async Task<ScoringProgress> WhileScoringAsync(string id, Func<ScoringProgress, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (DateTime.UtcNow < deadline)
        {
            var status = await Client.GetGrain<ICoordinatorGrain>(id).GetStatus();
            if (status.Scoring is { } sc && until(sc)) return sc;
            if (status.State != ExperimentState.Running || status.Rounds.Length > 0)
            {
                throw new InvalidOperationException($"experiment {id} left scoring before the condition held (state {status.State}, stage {status.Stage})");
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"experiment {id} never reached the awaited scoring state");
    }

    public async Task<ShardScores> UnitsAsync(string id) =>
        ArtifactJson.Decode<ShardScores>(await Store.ReadBytesAsync(ArtifactLayout.ShardScores(id, 1)), id, "shard scores");

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try { Directory.Delete(DataRoot, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition("scale-out")]
public sealed class ScaleOutCollection : ICollectionFixture<ScaleOutFixture>;

/// <summary>A round's scoring spread over every silo in work units, surviving a silo's death and taking in a new
/// one.</summary>
[Collection("scale-out")]
public sealed class ScaleOutTests(ScaleOutFixture fx, ITestOutputHelper output)
{
    private static string Silo(InProcessSiloHandle h) => h.SiloAddress.ToParsableString();

    /// <summary>Every unit answered exactly once, and the per-silo figures add up to the round.</summary>
    private void AssertEveryUnitOnce(ShardScores units, ExperimentStatus done)
    {
        output.WriteLine($"{done.ExperimentId}: {units.Shards.Length} units in {units.Seconds:F1} s; " + string.Join("; ", done.Rounds.Single().ScoringSilos.Select(s =>
            $"{s.Silo} {s.Units} units, {s.Lost} lost, {s.SamplesPerSecond:N0}/s")));
        var indices = units.Shards.Select(u => u.Unit!.Index).ToList();
        Assert.Equal(Enumerable.Range(0, indices.Count), indices);
        var round = done.Rounds.Single();
        Assert.Equal(indices.Count, round.ScoringUnits);
        Assert.Equal(indices.Count, round.ScoringSilos.Sum(s => s.Units));
        Assert.Equal(40_000 - 200, units.Shards.Sum(u => u.Scored));
        Assert.Equal(40_000 - 200, round.ScoringSilos.Sum(s => s.Scored));
    }

    [Fact]
    public async Task Scoring_is_spread_over_every_silo_and_no_silo_idles_longer_than_one_work_unit()
    {
        var done = await fx.Reference.Value;
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        var units = await fx.UnitsAsync("ref");
        AssertEveryUnitOnce(units, done);
        Assert.Equal(40, units.Shards.Length);
        // The reference runs first in this collection, on the fixture's three silos.
        Assert.Equal(3, done.Rounds[0].ScoringSilos.Length);
        Assert.All(done.Rounds[0].ScoringSilos, s => Assert.True(s.Units >= 1 && s.SamplesPerSecond > 0, $"{s.Silo}: {s.Units} units at {s.SamplesPerSecond:N0}/s"));
        // The two-slot silo scored two units at a time; the others one.
        var twoSlots = fx.TwoSlotSilo;
        foreach (var g in units.Shards.GroupBy(u => u.Silo))
        {
            var overlapping = g.Any(a => g.Any(b => a != b && a.Started < b.Started && b.Started < a.Ended));
            Assert.True(overlapping == (g.Key == twoSlots), $"silo {g.Key} {(overlapping ? "scored units at once" : "never scored two units at once")}");
        }
        // Balanced within one unit: a silo stops only when no unit is left, so it idles at most while the others
        // finish the units they already had — never longer than the longest unit.
        var end = units.Shards.Max(u => u.Ended);
        var longest = units.Shards.Max(u => u.Ended - u.Started);
        foreach (var g in units.Shards.GroupBy(u => u.Silo))
        {
            var idle = end - g.Max(u => u.Ended);
            Assert.True(idle <= longest + 1e-6, $"silo {g.Key} idled {idle:F3} s at the end of the round, longer than the longest unit ({longest:F3} s); units per silo: {string.Join(", ", units.Shards.GroupBy(u => u.Silo).Select(x => $"{x.Key} {x.Count()}"))}");
        }
    }

    [Fact]
    public async Task A_silo_killed_mid_round_loses_only_its_unit_in_flight_and_the_selection_is_unchanged()
    {
        var reference = await fx.Reference.Value;
        Assert.True(reference.State == ExperimentState.Completed, reference.Error);
        while (fx.Cluster.Silos.Count < 3) await fx.Cluster.StartAdditionalSiloAsync();

        await fx.Client.GetGrain<ICoordinatorGrain>("kill").Start(ScaleOutFixture.Spec());
        // The victim: neither the first silo (it holds the test cluster's membership) nor the coordinator's silo.
        await fx.WhileScoringAsync("kill", sc => sc.UnitsDone >= 1);
        var coordinator = await HostOfCoordinatorAsync("kill");
        var victim = fx.Cluster.Silos.Skip(1).First(h => Silo(h) != coordinator);
        await fx.WhileScoringAsync("kill", sc => sc.Silos.Any(s => s.Silo == Silo(victim) && s.InFlight > 0) && sc.UnitsDone < sc.Units - 5);
        var victimName = Silo(victim);
        await fx.Cluster.KillSiloAsync(victim);

        var done = await fx.WaitAsync("kill");
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        var units = await fx.UnitsAsync("kill");
        AssertEveryUnitOnce(units, done);
        var lost = done.Rounds[0].ScoringSilos.Single(s => s.Silo == victimName);
        // Only its units in flight: one per compute slot at most.
        Assert.InRange(lost.Lost, 1, victim.Name == fx.TwoSlotSiloName ? 2 : 1);
        Assert.Equal(await fx.Store.ReadBytesAsync(ArtifactLayout.Selection("ref", 1)), await fx.Store.ReadBytesAsync(ArtifactLayout.Selection("kill", 1)));
    }

    [Fact]
    public async Task A_silo_that_joins_mid_round_takes_work_and_the_selection_is_unchanged()
    {
        var reference = await fx.Reference.Value;
        Assert.True(reference.State == ExperimentState.Completed, reference.Error);
        await fx.Client.GetGrain<ICoordinatorGrain>("join").Start(ScaleOutFixture.Spec());
        // The new silo starts as soon as the round's first units are out, so it joins while most are left.
        await fx.WhileScoringAsync("join", sc => sc.Silos.Any(x => x.InFlight > 0));
        var joiner = await fx.Cluster.StartAdditionalSiloAsync();
        var joined = await fx.Client.GetGrain<ICoordinatorGrain>("join").GetStatus();
        Assert.True(joined.Scoring is { } sc && sc.UnitsDone < sc.Units,
            $"the round's scoring ended before the new silo had joined (stage {joined.Stage}); this test needs a slower scoring round");

        var done = await fx.WaitAsync("join");
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        var units = await fx.UnitsAsync("join");
        AssertEveryUnitOnce(units, done);
        var share = done.Rounds[0].ScoringSilos.SingleOrDefault(s => s.Silo == Silo(joiner));
        Assert.True(share is { Units: >= 1 }, $"the silo that joined mid-round scored no unit; per silo: {string.Join(", ", done.Rounds[0].ScoringSilos.Select(s => $"{s.Silo} {s.Units}"))}");
        Assert.Equal(await fx.Store.ReadBytesAsync(ArtifactLayout.Selection("ref", 1)), await fx.Store.ReadBytesAsync(ArtifactLayout.Selection("join", 1)));
    }

    [Fact]
    public async Task A_coordinator_whose_silo_dies_mid_round_scores_only_the_units_not_yet_answered()
    {
        var reference = await fx.Reference.Value;
        Assert.True(reference.State == ExperimentState.Completed, reference.Error);
        while (fx.Cluster.Silos.Count < 3) await fx.Cluster.StartAdditionalSiloAsync();
        // The coordinator must not sit on the first silo (it holds the test cluster's membership): start experiments
        // until one's coordinator lands elsewhere, cancelling the others.
        var primary = Silo(fx.Cluster.Silos[0]);
        string id = "", host = "";
        for (var attempt = 1; attempt <= 20; attempt++)
        {
            id = $"resume-{attempt}";
            await fx.Client.GetGrain<ICoordinatorGrain>(id).Start(ScaleOutFixture.Spec());
            host = await HostOfCoordinatorAsync(id);
            if (host != primary) break;
            await fx.Client.GetGrain<ICoordinatorGrain>(id).Cancel();
        }
        Assert.NotEqual(primary, host);
        var before = await fx.WhileScoringAsync(id, sc => sc.UnitsDone >= 8);
        Assert.True(before.UnitsDone < before.Units, "the round's scoring ended before the coordinator's silo could be killed");
        await fx.Cluster.KillSiloAsync(fx.Cluster.Silos.Single(h => Silo(h) == host));

        var done = await WaitThroughFailoverAsync(id);
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        var units = await fx.UnitsAsync(id);
        output.WriteLine($"{id}: coordinator on {host} killed after {before.UnitsDone} units; the new coordinator resumed {units.Silos!.Resumed} of {units.Shards.Length}");
        Assert.InRange(units.Silos!.Resumed, 1, units.Shards.Length - 1);
        Assert.Equal(units.Shards.Length - units.Silos.Resumed, units.Silos.Silos.Sum(x => x.Units));
        Assert.Equal(Enumerable.Range(0, 40), units.Shards.Select(u => u.Unit!.Index));
        Assert.Empty(Directory.Exists(Path.Combine(fx.DataRoot, "artifacts", ArtifactLayout.UnitScoresFolder(id, 1)))
            ? Directory.GetFiles(Path.Combine(fx.DataRoot, "artifacts", ArtifactLayout.UnitScoresFolder(id, 1))) : []);
        Assert.Equal(await fx.Store.ReadBytesAsync(ArtifactLayout.Selection("ref", 1)), await fx.Store.ReadBytesAsync(ArtifactLayout.Selection(id, 1)));
    }

    /// <summary>Waits for the experiment to finish, riding out the calls that fail while its coordinator
    /// moves.</summary>
    private async Task<ExperimentStatus> WaitThroughFailoverAsync(string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (true)
        {
            try
            {
                return await fx.WaitAsync(id);
            }
            catch (Exception e) when (e is OrleansException or TimeoutException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    private async Task<string> HostOfCoordinatorAsync(string id)
    {
        var stats = await fx.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(null, null);
        return stats.Single(s => s.GrainType.Contains("CoordinatorGrain", StringComparison.Ordinal) && s.GrainId.Key.ToString() == id).SiloAddress.ToParsableString();
    }
}
