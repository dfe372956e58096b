using Microsoft.Extensions.Logging;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using TorchSharp;

namespace PruneFuse.Grains.Compute;

/// <summary>
/// The networks this silo has loaded from checkpoints (the round's selector replica above all: every shard on this
/// silo scores with the same one), keyed by name and ETag, the last few kept; and, on the ONNX engine, one ONNX
/// Runtime session per selector checkpoint, cached the same way. Used only on the torch worker's thread.
/// </summary>
public sealed class ReplicaCache(ComputeOptions options, ILogger<ReplicaCache> logger)
{
    private const int MaxCached = 4;
    private readonly Recent<(ResNet Model, CheckpointMetadata Meta)> _models = new(MaxCached, m => m.Model.Dispose());
    private readonly Recent<OnnxScoringNetwork> _sessions = new(MaxCached, s => s.Dispose());
    private bool _engineLogged;

    /// <summary>The last few values by key, in insertion order; the oldest beyond the limit is disposed.</summary>
    private sealed class Recent<T>(int limit, Action<T> dispose)
    {
        private readonly Dictionary<string, T> _values = [];
        private readonly Queue<string> _order = new();

        public bool TryGet(string key, out T value) => _values.TryGetValue(key, out value!);

        public void Add(string key, T value)
        {
            _values[key] = value;
            _order.Enqueue(key);
            while (_order.Count > limit)
            {
                if (_values.Remove(_order.Dequeue(), out var evicted)) dispose(evicted);
            }
        }
    }

    /// <summary>Loads a checkpoint's network, cached by name and ETag. Call only on the compute thread.</summary>
    public (ResNet Model, CheckpointMetadata Meta) GetModel(string name, string etag, byte[] bytes)
    {
        var key = name + "@" + etag;
        if (_models.TryGet(key, out var cached)) return cached;
        var loaded = Checkpoint.Load(bytes, name);
        loaded.Model.to(TorchRuntime.Device);
        _models.Add(key, loaded);
        return loaded;
    }

    /// <summary>
    /// A pool scorer for a checkpoint on this silo's scoring engine (<see cref="ComputeOptions.ScoringEngine"/>).
    /// Call only on the compute thread, and dispose the scorer before the next call.
    /// </summary>
    public PoolScorer Scorer(string name, string etag, byte[] bytes, ImageNormalization normalization)
    {
        var (model, _) = GetModel(name, etag, bytes);
        if (options.ScoringEngine == ScoringEngine.Torch)
        {
            LogEngineOnce("torch", null);
            return new PoolScorer(model, normalization);
        }
        var key = name + "@" + etag;
        if (!_sessions.TryGet(key, out var session))
        {
            var threads = options.ScoringThreads > 0 ? options.ScoringThreads : torch.get_num_threads();
            session = OnnxScoringNetwork.FromModel(model, normalization, name, threads, options.OnnxDevice);
            LogEngineOnce($"{session.Engine}, {threads} threads", session.FallbackReason);
            _sessions.Add(key, session);
        }
        return new PoolScorer(session, ownsNetwork: false);
    }

    private void LogEngineOnce(string engine, string? fallback)
    {
        if (_engineLogged) return;
        _engineLogged = true;
        if (fallback is null) logger.LogInformation("Pool scoring engine: {Engine}", engine);
        else logger.LogWarning("Pool scoring engine: {Engine}, not CUDA: {Reason}", engine, fallback);
    }
}
