using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>Uncertainty metrics: values, order, the seeded random metric and metric names.</summary>
public class SelectionMetricTests
{
    public SelectionMetricTests() => TorchRuntime.EnsureLoaded();

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
}
