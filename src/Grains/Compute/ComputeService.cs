using System.Collections.Concurrent;
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
    private readonly BlockingCollection<Action> _queue = new();
    private readonly Thread _worker;
    private readonly IArtifactStore _store;
    private readonly ILogger<ComputeService> _logger;
    private readonly ConcurrentDictionary<string, Lazy<Task<ImageSet>>> _shards = new();
    private readonly Dictionary<string, (ResNet Model, CheckpointMetadata Meta)> _models = [];
    private readonly LinkedList<string> _modelOrder = new();
    private const int MaxCachedModels = 4;

    /// <summary>Starts the worker thread.</summary>
    public ComputeService(IArtifactStore store, ILocalSiloDetails silo, ILogger<ComputeService> logger)
    {
        _store = store;
        SiloName = silo.SiloAddress.ToString();
        _logger = logger;
        _worker = new Thread(Loop) { IsBackground = true, Name = "prunefuse-compute" };
        _worker.Start();
    }

    /// <summary>This silo's address, reported with results so placement can be checked.</summary>
    public string SiloName { get; }

    private void Loop()
    {
        foreach (var work in _queue.GetConsumingEnumerable()) work();
    }

    /// <summary>Runs <paramref name="work"/> on the compute thread.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add(() =>
        {
            if (cancellationToken.IsCancellationRequested)
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
        }, cancellationToken);
        return tcs.Task;
    }

    /// <summary>A shard's images, read from the store once per silo and version.</summary>
    public async Task<ImageSet> GetShardAsync(string artifact, CancellationToken cancellationToken = default)
    {
        // Keyed by version: a re-imported or repaired shard is read again, never served stale.
        var info = await _store.GetInfoAsync(artifact, cancellationToken) ?? throw new ArtifactNotFoundException(artifact, _store.Description);
        var key = artifact + "@" + info.ETag;
        var lazy = _shards.GetOrAdd(key, _ => new Lazy<Task<ImageSet>>(() => LoadShardAsync(artifact)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            // A failed load is not cached: the next call reads the shard again.
            _shards.TryRemove(new KeyValuePair<string, Lazy<Task<ImageSet>>>(key, lazy));
            throw;
        }
    }

    private async Task<ImageSet> LoadShardAsync(string artifact)
    {
        var bytes = await _store.ReadBytesAsync(artifact).ConfigureAwait(false);
        using var reader = new PoolShardReader(new MemoryStream(bytes), artifact);
        var set = reader.ReadAll();
        _logger.LogInformation("cached shard {Artifact} ({Count} samples)", artifact, set.Count);
        return set;
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
        if (_worker.Join(TimeSpan.FromSeconds(30))) _queue.Dispose();
    }
}
