namespace PruneFuse.Learning.Models;

/// <summary>Which channel group indexes an axis of a parameter tensor; <c>null</c> means the axis is never pruned.</summary>
/// <param name="Name">PyTorch-style state-dict name, e.g. <c>layer2.0.conv1.weight</c>.</param>
/// <param name="OutGroup">Group of axis 0 (output channels, or BN channels).</param>
/// <param name="InGroup">Group of axis 1 (input channels of a conv, or input features of the classifier).</param>
/// <param name="Kind">What the tensor is.</param>
public sealed record TensorAxes(string Name, string? OutGroup, string? InGroup, TensorKind Kind);

/// <summary>Kinds of tensors in a ResNet state dict.</summary>
public enum TensorKind
{
    /// <summary>A convolution kernel [out, in, k, k].</summary>
    ConvWeight,
    /// <summary>A BatchNorm vector (weight, bias, running mean or variance).</summary>
    BatchNormVector,
    /// <summary>BatchNorm's scalar batch counter.</summary>
    BatchNormCounter,
    /// <summary>The classifier matrix [classes, features].</summary>
    LinearWeight,
    /// <summary>The classifier bias [classes].</summary>
    LinearBias,
}

/// <summary>
/// The structure of the ResNet family as data: every tensor name with the channel groups its axes belong to.
/// Pruning, fusion and checkpoints all read this one table, so they cannot disagree.
/// </summary>
public static class ResNetLayout
{
    /// <summary>Name of stage <paramref name="stage"/>'s (1-based) coupled residual group.</summary>
    public static string StageGroup(int stage) => $"stage{stage}";

    /// <summary>Name of the inner group of block <paramref name="block"/> in stage <paramref name="stage"/> (1-based stage).</summary>
    public static string BlockGroup(int stage, int block) => $"layer{stage}.{block}";

    /// <summary>True when a block has a projection shortcut (first block of stages 2 and 3).</summary>
    public static bool HasProjection(int stage, int block) => stage > 1 && block == 0;

    /// <summary>All channel groups of <paramref name="spec"/> with their widths, in a fixed order.</summary>
    public static IReadOnlyList<(string Group, int Width)> Groups(ResNetSpec spec)
    {
        var groups = new List<(string, int)>();
        for (var s = 1; s <= 3; s++)
        {
            groups.Add((StageGroup(s), spec.StageWidths[s - 1]));
        }
        for (var s = 1; s <= 3; s++)
        {
            for (var b = 0; b < spec.BlocksPerStage; b++)
            {
                groups.Add((BlockGroup(s, b), spec.BlockWidths[s - 1][b]));
            }
        }
        return groups;
    }

    /// <summary>Every state-dict tensor of the family in module registration order.</summary>
    public static IReadOnlyList<TensorAxes> Tensors(ResNetSpec spec)
    {
        var list = new List<TensorAxes>();
        void Bn(string prefix, string group)
        {
            foreach (var n in new[] { "weight", "bias", "running_mean", "running_var" })
            {
                list.Add(new TensorAxes($"{prefix}.{n}", group, null, TensorKind.BatchNormVector));
            }
            list.Add(new TensorAxes($"{prefix}.num_batches_tracked", null, null, TensorKind.BatchNormCounter));
        }

        list.Add(new TensorAxes("conv1.weight", StageGroup(1), null, TensorKind.ConvWeight));
        Bn("bn1", StageGroup(1));
        for (var s = 1; s <= 3; s++)
        {
            for (var b = 0; b < spec.BlocksPerStage; b++)
            {
                var p = $"layer{s}.{b}";
                var input = b == 0 && s > 1 ? StageGroup(s - 1) : StageGroup(s);
                list.Add(new TensorAxes($"{p}.conv1.weight", BlockGroup(s, b), input, TensorKind.ConvWeight));
                Bn($"{p}.bn1", BlockGroup(s, b));
                list.Add(new TensorAxes($"{p}.conv2.weight", StageGroup(s), BlockGroup(s, b), TensorKind.ConvWeight));
                Bn($"{p}.bn2", StageGroup(s));
                if (HasProjection(s, b))
                {
                    list.Add(new TensorAxes($"{p}.downsample.0.weight", StageGroup(s), StageGroup(s - 1), TensorKind.ConvWeight));
                    Bn($"{p}.downsample.1", StageGroup(s));
                }
            }
        }
        list.Add(new TensorAxes("fc.weight", null, StageGroup(3), TensorKind.LinearWeight));
        list.Add(new TensorAxes("fc.bias", null, null, TensorKind.LinearBias));
        return list;
    }

    /// <summary>Expected shape of every tensor of <paramref name="spec"/>, keyed by name.</summary>
    public static IReadOnlyDictionary<string, long[]> Shapes(ResNetSpec spec)
    {
        var width = Groups(spec).ToDictionary(g => g.Group, g => g.Width);
        var shapes = new Dictionary<string, long[]>();
        foreach (var t in Tensors(spec))
        {
            shapes[t.Name] = t.Kind switch
            {
                TensorKind.ConvWeight => [width[t.OutGroup!], t.InGroup is null ? spec.InputChannels : width[t.InGroup], KernelOf(t.Name), KernelOf(t.Name)],
                TensorKind.BatchNormVector => [width[t.OutGroup!]],
                TensorKind.BatchNormCounter => [],
                TensorKind.LinearWeight => [spec.NumClasses, width[t.InGroup!]],
                TensorKind.LinearBias => [spec.NumClasses],
                _ => throw new InvalidOperationException(t.Kind.ToString()),
            };
        }
        return shapes;
    }

    private static int KernelOf(string name) => name.Contains("downsample", StringComparison.Ordinal) ? 1 : 3;
}
