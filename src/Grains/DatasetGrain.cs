using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Grains;

/// <summary>Imports a dataset into the artifact store as pool shards plus a test shard, and describes it.</summary>
public sealed class DatasetGrain(IArtifactStore store, Experiments.ExperimentStore images, Compute.TorchWorker compute, ILogger<DatasetGrain> logger) : Grain, IDatasetGrain
{
    private string DatasetId => ArtifactName.ValidateId(this.GetPrimaryKeyString(), "dataset id");

    // Set while an import runs on this activation: a delete then is refused (it interleaves with the import).
    private bool _importing;

    /// <inheritdoc />
    public async Task<DatasetInfo> ImportFashionMnist(string sourceDirectory, int shards, int poolLimit)
    {
        _importing = true;
        try
        {
            return await ImportFashionMnistAsync(sourceDirectory, shards, poolLimit);
        }
        finally
        {
            _importing = false;
        }
    }

    private async Task<DatasetInfo> ImportFashionMnistAsync(string sourceDirectory, int shards, int poolLimit)
    {
        if (shards is < 1 or > 4096) throw new ArgumentException($"shard count must be in 1..4096, got {shards}");
        if (poolLimit < 0) throw new ArgumentException($"pool limit must be 0 (all images) or a positive number of images, got {poolLimit}");
        var id = DatasetId;
        if (await store.GetInfoAsync(ArtifactLayout.DatasetManifest(id)) is not null)
        {
            // Importing again must not change the shards under running experiments.
            var existing = await DatasetManifest.LoadAsync(store, id);
            if (existing.Shards.Length == shards && existing.ImportLimit == Math.Max(0, poolLimit)) return existing.ToInfo() with { AlreadyImported = true };
            throw new InvalidOperationException(
                $"dataset '{id}' already exists with {existing.PoolSize} pool samples in {existing.Shards.Length} shards (imported with limit {existing.ImportLimit}); import under another id, or delete it first: prunefuse dataset delete {id}");
        }
        _progress = new ImportProgress("reading IDX files", 0, 0);
        var (train, test) = await Task.Run(() =>
        {
            var dir = FashionMnist.Locate(string.IsNullOrEmpty(sourceDirectory) ? null : sourceDirectory);
            return (FashionMnist.Load(dir, "train", 0), FashionMnist.Load(dir, "t10k", 1_000_000));
        });
        if (poolLimit > 0 && poolLimit < train.Count) train = train.Take(poolLimit);
        _progress = new ImportProgress("writing shards", 0, shards + 1);
        var manifest = await WriteAsync(id, train, test, shards, new DatasetManifest
        {
            DatasetId = id, Channels = train.Channels, Height = train.Height, Width = train.Width, Classes = 10,
            Normalization = train.ComputeNormalization(), Shards = [], TestShard = ArtifactLayout.TestShard(id), TestCount = test.Count,
            ImportLimit = Math.Max(0, poolLimit), ClassNames = [.. FashionMnist.ClassNames],
        });
        _progress = new ImportProgress("done", shards + 1, shards + 1);
        return manifest.ToInfo();
    }

    private ImportProgress _progress = new("idle", 0, 0);

    /// <inheritdoc />
    public Task<ImportProgress> GetImportProgress() => Task.FromResult(Volatile.Read(ref _progress));

    /// <inheritdoc />
    public async Task<ImageImportResult> ImportImages(ImageImportRequest request)
    {
        _importing = true;
        try
        {
            return await ImportImagesAsync(request);
        }
        finally
        {
            _importing = false;
        }
    }

    /// <inheritdoc />
    public async Task<Deletion> Delete()
    {
        var id = DatasetId;
        if (_importing) throw new InvalidOperationException($"dataset '{id}' is being imported; delete it once the import has finished");
        var users = (await GrainFactory.GetGrain<ICatalogGrain>(0).ListExperiments())
            .Where(e => e.State == ExperimentState.Running && e.Spec?.DatasetId == id).Select(e => e.ExperimentId).Order(StringComparer.Ordinal).ToList();
        if (users.Count > 0)
        {
            throw new InvalidOperationException($"dataset '{id}' is used by running experiment(s) {string.Join(", ", users.Select(u => $"'{u}'"))}; cancel them first");
        }
        var artifacts = new List<ArtifactInfo>();
        await foreach (var a in store.ListAsync($"datasets/{id}/")) artifacts.Add(a);
        if (artifacts.Count == 0) throw new ArgumentException($"unknown dataset '{id}'");
        // The manifest first: without it the dataset is not imported any more, and a new import removes leftovers.
        var manifest = ArtifactLayout.DatasetManifest(id);
        foreach (var a in artifacts.OrderBy(a => a.Name == manifest ? 0 : 1)) await store.DeleteAsync(a.Name);
        logger.LogInformation("dataset {Dataset} deleted: {Artifacts} artifacts, {Bytes} bytes", id, artifacts.Count, artifacts.Sum(a => a.Length));
        return new Deletion(id, artifacts.Count, artifacts.Sum(a => a.Length));
    }

