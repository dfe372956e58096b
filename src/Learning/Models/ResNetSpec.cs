using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace PruneFuse.Learning.Models;

/// <summary>
/// Shape of a CIFAR-style ResNet (depth 6n+2): the architecture name, input channels, classes and the width
/// of every prunable channel group. The same spec type describes dense and pruned networks; pruning only
/// changes the widths, never the tensor names.
/// </summary>
public sealed record ResNetSpec
{
    /// <summary>Depths of the supported family.</summary>
    public static readonly IReadOnlyList<int> SupportedDepths = [8, 14, 20, 32, 56, 110];

    /// <summary>Base stage widths before the width multiplier.</summary>
    public static readonly IReadOnlyList<int> BaseStageWidths = [16, 32, 64];

    /// <summary>Architecture name, e.g. <c>resnet20</c>.</summary>
    public required string Arch { get; init; }

    /// <summary>Image channels (1 for Fashion-MNIST, 3 for RGB).</summary>
    public required int InputChannels { get; init; }

    /// <summary>Number of classes; the classifier's outputs are never pruned.</summary>
    public required int NumClasses { get; init; }

    /// <summary>Width of each stage's coupled residual group (stem and block outputs of stage 1, etc.).</summary>
    public required int[] StageWidths { get; init; }

    /// <summary>Inner width (conv1 output) of every block, indexed [stage][block].</summary>
    public required int[][] BlockWidths { get; init; }

    /// <summary>Depth of the network (6n+2).</summary>
    [JsonIgnore]
    public int Depth => ParseDepth(Arch);

    /// <summary>BasicBlocks per stage (n).</summary>
    [JsonIgnore]
    public int BlocksPerStage => (Depth - 2) / 6;

    /// <summary>The dense network of <paramref name="arch"/> with stage widths 16/32/64 × <paramref name="widthMultiplier"/>.</summary>
    public static ResNetSpec Dense(string arch, int inputChannels, int numClasses, double widthMultiplier = 1.0)
    {
        var depth = ParseDepth(arch);
        if (inputChannels < 1) throw new ArgumentOutOfRangeException(nameof(inputChannels), inputChannels, "input channels must be at least 1");
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "a classifier needs at least 2 classes");
        if (!(widthMultiplier > 0) || widthMultiplier > 16 || double.IsNaN(widthMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "width multiplier must be in (0, 16]");
        }
        var n = (depth - 2) / 6;
        var stages = BaseStageWidths.Select(w => Math.Max(1, (int)Math.Round(w * widthMultiplier, MidpointRounding.AwayFromZero))).ToArray();
        return new ResNetSpec
        {
            Arch = NormalizeArch(arch),
            InputChannels = inputChannels,
            NumClasses = numClasses,
            StageWidths = stages,
            BlockWidths = stages.Select(w => Enumerable.Repeat(w, n).ToArray()).ToArray(),
        };
    }

    /// <summary>Parses <c>resnetN</c> and returns N; throws for anything outside the supported family.</summary>
    public static int ParseDepth(string arch)
    {
        ArgumentNullException.ThrowIfNull(arch);
        var m = Regex.Match(arch.Trim(), "^resnet(\\d{1,4})$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        if (m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var d) && SupportedDepths.Contains(d))
        {
            return d;
        }
        throw new ArgumentException(
            $"unknown architecture '{arch}'; supported: {string.Join(", ", SupportedDepths.Select(x => "resnet" + x))}", nameof(arch));
    }

    private static string NormalizeArch(string arch) => "resnet" + ParseDepth(arch).ToString(CultureInfo.InvariantCulture);

    /// <summary>Checks internal consistency (used when a spec comes from a file).</summary>
    public void Validate(string source)
    {
        int depth;
        if (Arch is null) throw new ArgumentException($"{source}: architecture is missing");
        try { depth = ParseDepth(Arch); }
        catch (ArgumentException e) { throw new ArgumentException($"{source}: {e.Message}", e); }
        var n = (depth - 2) / 6;
        if (InputChannels < 1 || NumClasses < 2) throw new ArgumentException($"{source}: invalid input channels {InputChannels} or classes {NumClasses}");
        if (StageWidths is not { Length: 3 } || StageWidths.Any(w => w < 1))
        {
            throw new ArgumentException($"{source}: stage widths must be 3 positive numbers");
        }
        if (BlockWidths is not { Length: 3 } || BlockWidths.Any(s => s is null || s.Length != n || s.Any(w => w < 1)))
        {
            throw new ArgumentException($"{source}: block widths must be 3 stages of {n} positive numbers for {Arch}");
        }
    }

    /// <summary>True when two specs have the same architecture and widths.</summary>
    public bool SameShapeAs(ResNetSpec other) =>
        Arch == other.Arch && InputChannels == other.InputChannels && NumClasses == other.NumClasses &&
        StageWidths.SequenceEqual(other.StageWidths) &&
        BlockWidths.Zip(other.BlockWidths).All(p => p.First.SequenceEqual(p.Second));

    /// <inheritdoc />
    public override string ToString() =>
        $"{Arch}(in={InputChannels}, classes={NumClasses}, stages=[{string.Join(",", StageWidths)}])";
}
