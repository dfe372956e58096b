using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using TorchSharp;

namespace PruneFuse.Grains.Compute;

/// <summary>
/// The silo's torch worker. TorchSharp's grad mode and dispose scopes are thread-local, so all torch work runs
/// synchronously on one dedicated thread, off the Orleans scheduler; grains await it. It also caches, per silo,
/// the pool shards it has read and the round's selector network (the replicated pruned network): every shard on
/// this silo scores with the same replica.
/// </summary>
public sealed class ComputeService : IDisposable
{
    /// <summary>Default shard-cache budget per silo (1 GiB): Fashion-MNIST's whole pool is 47 MB.</summary>
    public const long DefaultShardCacheBytes = 1L << 30;

    private readonly BlockingCollection<Action> _queue = new();
    private readonly Thread _worker;
    private readonly IArtifactStore _store;
    private readonly ILogger<ComputeService> _logger;
    private readonly ConcurrentDictionary<string, Lazy<Task<ImageSet>>> _shards = new();
    private readonly ConcurrentDictionary<string, long> _shardBytes = new();
    private readonly long _shardCacheBytes;
    private long _cachedBytes;
    private readonly Dictionary<string, (ResNet Model, CheckpointMetadata Meta)> _models = [];
    private readonly LinkedList<string> _modelOrder = new();
    private const int MaxCachedModels = 4;

    /// <summary>Starts the worker thread. Torch work stops between batches once <paramref name="lifetime"/> says the silo is stopping.</summary>
    public ComputeService(IArtifactStore store, ILocalSiloDetails silo, ILogger<ComputeService> logger, ComputeOptions? options = null, IHostApplicationLifetime? lifetime = null)
    {
        _store = store;
        Stopping = lifetime?.ApplicationStopping ?? CancellationToken.None;
        _shardCacheBytes = Math.Max(0, options?.ShardCacheBytes ?? DefaultShardCacheBytes);
        SiloName = silo.SiloAddress.ToParsableString(); // the form `cluster status` shows
        _logger = logger;
        _worker = new Thread(Loop) { IsBackground = true, Name = "prunefuse-compute" };
        _worker.Start();
    }

    /// <summary>This silo's address, reported with results so placement can be checked.</summary>
    public string SiloName { get; }

    /// <summary>
    /// Cancelled when the silo begins to stop. Every torch job observes it between batches, so a SIGTERM ends the
    /// running step within a batch on any host instead of holding grain deactivation for the rest of the step.
    /// </summary>
    public CancellationToken Stopping { get; }

    /// <summary>
    /// Runs <paramref name="work"/> on the compute thread with a token that fires when <paramref name="cancellationToken"/>
    /// does or the silo stops; long work checks it between batches.
    /// </summary>
    public async Task<T> Run<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Stopping);
        var token = linked.Token;
        return await Run(() => work(token), token).ConfigureAwait(false);
    }

    private void Loop()
    {
        try
        {
            // Load libtorch once up front so a host fault it works around is in the silo log, not only in a test.
            TorchRuntime.EnsureLoaded();
            if (TorchRuntime.OneDnnWorkaround is { } workaround) _logger.LogWarning("libtorch: {Workaround}", workaround);
        }
        catch (TorchUnavailableException)
        {
            // Every job reports it with the loader's reason.
        }
        foreach (var work in _queue.GetConsumingEnumerable()) work();
    }

    /// <summary>Runs <paramref name="work"/> on the compute thread; a job cancelled while still queued never starts.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        // A queued job behind a long one answers its cancellation at once instead of when the worker reaches it.
        var registration = cancellationToken.Register(() =>
        {
            if (Interlocked.CompareExchange(ref started, -1, 0) == 0) tcs.TrySetCanceled(cancellationToken);
        });
        _queue.Add(() =>
        {
            using (registration)
            {
                if (Interlocked.CompareExchange(ref started, 1, 0) != 0 || cancellationToken.IsCancellationRequested)
                {
                    tcs.TrySetCanceled(cancellationToken);
                    return;
                }
                try
                {
                    TorchRuntime.EnsureLoaded();
                    tcs.TrySetResult(work());
                }
                catch (OperationCanceledException e)
                {
                    tcs.TrySetCanceled(e.CancellationToken);
                }
                catch (Exception e)
                {
                    tcs.TrySetException(e);
                }
            }
        }, CancellationToken.None);
        return tcs.Task;
    }

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

    /// <summary>Loads a checkpoint's network, cached by name and ETag. Call only on the compute thread.</summary>
    public (ResNet Model, CheckpointMetadata Meta) GetModel(string name, string etag, byte[] bytes)
    {
        var key = name + "@" + etag;
        if (_models.TryGetValue(key, out var cached)) return cached;
        var loaded = Checkpoint.Load(bytes, name);
        loaded.Model.to(TorchRuntime.Device);
        _models[key] = loaded;
        _modelOrder.AddLast(key);
        while (_modelOrder.Count > MaxCachedModels)
        {
            var old = _modelOrder.First!.Value;
            _modelOrder.RemoveFirst();
            _models.Remove(old, out var evicted);
            evicted.Model.Dispose();
        }
        return loaded;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _queue.CompleteAdding();
        // The queue is disposed only once the worker has drained it; otherwise it is left to the process exit.
        // Running jobs observe Stopping between batches, so this wait is short on any host.
        if (_worker.Join(TimeSpan.FromSeconds(10))) _queue.Dispose();
    }
}
