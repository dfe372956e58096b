namespace PruneFuse.Learning.Scoring;

/// <summary>
/// Streaming top-k: keeps the k best samples seen so far in a heap, so memory is O(k) however long the
/// stream. Rejects NaN scores, and an id offered again while it is among the kept samples (callers
/// guarantee distinct ids; shard merges check them globally).
/// </summary>
public sealed class TopKAccumulator
{
    // The heap's root is the worst kept sample, so a better newcomer replaces it in O(log k).
    private readonly PriorityQueue<ScoredSample, ScoredSample> _heap;
    private readonly HashSet<long> _kept = [];

    /// <summary>Creates an accumulator keeping <paramref name="k"/> samples.</summary>
    public TopKAccumulator(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        K = k;
        _heap = new PriorityQueue<ScoredSample, ScoredSample>(Comparer<ScoredSample>.Create((a, b) => SelectionOrder.Instance.Compare(b, a)));
    }

    /// <summary>How many samples are kept.</summary>
    public int K { get; }

    /// <summary>Samples offered so far.</summary>
    public long Seen { get; private set; }

    /// <summary>Offers one sample.</summary>
    public void Add(long sampleId, double score, int predicted = -1)
    {
        if (double.IsNaN(score)) throw new ArgumentException($"sample {sampleId} has a NaN score; the scoring network has diverged");
        Seen++;
        if (K == 0) return;
        var s = new ScoredSample(sampleId, score, predicted);
        if (_heap.Count < K)
        {
            if (!_kept.Add(sampleId)) throw new ArgumentException($"sample {sampleId} was offered twice");
            _heap.Enqueue(s, s);
            return;
        }
        var worst = _heap.Peek();
        if (SelectionOrder.Instance.Compare(s, worst) < 0)
        {
            if (!_kept.Add(sampleId)) throw new ArgumentException($"sample {sampleId} was offered twice");
            _heap.DequeueEnqueue(s, s);
            _kept.Remove(worst.SampleId);
        }
    }

    /// <summary>Offers many samples.</summary>
    public void AddRange(IEnumerable<ScoredSample> samples)
    {
        foreach (var s in samples) Add(s.SampleId, s.Score, s.Predicted);
    }

    /// <summary>The kept samples, best first.</summary>
    public List<ScoredSample> Result()
    {
        var list = _heap.UnorderedItems.Select(x => x.Element).ToList();
        list.Sort(SelectionOrder.Instance);
        return list;
    }
}

/// <summary>Merges per-shard top-k lists into the global top-k.</summary>
public static class TopKMerge
{
    /// <summary>
    /// K-way merge of lists each sorted in <see cref="SelectionOrder"/>; returns the first <paramref name="k"/>.
    /// Equals the top-k of the union when every list is its shard's own top-k. Throws if a list is unsorted or
    /// an id appears in two lists.
    /// </summary>
    public static List<ScoredSample> Merge(IReadOnlyList<IReadOnlyList<ScoredSample>> lists, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        for (var i = 0; i < lists.Count; i++)
        {
            var l = lists[i];
            for (var j = 1; j < l.Count; j++)
            {
                if (SelectionOrder.Instance.Compare(l[j - 1], l[j]) >= 0)
                {
                    throw new ArgumentException($"list {i} is not sorted best-first at position {j}");
                }
            }
        }
        var heap = new PriorityQueue<(int List, int Index), ScoredSample>(SelectionOrder.Instance);
        for (var i = 0; i < lists.Count; i++)
        {
            if (lists[i].Count > 0) heap.Enqueue((i, 0), lists[i][0]);
        }
        var result = new List<ScoredSample>(Math.Min(k, lists.Sum(l => l.Count)));
        var ids = new HashSet<long>();
        while (result.Count < k && heap.TryDequeue(out var at, out var s))
        {
            if (!ids.Add(s.SampleId)) throw new ArgumentException($"sample {s.SampleId} appears in more than one list");
            result.Add(s);
            if (at.Index + 1 < lists[at.List].Count) heap.Enqueue((at.List, at.Index + 1), lists[at.List][at.Index + 1]);
        }
        return result;
    }
}
