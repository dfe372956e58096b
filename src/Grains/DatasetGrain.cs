using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;
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
        if (shards > train.Count) throw new ArgumentException($"{shards} shards for {train.Count} pool samples: every shard needs at least one sample");
        _progress = new ImportProgress("writing shards", 0, train.Count + test.Count);
        var per = (train.Count + shards - 1) / shards;
        var parts = Enumerable.Range(0, shards).Select(s => s * per).Where(start => start < train.Count)
            .Select(start => new DecodedShard(train.Subset([.. Enumerable.Range(start, Math.Min(per, train.Count - start))]), []));
        var manifest = await WriteAsync(id, parts, new DecodedShard(test, []), new DatasetManifest
        {
            DatasetId = id, Channels = train.Channels, Height = train.Height, Width = train.Width, Classes = 10,
            Normalization = FromPixels, Shards = [], TestShard = ArtifactLayout.TestShard(id), TestCount = test.Count,
            ImportLimit = Math.Max(0, poolLimit), ClassNames = [.. FashionMnist.ClassNames],
        });
        _progress = new ImportProgress("done", train.Count + test.Count, train.Count + test.Count);
        return manifest.ToInfo();
    }

    private ImportProgress _progress = new("idle", 0, 0);

    /// <inheritdoc />
    public Task<ImportProgress> GetImportProgress() => Task.FromResult(Volatile.Read(ref _progress));

    /// <inheritdoc />
    public async Task<DatasetImportResult> Import(DatasetImportRequest request)
    {
        _importing = true;
        try
        {
            return await ImportAsync(request);
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

    private async Task<DatasetImportResult> ImportAsync(DatasetImportRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var id = DatasetId;
        var options = new ImageImportOptions(request.Channels, request.Height, request.Width, request.Resize);
        options.Validate();
        var perShard = StreamingImport.ImagesPerShard(request.ShardSize, options);
        var format = ImageSources.Find(request.Format);
        if (string.IsNullOrEmpty(request.TestSource) && !format.HasTestSplit && request.TestFraction is not (> 0 and < 1))
        {
            throw new ArgumentException($"test fraction must be in (0, 1) when no test source is given, got {request.TestFraction}");
        }
        var fingerprint = System.Text.Json.JsonSerializer.Serialize(request with { DryRun = false });
        if (!request.DryRun && await store.GetInfoAsync(ArtifactLayout.DatasetManifest(id)) is not null)
        {
            var existing = await DatasetManifest.LoadAsync(store, id);
            if (existing.ImportRequest == fingerprint) return new DatasetImportResult { Dataset = existing.ToInfo(), AlreadyImported = true };
            throw new InvalidOperationException($"dataset '{id}' already exists ({existing.Source}, {existing.PoolSize} pool samples) and was imported differently; " +
                $"import under another id, or delete it first: prunefuse dataset delete {id}");
        }
        _progress = new ImportProgress("listing the source", 0, 0) { Silo = SiloName };
        var plan = await Task.Run(() => ImportPlan.Open(format, Location(request, request.Source, request.Labels),
            string.IsNullOrEmpty(request.TestSource) ? null : Location(request, request.TestSource, request.TestLabels), request.TestFraction, request.Seed));
        using (plan)
        {
            var stored = StoredBytes(plan.PoolEntries.Count, perShard, options) + StoredBytes(plan.TestEntries.Count, int.MaxValue, options);
            var shardCount = (plan.PoolEntries.Count + perShard - 1) / perShard;
            var summary = new DatasetInfo
            {
                DatasetId = id, PoolSize = plan.PoolEntries.Count, TestSize = plan.TestEntries.Count, Shards = shardCount,
                Shape = [options.Channels, options.Height, options.Width], Classes = plan.ClassNames.Count, ClassNames = [.. plan.ClassNames],
                PoolLabeled = plan.Pool.ClassNames.Count > 0, Source = format.Name,
            };
            var result = new DatasetImportResult { Dataset = summary, Ignored = plan.Ignored, Notes = [.. plan.Notes], Conversion = options.Describe(), StoredBytes = stored };
            if (request.DryRun) return result with { DryRun = true };
            return await DecodeAndWriteAsync(id, request, plan, options, perShard, fingerprint, result);
        }
    }

    private string SiloName => RuntimeIdentity;

    private static SourceLocation Location(DatasetImportRequest request, string path, string labels)
    {
        static string? NullIfEmpty(string s) => string.IsNullOrEmpty(s) ? null : s;
        return new(path, NullIfEmpty(labels), NullIfEmpty(request.ClassNamesFile), NullIfEmpty(request.CifarLabels));
    }

    private static long StoredBytes(int count, int perShard, ImageImportOptions options) =>
        (long)count * (8 + 4 + options.ImageBytes) + (long)Math.Max(1, (count + (long)perShard - 1) / perShard) * PoolShardFormat.HeaderLength;

    private async Task<DatasetImportResult> DecodeAndWriteAsync(string id, DatasetImportRequest request, ImportPlan plan, ImageImportOptions options, int perShard,
        string fingerprint, DatasetImportResult result)
    {
        var bad = new List<BadImage>();
        var total = plan.PoolEntries.Count + plan.TestEntries.Count;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        void Report(long done) => _progress = new ImportProgress("decoding images", done, total) { ImagesPerSecond = done / Math.Max(1e-3, clock.Elapsed.TotalSeconds), Silo = SiloName };
        Report(0);
        if ((long)plan.TestEntries.Count * options.ImageBytes > StreamingImport.MaxShardBytes)
        {
            throw new ArgumentException($"the test set of {plan.TestEntries.Count} images at {options.Height}×{options.Width} is " +
                $"{(long)plan.TestEntries.Count * options.ImageBytes >> 20} MB; one test shard holds at most {StreamingImport.MaxShardBytes >> 20} MB: use a smaller test set");
        }
        // Refused at the first shard with a bad image unless --skip-bad: nothing decoded after it is wasted.
        IEnumerable<DecodedShard> Checked(IEnumerable<DecodedShard> shards)
        {
            foreach (var shard in shards)
            {
                if (bad.Count > 0 && !request.SkipBad) throw Refusal(bad);
                yield return shard;
            }
            if (bad.Count > 0 && !request.SkipBad) throw Refusal(bad);
        }
        var test = await Task.Run(() => StreamingImport.DecodeShards(plan.Test, plan.TestEntries, options, Math.Max(1, plan.TestEntries.Count), 1_000_000_000, bad,
            progress: n => Report(plan.PoolEntries.Count + n), cancellationToken: compute.Stopping).SingleOrDefault());
        if (bad.Count > 0 && !request.SkipBad) throw Refusal(bad);
        if (test is null) throw new ArgumentException("no readable images left in the test set");
        var pool = Checked(StreamingImport.DecodeShards(plan.Pool, plan.PoolEntries, options, perShard, 0, bad, reuseBuffer: true,
            n => Report(n), compute.Stopping));
        var manifest = await WriteAsync(id, pool, test, new DatasetManifest
        {
            DatasetId = id, Channels = options.Channels, Height = options.Height, Width = options.Width, Classes = plan.ClassNames.Count,
            Normalization = FromPixels, Shards = [], TestShard = ArtifactLayout.TestShard(id), TestCount = test.Images.Count,
            ClassNames = [.. plan.ClassNames], PoolLabeled = plan.Pool.ClassNames.Count > 0, Source = request.Format, ImportRequest = fingerprint,
        });
        _progress = new ImportProgress("done", total, total) { ImagesPerSecond = total / Math.Max(1e-3, clock.Elapsed.TotalSeconds), Silo = SiloName };
        var written = manifest.Shards.Length;
        return result with
        {
            Dataset = manifest.ToInfo(), Skipped = [.. bad.Select(b => $"{b.Path}: {b.Reason}")], Seconds = clock.Elapsed.TotalSeconds,
            StoredBytes = (long)(manifest.PoolSize + manifest.TestCount) * (12 + options.ImageBytes) + (written + 1L) * PoolShardFormat.HeaderLength,
        };
    }

    private static DataFormatException Refusal(List<BadImage> bad) =>
        new(bad[0].Path, $"{bad.Count} unreadable image(s), nothing imported: " +
            string.Join("; ", bad.Take(5).Select(b => $"{b.Path}: {b.Reason}")) + (bad.Count > 5 ? "; …" : "") + ". Fix or remove them, or pass --skip-bad");

    // Writes the pool shards (with their source keys) and the test shard, then the manifest last: a dataset is
    // visible only once complete. Artifacts of an earlier import of this id that never got its manifest are removed
    // first, and a write that fails (a full disk, a stopping silo, a refused image) removes what it wrote.
    private async Task<DatasetManifest> WriteAsync(string id, IEnumerable<DecodedShard> pool, DecodedShard test, DatasetManifest manifest)
    {
        await RemoveIncompleteAsync(id);
        try
        {
            return await WriteShardsAsync(id, pool, test, manifest, compute.Stopping);
        }
        catch (Exception e)
        {
            logger.LogWarning("import of dataset {Dataset} failed ({Error}); removing its partly written shards", id, e.Message);
            await RemoveIncompleteAsync(id);
            throw e switch
            {
                OutOfMemoryException => new InvalidOperationException($"the silo ran out of memory importing dataset '{id}': lower --shard-size " +
                    "(one shard is held in memory while it is written) or give the silo more memory; nothing was imported", e),
                IOException io when IsDiskFull(io) => new IOException($"the artifact store's disk is full while importing dataset '{id}': {io.Message}; nothing was imported", io),
                _ => e,
            };
        }
    }

    private static bool IsDiskFull(IOException e) => (e.HResult & 0xFFFF) is 28 or 112; // ENOSPC, ERROR_DISK_FULL

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

    // A manifest's normalisation before the pool's pixels are written, from which it is computed.
    private static readonly ImageNormalization FromPixels = new([], []);

    private async Task<DatasetManifest> WriteShardsAsync(string id, IEnumerable<DecodedShard> pool, DecodedShard test, DatasetManifest manifest,
        CancellationToken cancellationToken)
    {
        var entries = new List<ShardEntry>();
        var statistics = new PixelStatistics(manifest.Channels);
        // The enumeration decodes the next shard only when this one is written: one shard in memory at a time.
        foreach (var shard in pool)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var s = entries.Count;
            statistics.Add(shard.Images);
            string? keys = null;
            if (shard.Keys.Length > 0)
            {
                keys = ArtifactLayout.PoolShardKeys(id, s);
                await store.PutBytesAsync(keys, SourceKeys.ToJson(shard.Keys), cancellationToken: cancellationToken);
            }
            var name = ArtifactLayout.PoolShard(id, s);
            await using (var content = PoolShardFormat.OpenRead(shard.Images, manifest.Classes))
            {
                await store.PutAsync(name, content, cancellationToken: cancellationToken);
            }
            entries.Add(new ShardEntry(s, name, shard.Images.Ids[0], shard.Images.Count) { Keys = keys });
        }
        if (entries.Count == 0) throw new ArgumentException("no readable images left in the pool");
        await using (var content = PoolShardFormat.OpenRead(test.Images, manifest.Classes))
        {
            await store.PutAsync(ArtifactLayout.TestShard(id), content, cancellationToken: cancellationToken);
        }
        manifest = manifest with { Shards = [.. entries], Normalization = statistics.ToNormalization() };
        cancellationToken.ThrowIfCancellationRequested();
        await store.PutBytesAsync(ArtifactLayout.DatasetManifest(id), manifest.ToJson(), cancellationToken: CancellationToken.None);
        logger.LogInformation("imported dataset {Dataset} ({Source}): {Pool} pool samples in {Shards} shards, {Test} test samples",
            id, manifest.Source, manifest.PoolSize, entries.Count, test.Images.Count);
        return manifest;
    }

    /// <inheritdoc />
    public async Task<DatasetInfo> Describe() => (await DatasetManifest.LoadAsync(store, DatasetId)).ToInfo();

    /// <inheritdoc />
    public async Task<string[]> GetSourceKeys(long[] sampleIds)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (sampleIds.Length > MaxSamplesPerRequest) throw new ArgumentException($"at most {MaxSamplesPerRequest} samples per request, got {sampleIds.Length}");
        var manifest = await DatasetManifest.LoadAsync(store, DatasetId);
        var keys = new string[sampleIds.Length];
        foreach (var group in sampleIds.Select((id, at) => (id, at)).GroupBy(x => ShardOf(manifest, x.id)))
        {
            var shard = group.Key;
            if (shard.Keys is null)
            {
                foreach (var (_, at) in group) keys[at] = "";
                continue;
            }
            var all = SourceKeys.Parse(await store.ReadBytesAsync(shard.Keys), shard.Keys, shard.Count);
            foreach (var (id, at) in group) keys[at] = all[id - shard.FirstId];
        }
        return keys;
    }

    private static ShardEntry ShardOf(DatasetManifest manifest, long sampleId) =>
        manifest.Shards.FirstOrDefault(s => sampleId >= s.FirstId && sampleId < s.FirstId + s.Count)
        ?? throw new ArgumentException($"dataset '{manifest.DatasetId}' has no pool sample {sampleId}");

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
