using static TorchSharp.torch;

namespace PruneFuse.Learning.Scoring;

/// <summary>An unlabeled sample's penultimate-layer features, a k-center candidate.</summary>
/// <param name="SampleId">Dataset-wide sample id.</param>
/// <param name="Features">Feature vector.</param>
public sealed record KCenterCandidate(long SampleId, float[] Features);

/// <summary>
/// Greedy k-center (core-set) selection: repeatedly pick the candidate farthest (Euclidean) from its nearest
/// center, starting from the labeled set's features as centers. Ties go to the lower sample id.
/// Distributed form: every shard runs it locally and returns its k picks with their features; the coordinator
/// runs it again over the union with the same centers.
/// </summary>
public static class KCenterGreedy
{
    /// <summary>Picks up to <paramref name="k"/> candidates in selection order.</summary>
    public static List<KCenterCandidate> Select(IReadOnlyList<KCenterCandidate> candidates, IReadOnlyList<float[]> centers, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (candidates.Count == 0 || k == 0) return [];
        Runtime.TorchRuntime.EnsureLoaded();
        var pool = candidates.OrderBy(c => c.SampleId).ToList();
        var d = pool[0].Features.Length;
        if (pool.Any(c => c.Features.Length != d) || centers.Any(c => c.Length != d))
        {
            throw new ArgumentException($"k-center features must all have {d} dimensions");
        }
        for (var i = 1; i < pool.Count; i++)
        {
            if (pool[i].SampleId == pool[i - 1].SampleId) throw new ArgumentException($"sample {pool[i].SampleId} appears twice among k-center candidates");
        }

        using var scope = NewDisposeScope();
        var x = tensor(pool.SelectMany(c => c.Features).Select(f => (double)f).ToArray()).reshape(pool.Count, d);
        var minDist = new double[pool.Count];
        Array.Fill(minDist, double.PositiveInfinity);
        const int chunk = 256;
        for (var start = 0; start < centers.Count; start += chunk)
        {
            using var inner = NewDisposeScope();
            var n = Math.Min(chunk, centers.Count - start);
            var c = tensor(centers.Skip(start).Take(n).SelectMany(v => v).Select(f => (double)f).ToArray()).reshape(n, d);
            var dist = SquaredDistances(x, c).min(1).values.data<double>().ToArray();
            for (var i = 0; i < pool.Count; i++) minDist[i] = Math.Min(minDist[i], dist[i]);
        }

        var chosen = new List<KCenterCandidate>(Math.Min(k, pool.Count));
        var taken = new bool[pool.Count];
        while (chosen.Count < k && chosen.Count < pool.Count)
        {
            var best = -1;
            for (var i = 0; i < pool.Count; i++)
            {
                if (taken[i]) continue;
                if (best < 0 || minDist[i] > minDist[best]) best = i; // strict: the lower id wins ties
            }
            taken[best] = true;
            chosen.Add(pool[best]);
            using var inner = NewDisposeScope();
            var dist = SquaredDistances(x, x[best].unsqueeze(0)).squeeze(1).data<double>().ToArray();
            for (var i = 0; i < pool.Count; i++) minDist[i] = Math.Min(minDist[i], dist[i]);
        }
        return chosen;
    }

    /// <summary>Two-stage distributed selection: local picks per shard, then greedy k-center over their union.</summary>
    public static List<KCenterCandidate> SelectDistributed(IEnumerable<IReadOnlyList<KCenterCandidate>> shards, IReadOnlyList<float[]> centers, int k)
    {
        var union = shards.SelectMany(s => Select(s, centers, k)).ToList();
        return Select(union, centers, k);
    }

    private static Tensor SquaredDistances(Tensor a, Tensor b)
    {
        // Exact (a-b)² summed per pair (no ‖a‖²+‖b‖²−2ab cancellation), in row chunks so the
        // [rows, centers, d] intermediate stays near 16M elements whatever the pool size.
        var rows = a.shape[0];
        var perRow = Math.Max(1, b.shape[0] * a.shape[1]);
        var chunk = Math.Max(1, 16_000_000 / perRow);
        if (chunk >= rows) return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(2);
        var parts = new List<Tensor>();
        for (long start = 0; start < rows; start += chunk)
        {
            var n = Math.Min(chunk, rows - start);
            parts.Add((a.narrow(0, start, n).unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(2));
        }
        return cat(parts, 0);
    }
}
