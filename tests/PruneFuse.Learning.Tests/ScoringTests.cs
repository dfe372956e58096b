using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

public class ScoringTests
{
    public ScoringTests() => TorchRuntime.EnsureLoaded();

    private static double[] Score(float[,] logits, SelectionMetric metric)
    {
        using var t = tensor(logits);
        return UncertaintyScores.FromLogits(t, metric).data<double>().ToArray();
    }

    [Fact]
    public void Metrics_match_hand_computed_values()
    {
        // Row 0: logits ln(0.7), ln(0.2), ln(0.1) → p = (0.7, 0.2, 0.1). Row 1: uniform over 3 classes.
        var logits = new float[,] { { MathF.Log(0.7f), MathF.Log(0.2f), MathF.Log(0.1f) }, { 0f, 0f, 0f } };
        var lc = Score(logits, SelectionMetric.LeastConfidence);
        Assert.Equal(0.3, lc[0], 6);
        Assert.Equal(2.0 / 3.0, lc[1], 6);
        var entropy = Score(logits, SelectionMetric.Entropy);
        Assert.Equal(-(0.7 * Math.Log(0.7) + 0.2 * Math.Log(0.2) + 0.1 * Math.Log(0.1)), entropy[0], 6); // 0.801819
        Assert.Equal(Math.Log(3), entropy[1], 6);
        var margin = Score(logits, SelectionMetric.Margin);
        Assert.Equal(1 - (0.7 - 0.2), margin[0], 6);
        Assert.Equal(1.0, margin[1], 6);
    }

    [Fact]
    public void More_uncertain_samples_score_higher_on_every_metric()
    {
        var logits = new float[,] { { 5f, 0f, 0f }, { 1f, 0.9f, 0f } };
        foreach (var m in new[] { SelectionMetric.LeastConfidence, SelectionMetric.Entropy, SelectionMetric.Margin })
        {
            var s = Score(logits, m);
            Assert.True(s[1] > s[0], m.ToString());
        }
    }

    [Fact]
    public void Random_metric_depends_only_on_seed_and_id()
    {
        var a = Enumerable.Range(0, 1000).Select(i => UncertaintyScores.RandomScore(5, i)).ToArray();
        var b = Enumerable.Range(0, 1000).Reverse().Select(i => UncertaintyScores.RandomScore(5, i)).Reverse().ToArray();
        var c = Enumerable.Range(0, 1000).Select(i => UncertaintyScores.RandomScore(6, i)).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.All(a, x => Assert.InRange(x, 0.0, 1.0));
        Assert.InRange(a.Average(), 0.45, 0.55);
    }

    [Theory]
    [InlineData("least-confidence", SelectionMetric.LeastConfidence)]
    [InlineData("entropy", SelectionMetric.Entropy)]
    [InlineData("Margin", SelectionMetric.Margin)]
    [InlineData("k-center", SelectionMetric.KCenter)]
    [InlineData("random", SelectionMetric.Random)]
    public void Metric_names_parse(string name, SelectionMetric metric) => Assert.Equal(metric, UncertaintyScores.Parse(name));

