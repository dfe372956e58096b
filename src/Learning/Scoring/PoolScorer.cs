using System.Collections.Concurrent;
using System.Diagnostics;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;

namespace PruneFuse.Learning.Scoring;

/// <summary>Result of scoring one slice of the pool.</summary>
/// <param name="TopK">The slice's best samples, best first.</param>
/// <param name="Scored">Unlabeled samples scored.</param>
/// <param name="Seconds">Wall-clock seconds spent.</param>
public sealed record PoolScoreResult(IReadOnlyList<ScoredSample> TopK, long Scored, double Seconds);

/// <summary>
/// Scores a stream of pool batches with a network: uncertainty metrics into a streaming top-k (memory O(k) plus
/// one batch), or penultimate features for k-center. Labeled samples are skipped. Synchronous: run it on a
/// compute thread (grad mode is thread-local).
/// </summary>
public sealed class PoolScorer : IDisposable
{
    private readonly IScoringNetwork _network;
    private readonly bool _ownsNetwork;

    /// <summary>
    /// Creates a scorer for <paramref name="model"/> on the torch engine with the dataset's normalisation. Scoring
    /// uses a BN-folded snapshot of the model's current weights (same logits, fewer passes); create a new scorer
    /// after training.
    /// </summary>
    public PoolScorer(Network model, ImageNormalization normalization) : this(new TorchScoringNetwork(model, normalization)) { }

    /// <summary>Creates a scorer over <paramref name="network"/> (either engine); disposes it with the scorer when it
    /// owns it.</summary>
    public PoolScorer(IScoringNetwork network, bool ownsNetwork = true)
    {
        _network = network;
        _ownsNetwork = ownsNetwork;
    }

