namespace PruneFuse.Learning.Scoring;

/// <summary>A sample id with its informativeness score (higher = more worth labeling).</summary>
/// <param name="SampleId">Dataset-wide sample id.</param>
/// <param name="Score">Score; higher is selected first.</param>
/// <param name="Predicted">The scoring network's predicted class (−1 when none was computed); never affects the order.</param>
public readonly record struct ScoredSample(long SampleId, double Score, int Predicted = -1);

/// <summary>
/// The selection order: higher score first, ties broken by the lower sample id. Every top-k, merge and
/// k-center step uses this one order, so selections do not depend on how the pool is sharded.
/// </summary>
public sealed class SelectionOrder : IComparer<ScoredSample>
{
    /// <summary>The single instance.</summary>
    public static SelectionOrder Instance { get; } = new();

    /// <summary>Negative when <paramref name="a"/> is selected before <paramref name="b"/>.</summary>
    public int Compare(ScoredSample a, ScoredSample b)
    {
        var byScore = b.Score.CompareTo(a.Score);
        return byScore != 0 ? byScore : a.SampleId.CompareTo(b.SampleId);
    }
}