    [Fact]
    public void Unknown_metric_is_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => UncertaintyScores.Parse("badge"));
        Assert.Contains("unknown selection metric 'badge'", e.Message);
    }

    private static List<ScoredSample> RandomSamples(int n, int seed, int distinctScores)
    {
        var rng = new SeededRandom((ulong)seed);
        var ids = rng.Permutation(n * 3).Take(n).Select(i => (long)i).ToList();
        return ids.Select(id => new ScoredSample(id, rng.NextInt(distinctScores) / 10.0)).ToList();
    }

    [Theory]
    [InlineData(1000, 10, 7)]
    [InlineData(1000, 1000, 50)]   // many ties: order decided by id
    [InlineData(50, 100, 1000)]    // k larger than the stream
    [InlineData(200, 0, 10)]
    public void Streaming_top_k_equals_full_sort(int n, int k, int distinct)
    {
        var samples = RandomSamples(n, n + k, distinct);
        var acc = new TopKAccumulator(k);
        foreach (var s in samples) acc.Add(s.SampleId, s.Score);
        var expected = samples.OrderByDescending(s => s.Score).ThenBy(s => s.SampleId).Take(k).ToList();
        Assert.Equal(expected, acc.Result());
        Assert.Equal(n, acc.Seen);
    }

    [Fact]
    public void Merged_shard_lists_equal_global_top_k()
    {
        var samples = RandomSamples(5000, 1, 20);
        const int k = 300;
        var shards = samples.Select((s, i) => (s, i)).GroupBy(x => x.i % 7).Select(g =>
        {
            var acc = new TopKAccumulator(k);
            foreach (var (s, _) in g) acc.Add(s.SampleId, s.Score);
            return (IReadOnlyList<ScoredSample>)acc.Result();
        }).ToList();
        var merged = TopKMerge.Merge(shards, k);
        var expected = samples.OrderByDescending(s => s.Score).ThenBy(s => s.SampleId).Take(k).ToList();
        Assert.Equal(expected, merged);
    }

    [Fact]
    public void Top_k_refuses_nan_and_duplicates()
    {
        var acc = new TopKAccumulator(3);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => acc.Add(1, double.NaN)).Message);
        acc.Add(7, 0.5);
        Assert.Contains("offered twice", Assert.Throws<ArgumentException>(() => acc.Add(7, 0.6)).Message);
        var unsorted = new List<IReadOnlyList<ScoredSample>> { new[] { new ScoredSample(1, 0.1), new ScoredSample(2, 0.9) } };
        Assert.Contains("not sorted", Assert.Throws<ArgumentException>(() => TopKMerge.Merge(unsorted, 1)).Message);
        var dup = new List<IReadOnlyList<ScoredSample>> { new[] { new ScoredSample(1, 0.9) }, new[] { new ScoredSample(1, 0.8) } };
        Assert.Contains("more than one list", Assert.Throws<ArgumentException>(() => TopKMerge.Merge(dup, 2)).Message);
    }

    [Fact]
    public void K_center_on_hand_checked_points()
    {
        // Labeled center at the origin. Candidates on a line: 1 (x=1), 2 (x=2), 3 (x=10), 4 (x=11), 5 (y=6).
        var centers = new List<float[]> { new[] { 0f, 0f } };
        var candidates = new List<KCenterCandidate>
        {
            new(1, [1f, 0f]), new(2, [2f, 0f]), new(3, [10f, 0f]), new(4, [11f, 0f]), new(5, [0f, 6f]),
        };
        // Step 1: farthest from origin is 4 (11). Then min distances: 1→1, 2→2, 3→1, 5→6 → pick 5.
        // Then: 1→1, 2→2, 3→1 → pick 2.
        var picked = KCenterGreedy.Select(candidates, centers, 3).Select(c => c.SampleId);
        Assert.Equal([4L, 5L, 2L], picked);
    }

    [Fact]
    public void K_center_breaks_ties_by_lower_id_and_works_without_centers()
    {
        var candidates = new List<KCenterCandidate> { new(9, [1f]), new(3, [-1f]), new(5, [0f]) };
        var withCenter = KCenterGreedy.Select(candidates, [new[] { 0f }], 1);
        Assert.Equal(3L, withCenter.Single().SampleId); // 3 and 9 are both at distance 1
        var noCenters = KCenterGreedy.Select(candidates, [], 2).Select(c => c.SampleId);
        Assert.Equal([3L, 9L], noCenters);
    }

    [Fact]
    public void Distributed_k_center_picks_far_points_from_every_shard()
    {
        var rng = new SeededRandom(3);
        var centers = new List<float[]> { new[] { 0f, 0f } };
        var shards = Enumerable.Range(0, 4).Select(s => (IReadOnlyList<KCenterCandidate>)Enumerable.Range(0, 50)
            .Select(i => new KCenterCandidate(s * 1000 + i, [(float)rng.NextNormal(), (float)rng.NextNormal()])).ToList()).ToList();
        // One far outlier per shard must be selected by both forms.
        var outliers = new[] { 7L, 1013L, 2021L, 3044L };
        var withOutliers = shards.Select((s, i) => (IReadOnlyList<KCenterCandidate>)s.Select(c => outliers.Contains(c.SampleId) ? c with { Features = [100f * (i + 1), 0f] } : c).ToList()).ToList();
        var distributed = KCenterGreedy.SelectDistributed(withOutliers, centers, 4).Select(c => c.SampleId).Order();
        var central = KCenterGreedy.Select(withOutliers.SelectMany(s => s).ToList(), centers, 4).Select(c => c.SampleId).Order();
        Assert.Equal(outliers, distributed);
        Assert.Equal(outliers, central);
    }
}
