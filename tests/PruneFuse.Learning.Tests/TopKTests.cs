using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>Streaming top-k per shard and the merge of shard lists into the global top-k.</summary>
public class TopKTests
{
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
}
