using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using TorchSharp;

namespace PruneFuse.Grains.Compute;

/// <summary>
/// The networks this silo has loaded from checkpoints (the round's selector replica above all: every shard on this
/// silo scores with the same one), keyed by name and ETag, the last few kept. Used only on the torch worker's thread.
/// </summary>
public sealed class ReplicaCache
{
    private readonly Dictionary<string, (ResNet Model, CheckpointMetadata Meta)> _models = [];
    private readonly LinkedList<string> _modelOrder = new();
    private const int MaxCachedModels = 4;

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
}
