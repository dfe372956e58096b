namespace PruneFuse.Learning.Models.Families;

/// <summary>
/// torchvision's VGG-11 and VGG-16 with BatchNorm (Simonyan and Zisserman 2015): 3×3 convolutions with bias, each
/// followed by BN and ReLU, 2×2 max pools between stages, then a classifier of two hidden fully connected layers
/// (4096 × the width multiplier, ReLU, dropout 0.5) and the output layer, with torchvision's keys
/// (<c>features.0</c>, <c>features.1</c>, <c>classifier.0</c>, <c>classifier.3</c>, <c>classifier.6</c>). The hidden
/// units are channel groups like convolution channels. Stem <c>imagenet</c> is torchvision's: a 7×7 adaptive average
/// pool and a flatten, which ties each last-stage channel to its block of 49 first-layer columns (derived from the
/// flatten); stem <c>small</c> pools globally instead (512 features), for 32–64 px inputs.
/// </summary>
public sealed class VggBn : INetworkFamily
{
    private const int Pool = -1;

    private static readonly Dictionary<string, int[]> Configs = new(StringComparer.Ordinal)
    {
        ["vgg11_bn"] = [64, Pool, 128, Pool, 256, 256, Pool, 512, 512, Pool, 512, 512, Pool],
        ["vgg16_bn"] = [64, 64, Pool, 128, 128, Pool, 256, 256, 256, Pool, 512, 512, 512, Pool, 512, 512, 512, Pool],
    };

    /// <inheritdoc />
    public string Title => "torchvision VGG with BatchNorm (hidden units prunable)";

    /// <inheritdoc />
    public IReadOnlyList<string> Archs { get; } = [.. Configs.Keys];

    /// <inheritdoc />
    public string Names => string.Join(", ", Archs);

    /// <inheritdoc />
    public IReadOnlyList<string> Stems { get; } = ["imagenet", "small"];

    /// <inheritdoc />
    public bool Accepts(string arch) => Configs.ContainsKey(arch);

    /// <inheritdoc />
    public NetworkDescription Describe(string arch, string stem, double widthMultiplier, int inputChannels, int numClasses, double dropout = 0)
    {
        int Width(int w) => Math.Max(1, (int)Math.Round(w * widthMultiplier, MidpointRounding.AwayFromZero));
        var b = new NetworkBuilder(arch, inputChannels, numClasses);
        var x = b.Input;
        var index = 0;
        foreach (var v in Configs[arch])
        {
            if (v == Pool)
            {
                x = b.MaxPool(x, 2, 2, 0);
                index++;
                continue;
            }
            x = b.Relu(b.BatchNorm($"features.{index + 1}", b.Conv($"features.{index}", x, Width(v), 3, 1, 1, bias: true)));
            index += 3;
        }
        x = stem == "imagenet" ? b.Flatten(b.AdaptiveAvgPool(x, 7)) : b.GlobalAvgPool(x);
        var hidden = Width(4096);
        x = b.Dropout(b.Relu(b.Linear("classifier.0", x, hidden)), 0.5);
        x = b.Dropout(b.Relu(b.Linear("classifier.3", x, hidden)), 0.5);
        return b.Classifier("classifier.6", x);
    }
}
