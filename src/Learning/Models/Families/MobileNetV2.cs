namespace PruneFuse.Learning.Models.Families;

/// <summary>
/// torchvision's MobileNetV2 (Sandler et al. 2018): a 3×3 stride-2 stem, seventeen inverted residual blocks (1×1
/// expansion, 3×3 depthwise, 1×1 linear projection, each with BN; ReLU6 after the first two; a residual addition
/// where shape allows), a 1×1 convolution to 1280 channels, global average pooling, dropout 0.2 and a linear
/// classifier, with torchvision's state-dict keys (<c>features.2.conv.1.0</c>, <c>classifier.1</c>). Widths are
/// torchvision's: every width × the multiplier rounded to a multiple of 8, the last width never below 1280. With
/// <c>--stem small</c> the stem and the first strided stage use stride 1, as the common CIFAR variant does.
/// Each depthwise convolution's channels are one group with the expansion that feeds it (derived, not listed).
/// </summary>
public sealed class MobileNetV2 : INetworkFamily
{
    // Expansion t, output channels c, repeats n, first stride s (torchvision's inverted_residual_setting).
    private static readonly (int T, int C, int N, int S)[] Setting =
    [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ];

    /// <inheritdoc />
    public string Title => "torchvision MobileNetV2 (inverted residuals, depthwise convolutions)";

    /// <inheritdoc />
    public IReadOnlyList<string> Archs { get; } = ["mobilenet_v2"];

    /// <inheritdoc />
    public string Names => "mobilenet_v2";

    /// <inheritdoc />
    public IReadOnlyList<string> Stems { get; } = ["imagenet", "small"];

    /// <inheritdoc />
    public bool Accepts(string arch) => arch == "mobilenet_v2";

    /// <inheritdoc />
    public NetworkDescription Describe(string arch, string stem, double widthMultiplier, int inputChannels, int numClasses, double dropout = 0)
    {
        var small = stem == "small";
        var b = new NetworkBuilder(arch, inputChannels, numClasses);
        var channels = Divisible(32 * widthMultiplier);
        var x = b.Relu6(b.BatchNorm("features.0.1", b.Conv("features.0.0", b.Input, channels, 3, small ? 1 : 2, 1)));
        var index = 1;
        var firstStrided = true;
        foreach (var (t, c, n, s) in Setting)
        {
            var output = Divisible(c * widthMultiplier);
            for (var i = 0; i < n; i++)
            {
                var stride = i == 0 ? s : 1;
                if (stride == 2 && firstStrided)
                {
                    firstStrided = false;
                    if (small) stride = 1;
                }
                var p = $"features.{index++}.conv";
                var hidden = (int)Math.Round(channels * (double)t, MidpointRounding.ToEven);
                var h = x;
                var part = 0;
                if (t != 1)
                {
                    h = b.Relu6(b.BatchNorm($"{p}.{part}.1", b.Conv($"{p}.{part}.0", h, hidden, 1, 1, 0)));
                    part++;
                }
                h = b.Relu6(b.BatchNorm($"{p}.{part}.1", b.DepthwiseConv($"{p}.{part}.0", h, 3, stride, 1)));
                part++;
                h = b.BatchNorm($"{p}.{part + 1}", b.Conv($"{p}.{part}", h, output, 1, 1, 0));
                x = stride == 1 && channels == output ? b.Sum(h, x) : h;
                channels = output;
            }
        }
        var last = Divisible(1280 * Math.Max(1.0, widthMultiplier));
        x = b.Relu6(b.BatchNorm($"features.{index}.1", b.Conv($"features.{index}.0", x, last, 1, 1, 0)));
        return b.Classifier("classifier.1", b.Dropout(b.GlobalAvgPool(x), 0.2));
    }

    // torchvision's _make_divisible: the nearest multiple of 8, at least 8, never more than 10% below the value.
    private static int Divisible(double value)
    {
        const int divisor = 8;
        var rounded = Math.Max(divisor, (int)(value + divisor / 2.0) / divisor * divisor);
        return rounded < 0.9 * value ? rounded + divisor : rounded;
    }
}
