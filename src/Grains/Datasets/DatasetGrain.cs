using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Datasets;

/// <summary>Imports a dataset into the artifact store as pool shards plus a test shard, and describes it.</summary>
public sealed class DatasetGrain(IArtifactStore store, Experiments.ExperimentStore images, ILogger<DatasetGrain> logger) : Grain, IDatasetGrain
{
    private string DatasetId => ArtifactName.ValidateId(this.GetPrimaryKeyString(), "dataset id");

    /// <inheritdoc />
    public async Task<DatasetInfo> ImportFashionMnist(string sourceDirectory, int shards, int poolLimit)
    {
        if (shards is < 1 or > 4096) throw new ArgumentException($"shard count must be in 1..4096, got {shards}");
        var id = DatasetId;
        if (await store.GetInfoAsync(ArtifactLayout.DatasetManifest(id)) is not null)
        {
            // Importing again must not change the shards under running experiments.
            var existing = await LoadAsync(store, id);
            if (existing.Shards.Length == shards && existing.ImportLimit == Math.Max(0, poolLimit)) return existing.ToInfo();
            throw new InvalidOperationException(
                $"dataset '{id}' already exists with {existing.PoolSize} pool samples in {existing.Shards.Length} shards (imported with limit {existing.ImportLimit}); import under another id");
        }
        var (train, test) = await Task.Run(() =>
        {
            var dir = FashionMnist.Locate(string.IsNullOrEmpty(sourceDirectory) ? null : sourceDirectory);
            return (FashionMnist.Load(dir, "train", 0), FashionMnist.Load(dir, "t10k", 1_000_000));
        });
        if (poolLimit > 0 && poolLimit < train.Count) train = train.Take(poolLimit);
        if (shards > train.Count) throw new ArgumentException($"{shards} shards for {train.Count} pool samples: every shard needs at least one sample");
        var entries = new List<ShardEntry>();
        var per = (train.Count + shards - 1) / shards;
        for (var s = 0; s < shards; s++)
        {
            var start = s * per;
            var count = Math.Min(per, train.Count - start);
            if (count <= 0) break;
            var part = train.Subset(Enumerable.Range(start, count).ToArray());
            var name = ArtifactLayout.PoolShard(id, s);
            using var ms = new MemoryStream();
            PoolShardFormat.Write(ms, part, 10);
            ms.Position = 0;
            await store.PutAsync(name, ms);
            entries.Add(new ShardEntry(s, name, part.Ids[0], count));
        }
        using (var ms = new MemoryStream())
        {
            PoolShardFormat.Write(ms, test, 10);
            ms.Position = 0;
            await store.PutAsync(ArtifactLayout.TestShard(id), ms);
        }
        var manifest = new DatasetManifest
        {
            DatasetId = id, Channels = train.Channels, Height = train.Height, Width = train.Width, Classes = 10,
            Normalization = train.ComputeNormalization(), Shards = [.. entries], TestShard = ArtifactLayout.TestShard(id), TestCount = test.Count,
            ImportLimit = Math.Max(0, poolLimit), ClassNames = [.. FashionMnist.ClassNames],
        };
        // The manifest goes last: a dataset is visible only once all its shards are stored.
        await store.PutBytesAsync(ArtifactLayout.DatasetManifest(id), manifest.ToJson());
        logger.LogInformation("imported dataset {Dataset}: {Pool} pool samples in {Shards} shards, {Test} test samples", id, train.Count, entries.Count, test.Count);
        return manifest.ToInfo();
    }

    /// <inheritdoc />
    public async Task<DatasetInfo> Describe() => (await LoadAsync(store, DatasetId)).ToInfo();

    /// <summary>Most samples one <see cref="GetSamples"/> call returns.</summary>
    public const int MaxSamplesPerRequest = 10_000;

    /// <inheritdoc />
    public async Task<SampleImages> GetSamples(long[] sampleIds)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (sampleIds.Length > MaxSamplesPerRequest) throw new ArgumentException($"at most {MaxSamplesPerRequest} samples per request, got {sampleIds.Length}");
        var manifest = await LoadAsync(store, DatasetId);
        var unknown = sampleIds.Where(id => !manifest.Shards.Any(s => id >= s.FirstId && id < s.FirstId + s.Count)).Take(5).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"dataset '{manifest.DatasetId}' has no pool sample {string.Join(", ", unknown)}");
        if (sampleIds.Length == 0) return new SampleImages { Shape = [manifest.Channels, manifest.Height, manifest.Width] };
        var set = await images.LabeledImagesAsync(manifest, sampleIds.Distinct().ToArray());
        // The gathered set is in id order; return pixels in the order asked.
        var at = new Dictionary<long, int>(set.Count);
        for (var i = 0; i < set.Count; i++) at[set.Ids[i]] = i;
        var pixels = new byte[(long)sampleIds.Length * set.ImageBytes];
        for (var i = 0; i < sampleIds.Length; i++) Buffer.BlockCopy(set.Pixels, at[sampleIds[i]] * set.ImageBytes, pixels, i * set.ImageBytes, set.ImageBytes);
        return new SampleImages { SampleIds = sampleIds, Shape = [set.Channels, set.Height, set.Width], Pixels = pixels };
    }

    /// <summary>Reads a dataset's manifest; a clear error when the dataset does not exist.</summary>
    public static async Task<DatasetManifest> LoadAsync(IArtifactStore store, string datasetId)
    {
        var name = ArtifactLayout.DatasetManifest(datasetId);
        try
        {
            return DatasetManifest.Parse(await store.ReadBytesAsync(name), name);
        }
        catch (ArtifactNotFoundException)
        {
            throw new ArgumentException($"unknown dataset '{datasetId}': import it first (prunefuse dataset import)");
        }
    }
}
