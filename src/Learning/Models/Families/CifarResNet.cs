using System.Globalization;
using System.Text.RegularExpressions;

namespace PruneFuse.Learning.Models.Families;

/// <summary>
/// The CIFAR-style ResNet of He et al. (2016, §4.2), depth 6n+2: a 3×3 stem, three stages of n basic blocks
/// (conv3×3-BN-ReLU-conv3×3-BN, add, ReLU) of widths 16/32/64 × the width multiplier, a projection shortcut
/// (conv1×1 + BN) where the shape changes, global average pooling and a linear classifier. Group labels keep the
/// names channel plans have always used: <c>stage1..3</c> for the residual streams, <c>layerS.B</c> for block insides.
/// </summary>
public sealed partial class CifarResNet : INetworkFamily
{
    /// <summary>Supported depths.</summary>
    public static readonly IReadOnlyList<int> Depths = [8, 14, 20, 32, 56, 110];

    /// <summary>Stage widths before the width multiplier.</summary>
    public static readonly IReadOnlyList<int> BaseStageWidths = [16, 32, 64];

    /// <inheritdoc />
    public string Title => "CIFAR ResNet (depth 6n+2, widths 16/32/64)";

    /// <inheritdoc />
    public IReadOnlyList<string> Archs { get; } = [.. Depths.Select(d => "resnet" + d.ToString(CultureInfo.InvariantCulture))];

    /// <inheritdoc />
    public string Names => string.Join(", ", Archs);

    /// <inheritdoc />
    public IReadOnlyList<string> Stems { get; } = ["small"];

    /// <inheritdoc />
    public bool Accepts(string arch) => Depth(arch) is not null;

    /// <inheritdoc />
    public NetworkDescription Describe(string arch, string stem, double widthMultiplier, int inputChannels, int numClasses, double dropout = 0)
    {
        var depth = Depth(arch) ?? throw new ArgumentException($"{arch} is not a CIFAR ResNet");
        var n = (depth - 2) / 6;
        var widths = BaseStageWidths.Select(w => Math.Max(1, (int)Math.Round(w * widthMultiplier, MidpointRounding.AwayFromZero))).ToArray();
        var b = new NetworkBuilder(arch, inputChannels, numClasses);
        var x = b.Relu(b.BatchNorm("bn1", b.Conv("conv1", b.Input, widths[0], 3, 1, 1, group: "stage1")));
        for (var s = 1; s <= 3; s++)
        {
            for (var k = 0; k < n; k++)
            {
                var p = $"layer{s}.{k}";
                var downsample = s > 1 && k == 0;
                var stride = downsample ? 2 : 1;
                var h = b.Relu(b.BatchNorm(p + ".bn1", b.Conv(p + ".conv1", x, widths[s - 1], 3, stride, 1, group: p)));
                var o = b.BatchNorm(p + ".bn2", b.Conv(p + ".conv2", h, widths[s - 1], 3, 1, 1));
                var shortcut = downsample
                    ? b.BatchNorm(p + ".downsample.1", b.Conv(p + ".downsample.0", x, widths[s - 1], 1, stride, 0, group: $"stage{s}"))
                    : x;
                x = b.Relu(b.Sum(o, shortcut));
            }
        }
        return b.Classifier("fc", b.GlobalAvgPool(x));
    }

    private static int? Depth(string arch)
    {
        var m = ArchPattern().Match(arch);
        return m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var d) && Depths.Contains(d) ? d : null;
    }

    [GeneratedRegex(@"^resnet(\d{1,4})\z", RegexOptions.CultureInvariant)]
    private static partial Regex ArchPattern();
}
