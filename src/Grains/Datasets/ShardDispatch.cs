using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;

namespace PruneFuse.Grains.Datasets;

/// <summary>
/// Hands an import's pool shards to the import workers of every compute silo, one shard per silo at a time, so
/// faster silos take more; a silo that leaves loses only its shard in flight, which goes to another. Runs on the
/// dataset grain's scheduler, so its fields need no locks. <paramref name="report"/> hears of every shard written.
/// </summary>
public sealed class ShardDispatch(IGrainFactory grains, ComputeSilos silos, ILogger logger, ImportShardRequest[] shards,
    Action<ShardDispatch> report)
{
    private readonly ImportedShard?[] _written = new ImportedShard?[shards.Length];
    private readonly Queue<ImportShardRequest> _queue = new();
    private readonly Dictionary<string, (int Shards, long Images,
        double Busy)> _bySilo = new(StringComparer.Ordinal);
    private readonly HashSet<string> _lost = new(StringComparer.Ordinal);

    /// <summary>Shards written so far (resumed ones included).</summary>
    public int Done => _written.Count(w => w is not null);

    /// <summary>Shards an earlier run of the import had written.</summary>
    public int ResumedCount { get; private set; }

    /// <summary>Each silo's share so far.</summary>
    public SiloImport[] Silos => [.. _bySilo.OrderBy(x => x.Key, StringComparer.Ordinal)
        .Select(x => new SiloImport(x.Key, x.Value.Shards, x.Value.Images, x.Value.Images / Math.Max(1e-3,
            x.Value.Busy)))];

    /// <summary>Counts a shard an earlier run completed (null: it did not).</summary>
    public void Resumed(ImportedShard? shard)
    {
        if (shard is null) return;
        _written[shard.Shard] = shard;
        ResumedCount++;
    }

    /// <summary>
    /// Decodes every shard not resumed; a refused image or a real error fails it, a lost silo does not.
    /// </summary>
    public async Task<ImportedShard[]> RunAsync(CancellationToken cancellationToken)
    {
        foreach (var s in shards.Where(s => _written[s.Shard] is null)) _queue.Enqueue(s);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loops = new Dictionary<string, Task>(StringComparer.Ordinal);
        Report();
        try
        {
            while (_queue.Count > 0 || loops.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (var (silo, _) in silos.Eligible())
                {
                    if (_queue.Count > 0 && !_lost.Contains(silo)
                        && !loops.ContainsKey(silo)) loops[silo] = LoopAsync(silo, stop.Token);
                }
                if (loops.Count == 0)
                {
                    throw new InvalidOperationException($"no silo is left to decode the remaining {_queue.Count} "
                        + $"pool shards " +
                        $"({_lost.Count} left during the import)");
                }
                await Task.WhenAny(loops.Values.Append(Task.Delay(500, CancellationToken.None)));
                foreach (var (silo, loop) in loops.Where(l => l.Value.IsCompleted).ToList())
                {
                    loops.Remove(silo);
                    await loop; // a real error (a refused image, a full disk) fails the import here
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var loop in loops.Values)
            {
                try
                {
                    await loop;
                }
                catch (Exception)
                {
                    // The import already failed or was stopped; the first error is the one reported.
                }
            }
        }
        return [.. _written.Select(w => w!)];
    }

    private async Task LoopAsync(string silo, CancellationToken cancellationToken)
    {
        var worker = grains.GetGrain<IImportWorkerGrain>(silo);
        while (!cancellationToken.IsCancellationRequested && _queue.TryDequeue(out var shard))
        {
            try
            {
                var done = await worker.DecodeShard(shard, cancellationToken);
                if (done.RefusedPaths.Length > 0)
                {
                    throw ImportErrors.Refusal([.. done.RefusedPaths.Zip(done.RefusedReasons, (path, reason)
                        => new BadImage(path, reason))]);
                }
                _written[shard.Shard] = done;
                var (n, images, busy) = _bySilo.GetValueOrDefault(silo);
                _bySilo[silo] = (n + 1, images + done.Entries, busy + done.Seconds);
                Report();
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not DataFormatException
                && silos.Lost(e, silo))
            {
                // The silo left (or is leaving): its shard goes back for the others, and it takes no more.
                _queue.Enqueue(shard);
                _lost.Add(silo);
                logger.LogWarning("silo {Silo} left during the import of {Dataset}; its shard {Shard} goes "
                    + "to another silo",
                    silo, shard.DatasetId, shard.Shard);
                return;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                _queue.Enqueue(shard);
                return;
            }
        }
    }

    /// <summary>Pool images in the shards written so far (resumed ones included).</summary>
    public long WrittenImages => _written.Where(w => w is not null).Sum(w => (long)w!.Entries);

    private void Report() => report(this);
}
