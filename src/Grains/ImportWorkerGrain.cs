using System.Diagnostics;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;

namespace PruneFuse.Grains;

/// <summary>
/// One silo's import worker (key = the silo's address; always placed there): decodes the pool shards the dataset
/// grain hands it, one at a time with all the silo's cores, from the source as this silo lists it.
/// </summary>
[Placement.SiloBoundPlacement]
public sealed class ImportWorkerGrain(IArtifactStore store, ImportSourceCache sources, TorchWorker compute) : Grain,
    IImportWorkerGrain, IDisposable
{
    // One shard at a time per silo: decoding already uses every core, and memory stays at one shard.
    private readonly SemaphoreSlim _one = new(1);

    // Every full shard decodes into this array, once the previous shard is written: fresh 256 MB arrays would pile up
    // on
    // the large-object heap until memory pressure (+1.9 GB for a 2.6 GB pool, measured).
    private byte[]? _buffer;

    /// <inheritdoc />
    public async Task<ImportedShard> DecodeShard(ImportShardRequest request,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, compute.Stopping);
        await _one.WaitAsync(linked.Token);
        try
        {
            return await Task.Run(() => DecodeAsync(request, linked.Token), linked.Token);
        }
        catch (Exception e) when (e is OutOfMemoryException or IOException)
        {
            throw ImportErrors.InWords(e, request.DatasetId);
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<ImportedShard> DecodeAsync(ImportShardRequest request, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var plan = sources.Get(request.Import);
        if (plan.PoolEntries.Count != request.PoolEntries)
        {
            throw new InvalidOperationException($"silo {compute.SiloName} lists {plan.PoolEntries.Count} pool images "
                + $"in {request.Import.Source}, " +
                $"the import planned {request.PoolEntries}: every silo must see the same source (a shared folder or "
                    + $"blob container)");
        }
        var options = new ImageImportOptions(request.Import.Channels, request.Import.Height, request.Import.Width,
            request.Import.Resize);
        var bad = new List<BadImage>();
        var bytes = (long)request.Count * options.ImageBytes;
        var buffer = _buffer is { } b && b.LongLength == bytes ? b : bytes >= (_buffer?.LongLength ?? 0)
            ? _buffer = new byte[bytes] : null;
        var shard = StreamingImport.DecodeShard(plan.Pool, plan.PoolEntries, request.Start, request.Count, options,
            request.FirstId, bad, buffer,
            cancellationToken: cancellationToken);
        if (bad.Count > 0 && !request.Import.SkipBad)
        {
            // As data: the dataset grain refuses the import with the names, whatever exception types cross the wire.
            return new ImportedShard
            {
                Shard = request.Shard, Entries = request.Count, FirstId = request.FirstId, Silo = compute.SiloName,
                RefusedPaths = [.. bad.Select(b => b.Path)], RefusedReasons = [.. bad.Select(b => b.Reason)],
            };
        }
        return await ImportArtifacts.WriteAsync(store, request, shard, [.. bad.Select(b => $"{b.Path}: {b.Reason}")],
            compute.SiloName, clock,
            cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _one.Dispose();
}
