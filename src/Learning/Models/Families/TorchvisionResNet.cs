namespace PruneFuse.Learning.Models.Families;

/// <summary>
/// torchvision's ResNet-18/34 (basic blocks) and ResNet-50 (bottlenecks, expansion 4) with torchvision's structure
/// and state-dict keys (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, <c>layer2.0.downsample.0/1</c>, <c>fc</c>),
/// so torchvision's weights load as they are and exports load into <c>torchvision.models.resnet18</c> and kin.
/// Stems: <c>imagenet</c> (7×7 stride 2 + 3×3 max pool, torchvision's) or <c>small</c> (3×3 stride 1, no pool, for
/// 28–64 px inputs; the tensor names are the same, only the stem kernel's shape differs). Stages of width
/// 64/128/256/512 × the width multiplier; the stride sits on the 3×3 convolution of a bottleneck (ResNet v1.5), as
/// in torchvision.
/// </summary>
public sealed class TorchvisionResNet : INetworkFamily
{
    private static readonly Dictionary<string, (bool Bottleneck, int[] Blocks)> Layouts = new(StringComparer.Ordinal)
    {
        ["resnet18"] = (false, [2, 2, 2, 2]),
        ["resnet34"] = (false, [3, 4, 6, 3]),
        ["resnet50"] = (true, [3, 4, 6, 3]),
    };

    /// <summary>Stage widths before the width multiplier (a bottleneck's inner width; its output is 4×).</summary>
    public static readonly IReadOnlyList<int> BaseStageWidths = [64, 128, 256, 512];

    /// <inheritdoc />
    public string Title => "torchvision ResNet (basic and bottleneck blocks, widths 64-512)";

    /// <inheritdoc />
    public IReadOnlyList<string> Archs { get; } = [.. Layouts.Keys];

    /// <inheritdoc />
    public string Names => string.Join(", ", Archs);

    /// <inheritdoc />
    public IReadOnlyList<string> Stems { get; } = ["imagenet", "small"];

    /// <inheritdoc />
    public bool Accepts(string arch) => Layouts.ContainsKey(arch);

    /// <inheritdoc />
    public NetworkDescription Describe(string arch, string stem, double widthMultiplier, int inputChannels, int numClasses, double dropout = 0)
    {
        var (bottleneck, blocks) = Layouts[arch];
        var widths = BaseStageWidths.Select(w => Math.Max(1, (int)Math.Round(w * widthMultiplier, MidpointRounding.AwayFromZero))).ToArray();
        var expansion = bottleneck ? 4 : 1;
        var b = new NetworkBuilder(arch, inputChannels, numClasses);
        var x = stem == "imagenet"
            ? b.MaxPool(b.Relu(b.BatchNorm("bn1", b.Conv("conv1", b.Input, widths[0], 7, 2, 3))), 3, 2, 1)
            : b.Relu(b.BatchNorm("bn1", b.Conv("conv1", b.Input, widths[0], 3, 1, 1)));
        var channels = widths[0];
        for (var s = 0; s < 4; s++)
        {
            var outWidth = widths[s] * expansion;
            for (var k = 0; k < blocks[s]; k++)
            {
                var p = $"layer{s + 1}.{k}";
                var stride = s > 0 && k == 0 ? 2 : 1;
                var downsample = k == 0 && (stride != 1 || channels != outWidth);
                int o;
                if (bottleneck)
                {
                    var h = b.Relu(b.BatchNorm(p + ".bn1", b.Conv(p + ".conv1", x, widths[s], 1, 1, 0)));
                    h = b.Relu(b.BatchNorm(p + ".bn2", b.Conv(p + ".conv2", h, widths[s], 3, stride, 1)));
                    o = b.BatchNorm(p + ".bn3", b.Conv(p + ".conv3", h, outWidth, 1, 1, 0));
                }
                else
                {
                    var h = b.Relu(b.BatchNorm(p + ".bn1", b.Conv(p + ".conv1", x, widths[s], 3, stride, 1)));
                    o = b.BatchNorm(p + ".bn2", b.Conv(p + ".conv2", h, outWidth, 3, 1, 1));
                }
                var shortcut = downsample
                    ? b.BatchNorm(p + ".downsample.1", b.Conv(p + ".downsample.0", x, outWidth, 1, stride, 0))
                    : x;
                x = b.Relu(b.Sum(o, shortcut));
                channels = outWidth;
            }
        }
        return b.Classifier("fc", b.GlobalAvgPool(x));
    }
}
