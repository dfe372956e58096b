using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Compute;

/// <summary>
/// The pool shards this silo has read, kept in memory up to its budget (<see cref="ComputeOptions.ShardCacheBytes"/>)
/// and keyed by version; shards beyond it are streamed from the store in batches.
/// </summary>
public sealed class ShardCache(IArtifactStore store, ILogger<ShardCache> logger, ComputeOptions? options = null)
{
    /// <summary>Default shard-cache budget per silo (1 GiB): Fashion-MNIST's whole pool is 47 MB.</summary>
    public const long DefaultShardCacheBytes = 1L << 30;

    private readonly IArtifactStore _store = store;
    private readonly ILogger<ShardCache> _logger = logger;
    private readonly ConcurrentDictionary<string, Lazy<Task<ImageSet>>> _shards = new();
    private readonly ConcurrentDictionary<string, long> _shardBytes = new();
    private readonly long _shardCacheBytes = Math.Max(0, options?.ShardCacheBytes ?? DefaultShardCacheBytes);
    private long _cachedBytes;

    /// <summary>
    /// A shard's images: from the cache, or read whole and cached when it fits the silo's shard-cache budget, or
    /// read whole for this call only when it does not (memory then peaks at one shard, not the pool).
    /// </summary>
    public async Task<ImageSet> GetShardAsync(string artifact, CancellationToken cancellationToken = default)
    {
        var info = await _store.GetInfoAsync(artifact, cancellationToken) ?? throw new ArtifactNotFoundException(artifact, _store.Description);
        return await CachedShardAsync(info, cancellationToken) ?? await Task.Run(() => LoadShardAsync(artifact), cancellationToken);
    }

    /// <summary>
    /// The shard's images when they are cached or fit the cache budget (then they are read and cached), else null:
    /// the caller streams the shard with <see cref="OpenShardAsync"/>.
    /// </summary>
    public async Task<ImageSet?> CachedShardAsync(ArtifactInfo info, CancellationToken cancellationToken = default)
    {
        // Keyed by version: a re-imported or repaired shard is read again, never served stale.
        var key = info.Name + "@" + info.ETag;
        if (!_shards.TryGetValue(key, out var lazy))
        {
            if (!Reserve(key, info.Length)) return null;
            lazy = _shards.GetOrAdd(key, _ => new Lazy<Task<ImageSet>>(() => LoadShardAsync(info.Name)));
            EvictOtherVersions(info.Name, key);
        }
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            // A failed load is not cached: the next call reads the shard again.
            if (_shards.TryRemove(new KeyValuePair<string, Lazy<Task<ImageSet>>>(key, lazy))) Release(key);
            throw;
        }
    }

    /// <summary>Opens a shard for streaming in batches (memory: one batch); the caller disposes the reader.</summary>
    public async Task<PoolShardReader> OpenShardAsync(string artifact, CancellationToken cancellationToken = default)
    {
        var stream = await _store.OpenReadAsync(artifact, cancellationToken);
        try
        {
            return new PoolShardReader(stream, artifact);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The images of <paramref name="ids"/> (all in this shard), in id order: from the cache when possible, else
    /// streamed from the store keeping only the wanted samples.
    /// </summary>
    public async Task<ImageSet> GatherAsync(Datasets.ShardEntry shard, IReadOnlyCollection<long> ids, CancellationToken cancellationToken = default)
    {
        var info = await _store.GetInfoAsync(shard.Artifact, cancellationToken) ?? throw new ArtifactNotFoundException(shard.Artifact, _store.Description);
        var sorted = ids.Order().ToArray();
        if (await CachedShardAsync(info, cancellationToken) is { } cached) return cached.Subset([.. sorted.Select(id => (int)(id - shard.FirstId))]);
        using var reader = await OpenShardAsync(shard.Artifact, cancellationToken);
        return await Task.Run(() =>
        {
            var wanted = new HashSet<long>(sorted);
            var h = reader.Header;
            var pixels = new byte[(long)sorted.Length * h.ImageBytes];
            var got = new List<(long Id, int Label)>(sorted.Length);
            foreach (var batch in reader.ReadBatches(1024))
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    if (!wanted.Contains(batch.Ids[i])) continue;
                    Buffer.BlockCopy(batch.Pixels, i * h.ImageBytes, pixels, got.Count * h.ImageBytes, h.ImageBytes);
                    got.Add((batch.Ids[i], batch.Labels[i]));
                }
            }
            if (got.Count != sorted.Length) throw new InvalidOperationException($"{sorted.Length - got.Count} requested sample ids are not in {shard.Artifact}");
            // Shards store ids in ascending order, so the gathered samples already are in id order.
            return new ImageSet([.. got.Select(g => g.Id)], [.. got.Select(g => g.Label)], pixels, h.Channels, h.Height, h.Width);
        }, cancellationToken);
    }

    private async Task<ImageSet> LoadShardAsync(string artifact)
    {
        var bytes = await _store.ReadBytesAsync(artifact).ConfigureAwait(false);
        using var reader = new PoolShardReader(new MemoryStream(bytes), artifact);
        var set = reader.ReadAll();
        _logger.LogInformation("read shard {Artifact} ({Count} samples)", artifact, set.Count);
        return set;
    }

    private bool Reserve(string key, long bytes)
    {
        while (true)
        {
            var current = Interlocked.Read(ref _cachedBytes);
            if (current + bytes > _shardCacheBytes) return false;
            if (Interlocked.CompareExchange(ref _cachedBytes, current + bytes, current) == current) break;
        }
        if (!_shardBytes.TryAdd(key, bytes)) Interlocked.Add(ref _cachedBytes, -bytes); // another caller reserved it
        return true;
    }

    private void Release(string key)
    {
        if (_shardBytes.TryRemove(key, out var bytes)) Interlocked.Add(ref _cachedBytes, -bytes);
    }

    private void EvictOtherVersions(string artifact, string keep)
    {
        foreach (var key in _shards.Keys)
        {
            if (key != keep && key.StartsWith(artifact + "@", StringComparison.Ordinal) && _shards.TryRemove(key, out _)) Release(key);
        }
    }
}