    private async Task<ImageImportResult> ImportImagesAsync(ImageImportRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var id = DatasetId;
        var options = new ImageFolderOptions(request.Channels, request.Height, request.Width);
        options.Validate();
        if (request.Shards is < 1 or > 4096) throw new ArgumentException($"shard count must be in 1..4096, got {request.Shards}");
        if (string.IsNullOrEmpty(request.TestDirectory) && request.TestFraction is not (> 0 and < 1))
        {
            throw new ArgumentException($"test fraction must be in (0, 1) when no test folder is given, got {request.TestFraction}");
        }
        var fingerprint = System.Text.Json.JsonSerializer.Serialize(request);
        if (await store.GetInfoAsync(ArtifactLayout.DatasetManifest(id)) is not null)
        {
            var existing = await DatasetManifest.LoadAsync(store, id);
            if (existing.ImportRequest == fingerprint) return new ImageImportResult { Dataset = existing.ToInfo(), AlreadyImported = true };
            throw new InvalidOperationException($"dataset '{id}' already exists ({existing.Source}, {existing.PoolSize} pool samples) and was imported differently; import under another id, or delete it first: prunefuse dataset delete {id}");
        }
        var bad = new List<BadImage>();
        var (pool, test, classNames, ignored) = await Task.Run(() => DecodeFolders(request, options, bad));
        if (bad.Count > 0 && !request.SkipBad)
        {
            _progress = new ImportProgress("refused", 0, 0);
            throw new DataFormatException(bad[0].Path, $"{bad.Count} unreadable image(s), nothing imported: " +
                string.Join("; ", bad.Take(5).Select(b => $"{b.Path}: {b.Reason}")) + (bad.Count > 5 ? "; …" : "") + ". Fix or remove them, or pass --skip-bad");
        }
        if (pool.Count == 0) throw new ArgumentException("no readable images left in the pool");
        if (test.Count == 0) throw new ArgumentException("no readable images left in the test set");
        _progress = new ImportProgress("writing shards", 0, request.Shards + 1);
        var manifest = await WriteAsync(id, pool, test, request.Shards, new DatasetManifest
        {
            DatasetId = id, Channels = pool.Channels, Height = pool.Height, Width = pool.Width, Classes = classNames.Count,
            Normalization = pool.ComputeNormalization(), Shards = [], TestShard = ArtifactLayout.TestShard(id), TestCount = test.Count,
            ClassNames = [.. classNames], PoolLabeled = pool.Labels.All(l => l >= 0), Source = "images", ImportRequest = fingerprint,
        });
        _progress = new ImportProgress("done", pool.Count + test.Count, pool.Count + test.Count);
        return new ImageImportResult { Dataset = manifest.ToInfo(), Skipped = [.. bad.Select(b => $"{b.Path}: {b.Reason}")], Ignored = ignored };
    }

