using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Scoring;

/// <summary>How the selector ranks unlabeled samples.</summary>
public enum SelectionMetric
{
    /// <summary>1 − max softmax probability.</summary>
    LeastConfidence,
    /// <summary>Shannon entropy of the softmax (nats).</summary>
    Entropy,
    /// <summary>Margin p₁ − p₂ (smaller = more uncertain); scored as 1 − (p₁ − p₂) so higher is selected first.</summary>
    Margin,
    /// <summary>Seeded uniform score per sample id, independent of the network and of sharding.</summary>
    Random,
    /// <summary>Greedy k-center on penultimate features (see <see cref="KCenterGreedy"/>).</summary>
    KCenter,
}

/// <summary>Per-sample uncertainty scores from logits.</summary>
public static class UncertaintyScores
{
    /// <summary>
    /// Scores a batch of logits [n, classes] with an uncertainty metric; returns a float64 tensor [n]. Computed in
    /// float64 from float32 logits so ties and orderings do not depend on the batch a sample falls in.
    /// </summary>
    public static Tensor FromLogits(Tensor logits, SelectionMetric metric)
    {
        var p = nn.functional.softmax(logits.to_type(ScalarType.Float64), 1);
        switch (metric)
        {
            case SelectionMetric.LeastConfidence:
                return 1.0 - p.max(1).values;
            case SelectionMetric.Entropy:
                var logp = nn.functional.log_softmax(logits.to_type(ScalarType.Float64), 1);
                return -(p * logp).sum(1);
            case SelectionMetric.Margin:
                var top2 = p.topk(2, 1).values;
                return 1.0 - (top2[.., 0] - top2[.., 1]);
            default:
                throw new ArgumentException($"{metric} is not computed from logits");
        }
    }

    /// <summary>The random metric's score of one sample: uniform in [0, 1), a pure function of seed and id.</summary>
    public static double RandomScore(long seed, long sampleId) =>
        SeededRandom.HashUniform(SeededRandom.Derive(seed, "random-metric"), sampleId);
}
