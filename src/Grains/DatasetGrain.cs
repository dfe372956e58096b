using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Grains;

/// <summary>Imports a dataset into the artifact store as pool shards plus a test shard, and describes it.</summary>
public sealed class DatasetGrain(IArtifactStore store, Experiments.ExperimentStore images, Compute.TorchWorker compute,
    Compute.ComputeSilos silos,
    ImportSourceCache sources, ILogger<DatasetGrain> logger) : Grain, IDatasetGrain
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
        if (shards > train.Count) throw new ArgumentException($"{shards} shards for {train.Count} pool samples: "
            + $"every shard needs at least one sample");
        _progress = new ImportProgress("writing shards", 0, train.Count + test.Count);
        var per = (train.Count + shards - 1) / shards;
        var parts = Enumerable.Range(0, shards).Select(s => s * per).Where(start => start < train.Count)
            .Select(start => new DecodedShard(train.Subset([.. Enumerable.Range(start, Math.Min(per,
                train.Count - start))]), []));
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
    public Task<ImportProgress> GetImportProgress()
    {
        var progress = Volatile.Read(ref _progress);
        return Task.FromResult(progress.Silo.Length > 0 ? progress : progress with { Silo = SiloName });
    }

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
        if (string.IsNullOrEmpty(request.TestSource) && !format.HasTestSplit
            && request.TestFraction is not (> 0 and < 1))
        {
            throw new ArgumentException($"test fraction must be in (0, 1) when no test source is given, got "
                + $"{request.TestFraction}");
        }
        var fingerprint = ImportSourceCache.Fingerprint(request);
        if (!request.DryRun && await store.GetInfoAsync(ArtifactLayout.DatasetManifest(id)) is not null)
        {
            var existing = await DatasetManifest.LoadAsync(store, id);
            if (existing.ImportRequest == fingerprint) return new DatasetImportResult { Dataset = existing.ToInfo(),
                AlreadyImported = true };
            throw new InvalidOperationException($"dataset '{id}' already exists ({existing.Source}, "
                + $"{existing.PoolSize} pool samples) and was imported differently; " +
                $"import under another id, or delete it first: prunefuse dataset delete {id}");
        }
        _progress = new ImportProgress("listing the source", 0, 0) { Silo = SiloName };
        var plan = await Task.Run(() => sources.Get(request));
        try
        {
            var stored = StoredBytes(plan.PoolEntries.Count, perShard, options) + StoredBytes(plan.TestEntries.Count,
                int.MaxValue, options);
            var shardCount = (plan.PoolEntries.Count + perShard - 1) / perShard;
            var summary = new DatasetInfo
            {
                DatasetId = id, PoolSize = plan.PoolEntries.Count, TestSize = plan.TestEntries.Count,
                    Shards = shardCount,
                Shape = [options.Channels, options.Height, options.Width], Classes = plan.ClassNames.Count,
                    ClassNames = [.. plan.ClassNames],
                PoolLabeled = plan.Pool.ClassNames.Count > 0, Source = format.Name,
            };
            var result = new DatasetImportResult { Dataset = summary, Ignored = plan.Ignored, Notes = [.. plan.Notes],
                Conversion = options.Describe(), StoredBytes = stored };
            if (request.DryRun) return result with { DryRun = true };
            return await DecodeAndWriteAsync(id, request, plan, options, perShard, fingerprint, result);
        }
        finally
        {
            // A dry run leaves the listing for the import that usually follows it.
            if (!request.DryRun) sources.Forget(request);
        }
    }

    private string SiloName => RuntimeIdentity;


    private static long StoredBytes(int count, int perShard, ImageImportOptions options) =>
        (long)count * (8 + 4 + options.ImageBytes) + (long)Math.Max(1, (count
            + (long)perShard - 1) / perShard) * PoolShardFormat.HeaderLength;

    private async Task<DatasetImportResult> DecodeAndWriteAsync(string id, DatasetImportRequest request,
        ImportPlan plan, ImageImportOptions options, int perShard,
        string fingerprint, DatasetImportResult result)
    {
        var total = plan.PoolEntries.Count + plan.TestEntries.Count;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if ((long)plan.TestEntries.Count * options.ImageBytes > StreamingImport.MaxShardBytes)
        {
            throw new ArgumentException($"the test set of {plan.TestEntries.Count} images at "
                + $"{options.Height}×{options.Width} is " +
                $"{(long)plan.TestEntries.Count * options.ImageBytes >> 20} MB; one test shard holds at most "
                    + $"{StreamingImport.MaxShardBytes >> 20} MB: use a smaller test set");
        }
        // The test set is decoded here, first: a refused test image costs no pool decoding.
        var bad = new List<BadImage>();
        _progress = new ImportProgress("decoding the test set", 0, total) { Silo = SiloName };
        var test = await Task.Run(() => StreamingImport.DecodeShard(plan.Test, plan.TestEntries, 0,
            plan.TestEntries.Count, options, 1_000_000_000, bad,
            cancellationToken: compute.Stopping));
        if (bad.Count > 0 && !request.SkipBad) throw ImportErrors.Refusal(bad);
        if (test is null) throw new ArgumentException("no readable images left in the test set");

        // A rerun of an interrupted import keeps its completed shards; any other leftovers go first.
        var marker = ArtifactLayout.ImportInProgress(id);
        var resuming = await store.GetInfoAsync(marker) is not null
            && System.Text.Encoding.UTF8.GetString(await store.ReadBytesAsync(marker)) == fingerprint;
        if (!resuming)
        {
            await RemoveIncompleteAsync(id);
            await store.PutBytesAsync(marker, System.Text.Encoding.UTF8.GetBytes(fingerprint));
        }
        var shards = Enumerable.Range(0, (plan.PoolEntries.Count + perShard - 1) / perShard).Select(s
            => new ImportShardRequest
        {
            DatasetId = id, Import = request with { DryRun = false }, Shard = s, Start = s * perShard,
            Count = Math.Min(perShard, plan.PoolEntries.Count - s * perShard), FirstId = (long)s * perShard,
                Classes = plan.ClassNames.Count,
            PoolEntries = plan.PoolEntries.Count,
        }).ToArray();
        void Report(ShardDispatch d)
        {
            var done = plan.TestEntries.Count + d.WrittenImages;
            _progress = new ImportProgress("decoding images", done, total)
            {
                ImagesPerSecond = done / Math.Max(1e-3, clock.Elapsed.TotalSeconds), Silo = SiloName, Silos = d.Silos,
                ResumedShards = d.ResumedCount,
            };
        }
        var dispatch = new ShardDispatch(GrainFactory, silos, logger, shards, Report);
        if (resuming)
        {
            foreach (var r in shards) dispatch.Resumed(await ImportArtifacts.CompletedAsync(store, r,
                compute.Stopping));
        }
        ImportedShard[] written;
        try
        {
            written = await dispatch.RunAsync(compute.Stopping);
        }
        catch (DataFormatException)
        {
            // Refused images: nothing of this import is kept (the same import would be refused again).
            await RemoveIncompleteAsync(id);
            throw;
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            logger.LogWarning("import of dataset {Dataset} interrupted after {Done} of {Shards} shards ({Error}); "
                + "the same import again resumes",
                id, dispatch.Done, shards.Length, e.Message);
            throw new InvalidOperationException($"the import of dataset '{id}' stopped after {dispatch.Done} of "
                + $"{shards.Length} pool shards: " +
                $"{ImportErrors.InWords(e, id).Message}. Run the same import again to resume from the written shards",
                    e);
        }
        var statistics = new PixelStatistics(options.Channels);
        foreach (var w in written.Where(w => w.Count > 0)) statistics.Add(PixelStatistics.FromSums(w.Sums, w.Squares,
            w.Pixels));
        var entries = written.Where(w => w.Count > 0).Select(w =>
            new ShardEntry(w.Shard, ArtifactLayout.PoolShard(id, w.Shard), w.FirstId,
                w.Count) { Keys = ArtifactLayout.PoolShardKeys(id, w.Shard) }).ToArray();
        if (entries.Length == 0) throw new ArgumentException("no readable images left in the pool");
        var skipped = bad.Select(b => $"{b.Path}: {b.Reason}").Concat(written.SelectMany(w => w.Skipped)).ToArray();
        var manifest = new DatasetManifest
        {
            DatasetId = id, Channels = options.Channels, Height = options.Height, Width = options.Width,
                Classes = plan.ClassNames.Count,
            Normalization = statistics.ToNormalization(), Shards = entries, TestShard = ArtifactLayout.TestShard(id),
                TestCount = test.Images.Count,
            ClassNames = [.. plan.ClassNames], PoolLabeled = plan.Pool.ClassNames.Count > 0, Source = request.Format,
                ImportRequest = fingerprint,
        };
        await using (var content = PoolShardFormat.OpenRead(test.Images, manifest.Classes))
        {
            await store.PutAsync(ArtifactLayout.TestShard(id), content, cancellationToken: compute.Stopping);
        }
        await store.PutBytesAsync(ArtifactLayout.DatasetManifest(id), manifest.ToJson(),
            cancellationToken: CancellationToken.None);
        // Committed: the import's bookkeeping goes (a failure here leaves only small files a delete removes).
        foreach (var r in shards) await store.DeleteAsync(ArtifactLayout.PoolShardDone(id, r.Shard));
        await store.DeleteAsync(marker);
        logger.LogInformation("imported dataset {Dataset} ({Source}): {Pool} pool samples in {Shards} shards over "
            + "{Silos} silo(s), {Test} test samples, " +
            "{Resumed} shards resumed", id, manifest.Source, manifest.PoolSize, entries.Length, dispatch.Silos.Length,
                test.Images.Count, dispatch.ResumedCount);
        _progress = new ImportProgress("done", total, total)
        {
            ImagesPerSecond = total / Math.Max(1e-3, clock.Elapsed.TotalSeconds), Silo = SiloName,
                Silos = dispatch.Silos,
        };
        return result with
        {
            Dataset = manifest.ToInfo(), Skipped = skipped, Seconds = clock.Elapsed.TotalSeconds,
                Silos = dispatch.Silos, ResumedShards = dispatch.ResumedCount,
            StoredBytes = (long)(manifest.PoolSize + manifest.TestCount) * (12 + options.ImageBytes) + (entries.Length
                + 1L) * PoolShardFormat.HeaderLength,
        };
    }

    // Writes Fashion-MNIST's pool shards and test shard, then the manifest last: a dataset is
    // visible only once complete. Artifacts of an earlier import of this id that never got its manifest are removed
    // first, and a write that fails (a full disk, a stopping silo, a refused image) removes what it wrote.
    private async Task<DatasetManifest> WriteAsync(string id, IEnumerable<DecodedShard> pool, DecodedShard test,
        DatasetManifest manifest)
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
            throw ImportErrors.InWords(e, id);
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

    // A manifest's normalisation before the pool's pixels are written, from which it is computed.
    private static readonly ImageNormalization FromPixels = new([], []);

    private async Task<DatasetManifest> WriteShardsAsync(string id, IEnumerable<DecodedShard> pool, DecodedShard test,
        DatasetManifest manifest,
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
            var name = ArtifactLayout.PoolShard(id, s);
            await using (var content = PoolShardFormat.OpenRead(shard.Images, manifest.Classes))
            {
                await store.PutAsync(name, content, cancellationToken: cancellationToken);
            }
            entries.Add(new ShardEntry(s, name, shard.Images.Ids[0], shard.Images.Count));
        }
        if (entries.Count == 0) throw new ArgumentException("no readable images left in the pool");
        await using (var content = PoolShardFormat.OpenRead(test.Images, manifest.Classes))
        {
            await store.PutAsync(ArtifactLayout.TestShard(id), content, cancellationToken: cancellationToken);
        }
        manifest = manifest with { Shards = [.. entries], Normalization = statistics.ToNormalization() };
        cancellationToken.ThrowIfCancellationRequested();
        await store.PutBytesAsync(ArtifactLayout.DatasetManifest(id), manifest.ToJson(), cancellationToken: CancellationToken.None);
        logger.LogInformation("imported dataset {Dataset} ({Source}): {Pool} pool samples in {Shards} shards, {Test} "
            + "test samples",
            id, manifest.Source, manifest.PoolSize, entries.Count, test.Images.Count);
        return manifest;
    }

    /// <inheritdoc />
    public async Task<DatasetInfo> Describe() => (await DatasetManifest.LoadAsync(store, DatasetId)).ToInfo();

    /// <inheritdoc />
    public async Task<string[]> GetSourceKeys(long[] sampleIds)
    {
        ArgumentNullException.ThrowIfNull(sampleIds);
        if (sampleIds.Length > MaxSamplesPerRequest) throw new ArgumentException($"at most {MaxSamplesPerRequest} "
            + $"samples per request, got {sampleIds.Length}");
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
