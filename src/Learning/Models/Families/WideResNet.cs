using System.Globalization;
using System.Text.RegularExpressions;

namespace PruneFuse.Learning.Models.Families;

/// <summary>
/// The pre-activation Wide ResNet <c>wrn-D-K</c> of Zagoruyko and Komodakis (2016): a 3×3 stem of 16 channels, three
/// stages of (D − 4) / 6 blocks of widths 16K/32K/64K (× the width multiplier), each block BN-ReLU-conv3×3-BN-ReLU-
/// conv3×3 added to its input (a 1×1 projection of the pre-activated input where the shape changes), then BN, ReLU,
/// global average pooling and a linear classifier, for 32-px inputs (stride 1 stem). With a dropout probability
/// (<c>--dropout</c>, 0.3 in the paper's best CIFAR runs) dropout sits between a block's two convolutions. Its
/// block-input BatchNorms follow
/// additions, so they cannot fold into a convolution: the scoring network keeps them as per-channel scale and shift.
/// </summary>
public sealed partial class WideResNet : INetworkFamily
{
    /// <inheritdoc />
    public string Title => "pre-activation Wide ResNet wrn-D-K (D = 6n+4)";

    /// <inheritdoc />
    public IReadOnlyList<string> Archs { get; } = ["wrn-16-4", "wrn-16-8", "wrn-28-10", "wrn-40-2"];

    /// <inheritdoc />
    public string Names => "wrn-D-K (D = 6n+4, K ≥ 1; e.g. wrn-16-4, wrn-28-10)";

    /// <inheritdoc />
    public IReadOnlyList<string> Stems { get; } = ["small"];

    /// <inheritdoc />
    public bool TakesDropout => true;

    /// <inheritdoc />
    public bool Accepts(string arch) => Parse(arch) is not null;

    /// <inheritdoc />
    public NetworkDescription Describe(string arch, string stem, double widthMultiplier, int inputChannels, int numClasses, double dropout = 0)
    {
        var (depth, k) = Parse(arch) ?? throw new ArgumentException($"{arch} is not a Wide ResNet (wrn-D-K, D = 6n+4)");
        var n = (depth - 4) / 6;
        int Width(int w) => Math.Max(1, (int)Math.Round(w * widthMultiplier, MidpointRounding.AwayFromZero));
        var widths = new[] { 16 * k, 32 * k, 64 * k }.Select(Width).ToArray();
        var b = new NetworkBuilder(arch, inputChannels, numClasses);
        var x = b.Conv("conv1", b.Input, Width(16), 3, 1, 1);
        var channels = Width(16);
        for (var s = 0; s < 3; s++)
        {
            for (var i = 0; i < n; i++)
            {
                var p = $"layer{s + 1}.{i}";
                var stride = s > 0 && i == 0 ? 2 : 1;
                var pre = b.Relu(b.BatchNorm(p + ".bn1", x));
                var h = b.Relu(b.BatchNorm(p + ".bn2", b.Conv(p + ".conv1", pre, widths[s], 3, stride, 1)));
                if (dropout > 0) h = b.Dropout(h, dropout);
                h = b.Conv(p + ".conv2", h, widths[s], 3, 1, 1);
                var shortcut = channels != widths[s] || stride != 1 ? b.Conv(p + ".shortcut", pre, widths[s], 1, stride, 0) : x;
                x = b.Sum(h, shortcut);
                channels = widths[s];
            }
        }
        x = b.Relu(b.BatchNorm("bn", x));
        return b.Classifier("fc", b.GlobalAvgPool(x));
    }

    private static (int Depth, int K)? Parse(string arch)
    {
        var m = ArchPattern().Match(arch);
        if (!m.Success) return null;
        var depth = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var k = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        return depth >= 10 && (depth - 4) % 6 == 0 && depth <= 1000 && k is >= 1 and <= 32 ? (depth, k) : null;
    }

    [GeneratedRegex(@"^wrn-(\d{1,4})-(\d{1,2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex ArchPattern();
}
