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
/// Runtime session per selector checkpoint, cached the same way. Called only on the torch worker's thread; ONNX
/// scorers it hands out may then run on other threads (compute slots).
/// </summary>
public sealed class ReplicaCache(ComputeOptions options, ILogger<ReplicaCache> logger)
{
    private const int MaxCached = 4;
    private readonly Recent<(Network Model, CheckpointMetadata Meta)> _models = new(MaxCached, m => m.Model.Dispose());
    private readonly Recent<SharedSession> _sessions = new(MaxCached, s => s.Release());
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
    public (Network Model, CheckpointMetadata Meta) GetModel(string name, string etag, byte[] bytes)
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
    public PoolScorer Scorer(string name, string etag, byte[] bytes, ImageNormalization normalization, (int Height, int Width)? inputSize = null)
    {
        var (model, meta) = GetModel(name, etag, bytes);
        normalization = meta.NormalizationOr(normalization);
        if (options.ScoringEngine == ScoringEngine.Torch)
        {
            LogEngineOnce("torch", null);
            return new PoolScorer(model, normalization);
        }
        var key = name + "@" + etag;
        if (!_sessions.TryGet(key, out var shared))
        {
            var threads = options.ScoringThreads > 0 ? options.ScoringThreads : torch.get_num_threads();
            var session = OnnxScoringNetwork.FromModel(model, normalization, name, threads, options.OnnxDevice, inputSize: inputSize);
            LogEngineOnce($"{session.Engine}, {threads} threads", session.FallbackReason);
            shared = new SharedSession(session);
            _sessions.Add(key, shared);
        }
        return new PoolScorer(shared.Acquire(), ownsNetwork: true);
    }

    /// <summary>
    /// An ONNX session shared by the cache and the scorers using it (compute slots score on their own threads): it is
    /// disposed when the cache has evicted it and the last scorer is done, never under a running scorer.
    /// </summary>
    private sealed class SharedSession(OnnxScoringNetwork session)
    {
        private int _references = 1; // the cache's own

        public IScoringNetwork Acquire()
        {
            Interlocked.Increment(ref _references);
            return new Lease(this);
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0) session.Dispose();
        }

        private sealed class Lease(SharedSession shared) : IScoringNetwork
        {
            private int _released;

            public string Engine => shared.Session.Engine;

            public int ConcurrentBatches => shared.Session.ConcurrentBatches;

            public (double[] Scores, long[] Predicted) Score(byte[] pixels, int count, int channels, int height, int width, SelectionMetric metric) =>
                shared.Session.Score(pixels, count, channels, height, width, metric);

            public float[] Features(byte[] pixels, int count, int channels, int height, int width, out int dimension) =>
                shared.Session.Features(pixels, count, channels, height, width, out dimension);

            public float[] Logits(byte[] pixels, int count, int channels, int height, int width, out int classes) =>
                shared.Session.Logits(pixels, count, channels, height, width, out classes);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _released, 1) == 0) shared.Release();
            }
        }

        private OnnxScoringNetwork Session => session;
    }

    private void LogEngineOnce(string engine, string? fallback)
    {
        if (_engineLogged) return;
        _engineLogged = true;
        if (fallback is null) logger.LogInformation("Pool scoring engine: {Engine}", engine);
        else logger.LogWarning("Pool scoring engine: {Engine}, not CUDA: {Reason}", engine, fallback);
    }
}
