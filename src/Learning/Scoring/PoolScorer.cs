using System.Diagnostics;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

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
    private readonly FoldedResNet _folded;
    private readonly BatchPreparer _prep;

    /// <summary>
    /// Creates a scorer for <paramref name="model"/> with the dataset's normalisation. Scoring uses a BN-folded
    /// snapshot of the model's current weights (same logits, fewer passes); create a new scorer after training.
    /// </summary>
    public PoolScorer(ResNet model, ImageNormalization normalization)
    {
        _folded = new FoldedResNet(model);
        _prep = new BatchPreparer(normalization, model.Device);
    }

    /// <inheritdoc />
    public void Dispose() => _folded.Dispose();

    /// <summary>Scores every unlabeled sample of <paramref name="batches"/> and returns the top <paramref name="k"/>.</summary>
    public PoolScoreResult TopK(IEnumerable<ShardBatch> batches, int channels, int height, int width, SelectionMetric metric, int k,
        IReadOnlySet<long> labeled, long seed, CancellationToken cancellationToken = default)
    {
        if (metric == SelectionMetric.KCenter) throw new ArgumentException("k-center selects from features; use Features and KCenterGreedy");
        var sw = Stopwatch.StartNew();
        var acc = new TopKAccumulator(k);
        using var inference = inference_mode();
        foreach (var batch in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (ids, pixels) = Unlabeled(batch, labeled, channels * height * width);
            if (ids.Length == 0) continue;
            if (metric == SelectionMetric.Random)
            {
                foreach (var id in ids) acc.Add(id, UncertaintyScores.RandomScore(seed, id));
                continue;
            }
            using var scope = NewDisposeScope();
            var x = _prep.Prepare(pixels, ids.Length, channels, height, width);
            var logits = _folded.Forward(x);
            var scores = UncertaintyScores.FromLogits(logits, metric).cpu().data<double>().ToArray();
            // The prediction travels with the selection so labeling tools can show it as a pre-annotation.
            var predicted = logits.argmax(1).cpu().data<long>().ToArray();
            for (var i = 0; i < ids.Length; i++) acc.Add(ids[i], scores[i], (int)predicted[i]);
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
        using var inference = inference_mode();
        foreach (var batch in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var x = _prep.Prepare(batch.Pixels, batch.Count, channels, height, width);
            var f = _folded.Features(x).cpu();
            var d = (int)f.shape[1];
            var flat = f.data<float>().ToArray();
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

    /// <summary>Splits an in-memory set into shard batches (for scoring a set that is not in a shard file).</summary>
    public static IEnumerable<ShardBatch> Batches(ImageSet set, int batchSize)
    {
        for (var start = 0; start < set.Count; start += batchSize)
        {
            var n = Math.Min(batchSize, set.Count - start);
            var pixels = new byte[n * set.ImageBytes];
            Buffer.BlockCopy(set.Pixels, start * set.ImageBytes, pixels, 0, pixels.Length);
            yield return new ShardBatch(set.Ids[start..(start + n)], set.Labels[start..(start + n)], pixels);
        }
    }
}