    private (ImageSet Pool, ImageSet Test, IReadOnlyList<string> ClassNames, int Ignored) DecodeFolders(ImageImportRequest request, ImageFolderOptions options, List<BadImage> bad)
    {
        var poolScan = ImageFolder.Scan(request.PoolDirectory);
        var testScan = string.IsNullOrEmpty(request.TestDirectory) ? null : ImageFolder.Scan(request.TestDirectory);
        if (testScan is { Labeled: false }) throw new DataFormatException(testScan.Root, "the test folder must be labeled: one sub-folder per class");
        if (testScan is null && !poolScan.Labeled) throw new ArgumentException("an unlabeled pool needs --test DIR (a labeled folder, one sub-folder per class) to measure accuracy");
        if (testScan is not null && poolScan.Labeled && !poolScan.ClassNames.SequenceEqual(testScan.ClassNames))
        {
            throw new DataFormatException(testScan.Root, $"test classes ({string.Join(", ", testScan.ClassNames)}) differ from the pool's ({string.Join(", ", poolScan.ClassNames)})");
        }
        var classNames = poolScan.Labeled ? poolScan.ClassNames : testScan!.ClassNames;
        IReadOnlyList<ImageFolderEntry> poolEntries = poolScan.Entries, testEntries = testScan?.Entries ?? [];
        if (testScan is null)
        {
            // Held-out split from the import seed: a seeded shuffle, then the first fraction is the test set.
            var rng = SeededRandom.For(request.Seed, "image-import-test-split");
            var order = Enumerable.Range(0, poolScan.Entries.Count).ToArray();
            for (var i = order.Length - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            var testCount = Math.Max(1, (int)Math.Round(order.Length * request.TestFraction));
            if (testCount >= order.Length) throw new ArgumentException($"{order.Length} images are too few to hold out a test fraction of {request.TestFraction}");
            testEntries = [.. order.Take(testCount).Order().Select(i => poolScan.Entries[i])];
            poolEntries = [.. order.Skip(testCount).Order().Select(i => poolScan.Entries[i])];
        }
        var total = poolEntries.Count + testEntries.Count;
        _progress = new ImportProgress("decoding images", 0, total);
        void Report(long done) => _progress = new ImportProgress("decoding images", done, total);
        // A stopping silo ends a long decode between images.
        var pool = ImageFolder.Decode(poolScan, poolEntries, options, 0, bad, n => Report(n), compute.Stopping);
        var testSet = ImageFolder.Decode(testScan ?? poolScan, testEntries, options, 1_000_000_000, bad, n => Report(poolEntries.Count + n), compute.Stopping);
        return (pool, testSet, classNames, poolScan.Ignored + (testScan?.Ignored ?? 0));
    }

    // Writes the pool shards and the test shard, then the manifest last: a dataset is visible only once complete.
    // Artifacts of an earlier import of this id that never got its manifest are removed first, and a write that
    // fails (a full disk, a stopping silo) removes what it wrote, so no orphan shards fill the store.
    private async Task<DatasetManifest> WriteAsync(string id, ImageSet pool, ImageSet test, int shards, DatasetManifest manifest)
    {
        if (shards > pool.Count) throw new ArgumentException($"{shards} shards for {pool.Count} pool samples: every shard needs at least one sample");
        await RemoveIncompleteAsync(id);
        try
        {
            return await WriteShardsAsync(id, pool, test, shards, manifest, compute.Stopping);
        }
        catch (Exception e)
        {
            logger.LogWarning("import of dataset {Dataset} failed ({Error}); removing its partly written shards", id, e.Message);
            await RemoveIncompleteAsync(id);
            throw;
        }
    }

    private async Task RemoveIncompleteAsync(string id)
    {
        var removed = 0;
        await foreach (var a in store.ListAsync($"datasets/{id}/"))
        {
            try
            {
                if (await store.DeleteAsync(a.Name)) removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Azure.RequestFailedException)
            {
                logger.LogWarning("could not remove {Artifact} of an incomplete import: {Error}", a.Name, e.Message);
            }
        }
        if (removed > 0) logger.LogInformation("removed {Count} artifacts of an incomplete import of dataset {Dataset}", removed, id);
    }

    private async Task<DatasetManifest> WriteShardsAsync(string id, ImageSet pool, ImageSet test, int shards, DatasetManifest manifest, CancellationToken cancellationToken)
    {
        var entries = new List<ShardEntry>();
        var per = (pool.Count + shards - 1) / shards;
        for (var s = 0; s < shards; s++)
        {
            var start = s * per;
            var count = Math.Min(per, pool.Count - start);
            if (count <= 0) break;
            cancellationToken.ThrowIfCancellationRequested();
            var part = pool.Subset(Enumerable.Range(start, count).ToArray());
            var name = ArtifactLayout.PoolShard(id, s);
            using var ms = new MemoryStream();
            PoolShardFormat.Write(ms, part, manifest.Classes);
            ms.Position = 0;
            await store.PutAsync(name, ms, cancellationToken: cancellationToken);
            entries.Add(new ShardEntry(s, name, part.Ids[0], count));
            _progress = _progress with { Done = s + 1 };
        }
        using (var ms = new MemoryStream())
        {
            PoolShardFormat.Write(ms, test, manifest.Classes);
            ms.Position = 0;
            await store.PutAsync(ArtifactLayout.TestShard(id), ms, cancellationToken: cancellationToken);
        }
        manifest = manifest with { Shards = [.. entries] };
        cancellationToken.ThrowIfCancellationRequested();
        await store.PutBytesAsync(ArtifactLayout.DatasetManifest(id), manifest.ToJson(), cancellationToken: CancellationToken.None);
        logger.LogInformation("imported dataset {Dataset} ({Source}): {Pool} pool samples in {Shards} shards, {Test} test samples", id, manifest.Source, pool.Count, entries.Count, test.Count);
        return manifest;
    }

    /// <inheritdoc />
    public async Task<DatasetInfo> Describe() => (await DatasetManifest.LoadAsync(store, DatasetId)).ToInfo();

    /// <summary>Most samples one <see cref="GetSamples"/> call returns.</summary>
    public const int MaxSamplesPerRequest = 10_000;

    /// <inheritdoc />
    public async Task<SampleImages> GetSamples(long[] sampleIds)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (sampleIds.Length > MaxSamplesPerRequest) throw new ArgumentException($"at most {MaxSamplesPerRequest} samples per request, got {sampleIds.Length}");
        var manifest = await DatasetManifest.LoadAsync(store, DatasetId);
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
}
