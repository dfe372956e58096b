using Orleans.TestingHost;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;
using SkiaSharp;

namespace PruneFuse.Grains.Tests;

/// <summary>
/// An image import spread over three in-process silos sharing one data folder: shards decoded by several silos, a
/// silo killed mid-import, and the dataset grain's own silo killed and the import run again. Every stored shard must
/// equal the single-process decode of the same listing.
/// </summary>
public sealed class ImportScaleOutTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("prunefuse-import-scaleout-").FullName;
    private InProcessTestCluster _cluster = null!;
    private string Pool => Path.Combine(_root, "pool");
    private FileSystemArtifactStore Store => new(Path.Combine(_root, "data", "artifacts"));

    // 64×64 RGB: 12,300 bytes a sample, so 64 KB shards hold 5 and the pool of 1,200 makes 192 shards.
    private DatasetImportRequest Request => new()
    {
        Format = "images", Source = Pool, Channels = 3, Height = 64, Width = 64, ShardSize = 64 << 10,
            TestFraction = 0.2, Seed = 3,
    };

    public async ValueTask InitializeAsync()
    {
        for (var i = 0; i < 1200; i++)
        {
            var rng = new Random(i);
            using var bitmap = new SKBitmap(48, 48);
            using (var canvas = new SKCanvas(bitmap))
            using (var paint = new SKPaint())
            {
                for (var y = 0; y < 48; y += 4) for (var x = 0; x < 48; x += 4)
                {
                    paint.Color = new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
                    canvas.DrawRect(x, y, 4, 4, paint);
                }
            }
            var folder = Directory.CreateDirectory(Path.Combine(Pool, $"c{i % 4}")).FullName;
            File.WriteAllBytes(Path.Combine(folder, $"{i:D4}.png"), bitmap.Encode(SKEncodedImageFormat.Png,
                100).ToArray());
        }
        var builder = new InProcessTestClusterBuilder(3);
        var data = Path.Combine(_root, "data");
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddPruneFuseEmbedded(data, "cpu", new Compute.ComputeOptions { Slots = 1 });
            silo.UseInMemoryReminderService();
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    private IClusterClient Client => _cluster.Client;

    private static string Silo(InProcessSiloHandle h) => h.SiloAddress.ToParsableString();

    /// <summary>The pool shards a single process writes for the same import: the reference every run must
    /// equal.</summary>
    private byte[][] ReferenceShards()
    {
        var r = Request;
        var options = new ImageImportOptions(r.Channels, r.Height, r.Width);
        using var plan = ImportPlan.Open(ImageSources.Find("images"), new SourceLocation(Pool), null, r.TestFraction,
            r.Seed);
        var shards = new List<byte[]>();
        foreach (var shard in StreamingImport.DecodeShards(plan.Pool, plan.PoolEntries, options,
            StreamingImport.ImagesPerShard(r.ShardSize, options), 0, []))
        {
            using var ms = new MemoryStream();
            PoolShardFormat.Write(ms, shard.Images, plan.ClassNames.Count);
            shards.Add(ms.ToArray());
        }
        return [.. shards];
    }

    private async Task AssertShardsEqualReferenceAsync(string dataset, byte[][] reference)
    {
        var manifest = await Datasets.DatasetManifest.LoadAsync(Store, dataset);
        Assert.Equal(reference.Length, manifest.Shards.Length);
        for (var s = 0; s < reference.Length; s++)
        {
            var stored = await Store.ReadBytesAsync(manifest.Shards[s].Artifact);
            Assert.True(reference[s].SequenceEqual(stored), $"shard {s} differs");
        }
        // The import's bookkeeping is gone once it is committed.
        await foreach (var a in Store.ListAsync($"datasets/{dataset}/")) Assert.DoesNotContain(".done.json", a.Name);
        Assert.Null(await Store.GetInfoAsync(ArtifactLayout.ImportInProgress(dataset)));
    }

    private async Task<ImportProgress> WhileImportingAsync(string dataset, Task<DatasetImportResult> import,
        Func<ImportProgress, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (DateTime.UtcNow < deadline)
        {
            if (import.IsCompleted) await import; // an import that failed says why
            var p = await Client.GetGrain<IDatasetGrain>(dataset).GetImportProgress();
            if (p.Stage == "done") throw new InvalidOperationException($"the import of {dataset} finished before the "
                + $"awaited state; it needs more shards");
            if (until(p)) return p;
            await Task.Delay(10);
        }
        throw new TimeoutException($"the import of {dataset} never reached the awaited state");
    }

    [Fact]
    public async Task Spread_shards_survive_a_killed_worker_and_a_killed_host_and_equal_a_single_process_import()
    {
        var reference = ReferenceShards();

        // A worker silo killed mid-import: its shard in flight goes to another silo, and the import completes.
        var spread = Client.GetGrain<IDatasetGrain>("spread").Import(Request);
        var during = await WhileImportingAsync("spread", spread, p => p.Silos.Length >= 2 && p.Done < p.Total / 2);
        var victim = _cluster.Silos.Skip(1).First(h => h.SiloAddress.ToString() != during.Silo);
        await _cluster.KillSiloAsync(victim);
        var result = await spread;
        Assert.True(result.Silos.Length >= 2, string.Join(", ", result.Silos.Select(s => $"{s.Silo} {s.Shards}")));
        Assert.Equal(reference.Length, result.Silos.Sum(s => s.Shards));
        await AssertShardsEqualReferenceAsync("spread", reference);

        // The dataset grain's own silo killed: the caller hears of it, and the same import again resumes.
        await _cluster.StartAdditionalSiloAsync();
        string id = "";
        for (var i = 0; id == ""; i++)
        {
            var p = await Client.GetGrain<IDatasetGrain>($"resume-{i}").GetImportProgress();
            if (p.Silo != _cluster.Silos[0].SiloAddress.ToString()) id = $"resume-{i}";
        }
        var interrupted = Client.GetGrain<IDatasetGrain>(id).Import(Request);
        var before = await WhileImportingAsync(id, interrupted, p => p.Silos.Sum(s => s.Shards) >= 10);
        await _cluster.KillSiloAsync(_cluster.Silos.Single(h => h.SiloAddress.ToString() == before.Silo));
        await Assert.ThrowsAnyAsync<Exception>(() => interrupted.WaitAsync(TimeSpan.FromMinutes(2)));
        var again = await Client.GetGrain<IDatasetGrain>(id).Import(Request);
        Assert.InRange(again.ResumedShards, 10, reference.Length - 1);
        await AssertShardsEqualReferenceAsync(id, reference);
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