    /// <summary>The engine scoring runs on.</summary>
    public string Engine => _network.Engine;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsNetwork) _network.Dispose();
    }

    /// <summary>Scores every unlabeled sample of <paramref name="batches"/> and returns the top <paramref
    /// name="k"/>.</summary>
    public PoolScoreResult TopK(IEnumerable<ShardBatch> batches, int channels, int height, int width, SelectionMetric metric, int k,
        IReadOnlySet<long> labeled, long seed, CancellationToken cancellationToken = default)
    {
        if (metric == SelectionMetric.KCenter) throw new ArgumentException("k-center selects from features; use Features and KCenterGreedy");
        var sw = Stopwatch.StartNew();
        var acc = new TopKAccumulator(k);
        var imageBytes = channels * height * width;
        var scored = InOrder<(long[] Ids, double[]? Scores, long[]? Predicted)>(batches, batch =>
        {
            var (ids, pixels) = Unlabeled(batch, labeled, imageBytes);
            if (ids.Length == 0 || metric == SelectionMetric.Random) return (ids, null, null);
            var (scores, predicted) = _network.Score(pixels, ids.Length, channels, height, width, metric);
            return (ids, scores, predicted);
        }, cancellationToken);
        foreach (var (_, (ids, scores, predicted)) in scored)
        {
            if (scores is null)
            {
                foreach (var id in ids) acc.Add(id, UncertaintyScores.RandomScore(seed, id));
                continue;
            }
            // The prediction travels with the selection so labeling tools can show it as a pre-annotation.
            for (var i = 0; i < ids.Length; i++) acc.Add(ids[i], scores[i], (int)predicted![i]);
        }
        return new PoolScoreResult(acc.Result(), acc.Seen, sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Penultimate features of every sample in <paramref name="batches"/>, split into unlabeled candidates and the
    /// labeled samples' features. DESIGN's k-center uses the whole labeled set as centers: callers gather the labeled
    /// features of every shard before the global stage.
    /// </summary>
    public (List<KCenterCandidate> Unlabeled, List<float[]> LabeledCenters) Features(IEnumerable<ShardBatch> batches, int channels, int height, int width,
        IReadOnlySet<long> labeled, CancellationToken cancellationToken = default)
    {
        var candidates = new List<KCenterCandidate>();
        var centers = new List<float[]>();
        var computed = InOrder(batches, batch => (Flat: _network.Features(batch.Pixels, batch.Count, channels, height, width, out var d), Dimension: d), cancellationToken);
        foreach (var (batch, (flat, d)) in computed)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                var v = flat.AsSpan(i * d, d).ToArray();
                if (labeled.Contains(batch.Ids[i])) centers.Add(v);
                else candidates.Add(new KCenterCandidate(batch.Ids[i], v));
            }
        }
        return (candidates, centers);
    }

    /// <summary>
    /// Penultimate features of every image in <paramref name="labeled"/>: the k-center centers. Both stages of the
    /// distributed selection (each pool shard and the merge) use the whole labeled set, computed this one way.
    /// </summary>
    public List<float[]> Centers(ImageSet labeled, CancellationToken cancellationToken = default) =>
        Features(Batches(labeled, 128), labeled.Channels, labeled.Height, labeled.Width, new HashSet<long>(labeled.Ids), cancellationToken).LabeledCenters;

    /// <summary>
    /// <paramref name="work"/> applied to every batch, results in batch order (so selections do not depend on the
    /// engine's concurrency), with up to <see cref="IScoringNetwork.ConcurrentBatches"/> batches in flight.
    /// </summary>
    private IEnumerable<(ShardBatch Batch, T Result)> InOrder<T>(IEnumerable<ShardBatch> batches, Func<ShardBatch, T> work, CancellationToken cancellationToken)
    {
        var concurrent = Math.Max(1, _network.ConcurrentBatches);
        if (concurrent == 1)
        {
            foreach (var batch in batches)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return (batch, work(batch));
            }
            yield break;
        }
        // Dedicated workers (not the .NET thread pool, which a silo's Orleans scheduler runs on) pull the next batch
        // as they finish one; this thread hands results on in the source's order as they arrive.
        var gate = new object();
        using var source = batches.GetEnumerator();
        long taken = 0;
        var running = concurrent;
        Exception? failure = null;
        var done = new ConcurrentDictionary<long, (ShardBatch, T)>();
        using var arrived = new SemaphoreSlim(0);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Work()
        {
            try
            {
                while (true)
                {
                    ShardBatch batch;
                    long index;
                    lock (gate)
                    {
                        if (failure is not null || stop.IsCancellationRequested || !source.MoveNext()) return;
                        batch = source.Current;
                        index = taken++;
                    }
                    done[index] = (batch, work(batch));
                    arrived.Release();
                }
            }
            catch (Exception e)
            {
                lock (gate) failure ??= e;
            }
            finally
            {
                Interlocked.Decrement(ref running);
                arrived.Release();
            }
        }
        var workers = Enumerable.Range(0, concurrent).Select(_ => new Thread(Work) { IsBackground = true, Name = "prunefuse-scoring" }).ToList();
        workers.ForEach(w => w.Start());
        try
        {
            for (long next = 0; ;)
            {
                if (done.TryRemove(next, out var r))
                {
                    next++;
                    yield return r;
                    continue;
                }
                if (Volatile.Read(ref running) == 0 && !done.ContainsKey(next)) break;
                arrived.Wait(50, CancellationToken.None);
            }
            // As the sequential path would throw it (a corrupted shard's DataFormatException, say), not wrapped.
            if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
            cancellationToken.ThrowIfCancellationRequested();
        }
        finally
        {
            // The caller stopped early, failed or was cancelled: workers stop after their batch in flight, and none
            // outlives the call (the source is disposed after them).
            stop.Cancel();
            workers.ForEach(w => w.Join());
        }
    }

    private static (long[] Ids, byte[] Pixels) Unlabeled(ShardBatch batch, IReadOnlySet<long> labeled, int imageBytes)
    {
        if (labeled.Count == 0) return (batch.Ids, batch.Pixels);
        var keep = Enumerable.Range(0, batch.Count).Where(i => !labeled.Contains(batch.Ids[i])).ToArray();
        if (keep.Length == batch.Count) return (batch.Ids, batch.Pixels);
        var pixels = new byte[keep.Length * imageBytes];
        for (var j = 0; j < keep.Length; j++) Buffer.BlockCopy(batch.Pixels, keep[j] * imageBytes, pixels, j * imageBytes, imageBytes);
        return (keep.Select(i => batch.Ids[i]).ToArray(), pixels);
    }

    /// <summary>Top-k of the random metric over unlabeled <paramref name="ids"/>: no network involved.</summary>
    public static PoolScoreResult RandomTopK(IEnumerable<long> ids, IReadOnlySet<long> labeled, long seed, int k)
    {
        var acc = new TopKAccumulator(k);
        foreach (var id in ids)
        {
            if (!labeled.Contains(id)) acc.Add(id, UncertaintyScores.RandomScore(seed, id));
        }
        return new PoolScoreResult(acc.Result(), acc.Seen, 0);
    }

    /// <summary>
    /// Splits an in-memory set, or its samples [<paramref name="first"/>, <paramref name="first"/> + <paramref
    /// name="count"/>)
    /// (count −1 = to the end), into shard batches.
    /// </summary>
    public static IEnumerable<ShardBatch> Batches(ImageSet set, int batchSize, int first = 0, int count = -1)
    {
        var end = count < 0 ? set.Count : first + count;
        if (first < 0 || end > set.Count || end < first) throw new ArgumentOutOfRangeException(nameof(count), $"samples {first}..{end} of a set of {set.Count}");
        for (var start = first; start < end; start += batchSize)
        {
            var n = Math.Min(batchSize, end - start);
            var pixels = new byte[n * set.ImageBytes];
            Buffer.BlockCopy(set.Pixels, start * set.ImageBytes, pixels, 0, pixels.Length);
            yield return new ShardBatch(set.Ids[start..(start + n)], set.Labels[start..(start + n)], pixels);
        }
    }

    /// <summary>
    /// The samples [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>) of a batch stream,
    /// re-cut at the range's edges. The whole stream is still read, so a reader that verifies its checksum at the end
    /// still does.
    /// </summary>
    public static IEnumerable<ShardBatch> Slice(IEnumerable<ShardBatch> batches, int first, int count)
    {
        var end = (long)first + count;
        long position = 0;
        foreach (var b in batches)
        {
            var (from, to) = (Math.Max(position, first), Math.Min(position + b.Count, end));
            if (from < to)
            {
                if (from == position && to == position + b.Count)
                {
                    yield return b;
                }
                else
                {
                    var (i, n) = ((int)(from - position), (int)(to - from));
                    var imageBytes = b.Pixels.Length / b.Count;
                    yield return new ShardBatch(b.Ids[i..(i + n)], b.Labels[i..(i + n)], b.Pixels[(i * imageBytes)..((i + n) * imageBytes)]);
                }
            }
            position += b.Count;
        }
    }
}
