using Orleans.TestingHost;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Tests;

/// <summary>
/// Two in-process silos sharing one embedded data folder (artifacts + grain state), with real Fashion-MNIST
/// imported as a 3,000-sample pool in 3 shards.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public string DataRoot { get; } = Directory.CreateTempSubdirectory("prunefuse-cluster-").FullName;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public const string Dataset = "fmnist-small";

    private string? _gpuSiloName;

    /// <summary>Address of the silo tagged accelerator=gpu.</summary>
    public string GpuSilo => Cluster.Silos.Single(s => s.Name == _gpuSiloName).SiloAddress.ToParsableString();

    /// <summary>Address of the cpu silo.</summary>
    public string CpuSilo => Cluster.Silos.Single(s => s.Name != _gpuSiloName).SiloAddress.ToParsableString();

    public async ValueTask InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) =>
        {
            // The first silo configured is tagged gpu, the second cpu.
            var gpu = Interlocked.CompareExchange(ref _gpuSiloName, options.SiloName, null) is null;
            // The gpu silo (where shards are placed) may cache only about one 1,000-sample shard: the other shards,
            // the test set and labeled-image gathering are streamed, so both scoring paths run in every experiment.
            silo.AddPruneFuseEmbedded(DataRoot, gpu ? "gpu" : "cpu", gpu ? new Compute.ComputeOptions { ShardCacheBytes = 1 << 20 } : null);
            silo.UseInMemoryReminderService();
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await Client.GetGrain<IDatasetGrain>(Dataset).ImportFashionMnist("", 3, 3000);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try { Directory.Delete(DataRoot, recursive: true); } catch (IOException) { }
    }

    /// <summary>A small, fast experiment spec on the fixture's dataset.</summary>
    public static ExperimentSpec SmallSpec(long seed = 1) => new()
    {
        DatasetId = Dataset, Arch = "resnet8", Selector = SelectorKind.Pruned, PruneRatio = 0.5, Metric = Metric.LeastConfidence,
        InitialLabeled = 200, RoundSize = 150, Rounds = 2, SelectorEpochs = 4, FinalEpochs = 2, BatchSize = 64, Seed = seed,
    };

    /// <summary>Polls until the experiment leaves Running (bounded).</summary>
    public Task<ExperimentStatus> WaitAsync(string experimentId, TimeSpan? timeout = null) => WaitAsync(Client, experimentId, timeout ?? TimeSpan.FromMinutes(5));

    /// <summary>Polls <paramref name="client"/> until the experiment leaves Running, for at most <paramref
    /// name="timeout"/>.</summary>
    public static async Task<ExperimentStatus> WaitAsync(IClusterClient client, string experimentId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var grain = client.GetGrain<ICoordinatorGrain>(experimentId);
        while (true)
        {
            var status = await grain.GetStatus();
            if (status.State != ExperimentState.Running) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"experiment {experimentId} still running at stage {status.Stage}, round {status.Round}");
            await Task.Delay(250);
        }
    }
}

[CollectionDefinition("cluster")]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>;
