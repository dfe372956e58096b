using System.Text.Json.Serialization;
using PruneFuse.Learning.Models;

namespace PruneFuse.Learning.Pruning;

/// <summary>How channel importance is decided when pruning at initialization.</summary>
public enum PruningMethod
{
    /// <summary>Keep the channels whose producing θ0 weights have the largest L2 norm.</summary>
    L2,
    /// <summary>Ablation: keep seeded random channels.</summary>
    Random,
}

/// <summary>The channels one group keeps, in ascending dense index order.</summary>
/// <param name="Name">Group name (<c>stage2</c>, <c>layer2.1</c>).</param>
/// <param name="DenseWidth">Width of the group in the dense network.</param>
/// <param name="Kept">Kept dense channel indices, ascending.</param>
public sealed record ChannelGroup(string Name, int DenseWidth, int[] Kept);

/// <summary>
/// Which channels of every group of the dense network the pruned network keeps. Pruned channel j of a group
/// is dense channel <c>Kept[j]</c>; extraction and fusion use exactly this mapping.
/// </summary>
public sealed record ChannelPlan
{
    /// <summary>The dense network the plan was computed for.</summary>
    public required NetworkSpec Dense { get; init; }

    /// <summary>Fraction of channels removed per group (p).</summary>
    public required double Ratio { get; init; }

    /// <summary>How importance was decided.</summary>
    public required PruningMethod Method { get; init; }

    /// <summary>Every channel group of the dense network (<see cref="NetworkDescription.Groups"/>).</summary>
    public required ChannelGroup[] Groups { get; init; }

    /// <summary>The pruned network's spec: the dense one with every group narrowed to its kept count.</summary>
    [JsonIgnore]
    public NetworkSpec Pruned => Dense.WithWidths(Groups.ToDictionary(g => g.Name, g => g.Kept.Length, StringComparer.Ordinal));

    /// <summary>Kept indices of <paramref name="group"/>.</summary>
    public int[] KeptOf(string group) =>
        Groups.FirstOrDefault(g => g.Name == group)?.Kept ?? throw new KeyNotFoundException($"channel plan has no group '{group}'");

    /// <summary>
    /// Kept tensor indices of <paramref name="group"/> on an axis where each channel owns <paramref name="repeat"/>
    /// consecutive entries (the columns a flatten gives a channel): c·r … c·r + r − 1 for every kept c.
    /// </summary>
    public long[] KeptIndices(string group, int repeat = 1) =>
        [.. KeptOf(group).SelectMany(c => Enumerable.Range(0, repeat).Select(j => (long)c * repeat + j))];

    /// <summary>Number of channels kept out of <paramref name="width"/> at ratio <paramref name="ratio"/>:
    /// round((1−p)·C), at least 1.</summary>
    public static int KeepCount(int width, double ratio)
    {
        ValidateRatio(ratio);
        // Round half away from zero (choice); the small epsilon guards against (1-p)*C landing just below .5 in binary.
        var keep = (int)Math.Round((1.0 - ratio) * width + 1e-9, MidpointRounding.AwayFromZero);
        return Math.Clamp(keep, 1, width);
    }

    /// <summary>Throws unless 0 ≤ <paramref name="ratio"/> &lt; 1.</summary>
    public static void ValidateRatio(double ratio)
    {
        if (double.IsNaN(ratio) || ratio < 0 || ratio >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, $"pruning ratio p must be in [0, 1); got {ratio}");
        }
    }

    /// <summary>Checks the plan against its dense spec (used when a plan comes from a file).</summary>
    public void Validate(string source)
    {
        if (Dense is null) throw new ArgumentException($"{source}: channel plan has no dense network spec");
        Dense.Validate(source);
        ValidateRatio(Ratio);
        // By name: plans stored before network families listed the groups in another order.
        var expected = Dense.Describe().Groups;
        if (Groups is null || Groups.Length != expected.Count)
        {
            throw new ArgumentException($"{source}: channel plan has {Groups?.Length ?? 0} groups, {Dense.Arch} needs {expected.Count}");
        }
        var byName = Groups.Where(g => g?.Name is not null).GroupBy(g => g.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        foreach (var e in expected)
        {
            if (!byName.TryGetValue(e.Name, out var g))
            {
                throw new ArgumentException($"{source}: channel plan has no group '{e.Name}' of {Dense.Arch}");
            }
            if (g.DenseWidth != e.Width)
            {
                throw new ArgumentException($"{source}: channel plan group '{g.Name}' has width {g.DenseWidth}, {Dense.Arch} has {e.Width}");
            }
            if (g.Kept is null || g.Kept.Length < 1 || g.Kept.Any(k => k < 0 || k >= g.DenseWidth) || g.Kept.Zip(g.Kept.Skip(1)).Any(p => p.First >= p.Second))
            {
                throw new ArgumentException($"{source}: channel plan group '{g.Name}' must keep distinct ascending indices in [0, {g.DenseWidth})");
            }
        }
    }
}
