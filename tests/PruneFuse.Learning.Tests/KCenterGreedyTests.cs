using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>Greedy k-center, central and two-stage (distributed).</summary>
public class KCenterGreedyTests
{
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
