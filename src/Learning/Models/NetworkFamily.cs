using PruneFuse.Learning.Models.Families;

namespace PruneFuse.Learning.Models;

/// <summary>
/// A network family: names users type (<c>resnet20</c>) and how to describe one of them. A family is one file under
/// <c>Models/Families</c> plus one line in <see cref="NetworkFamilies.All"/>; nothing else in the system names it.
/// </summary>
public interface INetworkFamily
{
    /// <summary>The family's name in listings, e.g. <c>CIFAR ResNet</c>.</summary>
    string Title { get; }

    /// <summary>Architecture names of the family as users type them (for a pattern family, its usual
    /// members).</summary>
    IReadOnlyList<string> Archs { get; }

    /// <summary>What names the family accepts, for messages (e.g. <c>wrn-D-K (D = 6n+4)</c>).</summary>
    string Names { get; }

    /// <summary>Stems the family accepts; the first is its default.</summary>
    IReadOnlyList<string> Stems { get; }

    /// <summary>True when <paramref name="arch"/> (trimmed, lower case) names a network of this family.</summary>
    bool Accepts(string arch);

    /// <summary>True when the family has a dropout option (<see cref="Describe"/>'s <c>dropout</c>); others refuse a
    /// nonzero one.</summary>
    bool TakesDropout => false;

    /// <summary>
    /// The dense network <paramref name="arch"/> with <paramref name="stem"/>, widths scaled by
    /// <paramref name="widthMultiplier"/> and, where the family has one, its dropout probability.
    /// </summary>
    NetworkDescription Describe(string arch, string stem, double widthMultiplier, int inputChannels, int numClasses, double dropout = 0);
}

/// <summary>The registry of network families.</summary>
public static class NetworkFamilies
{
    /// <summary>Every family, in listing order.</summary>
    public static IReadOnlyList<INetworkFamily> All { get; } = [new CifarResNet(), new TorchvisionResNet(), new WideResNet(), new MobileNetV2(), new VggBn()];

    /// <summary>Every architecture name users can type (pattern families by their usual members).</summary>
    public static IEnumerable<string> Archs => All.SelectMany(f => f.Archs);

    /// <summary>What every family accepts, for messages.</summary>
    public static string Known => string.Join("; ", All.Select(f => f.Names));

    /// <summary>The family of <paramref name="arch"/>; unknown names are refused listing the known ones.</summary>
    public static INetworkFamily Of(string arch)
    {
        ArgumentNullException.ThrowIfNull(arch);
        var name = Normalize(arch);
        return All.FirstOrDefault(f => f.Accepts(name))
            ?? throw new ArgumentException($"unknown architecture '{arch}'; supported: {Known}");
    }

    /// <summary>The stem <paramref name="stem"/> resolves to for <paramref name="family"/> (null = its default); others
    /// are refused.</summary>
    public static string StemOf(INetworkFamily family, string arch, string? stem)
    {
        if (stem is null) return family.Stems[0];
        var s = stem.Trim().ToLowerInvariant();
        return family.Stems.Contains(s)
            ? s
            : throw new ArgumentException($"{arch} has no stem '{stem}'; it takes {string.Join(" or ", family.Stems)}");
    }

    /// <summary>The canonical spelling of an architecture name.</summary>
    public static string Normalize(string arch) => arch.Trim().ToLowerInvariant();
}

/// <summary>One architecture at one stem, dense and pruned, for <c>prunefuse arch list</c>.</summary>
/// <param name="Family">The family's title.</param>
/// <param name="Arch">The architecture name.</param>
/// <param name="Stem">The stem.</param>
/// <param name="Dense">Parameters and MACs of the dense network (null when the input does not fit it).</param>
/// <param name="Pruned">Parameters and MACs after pruning every group at the given ratio.</param>
/// <param name="Problem">Why the input does not fit, when it does not.</param>
public sealed record ArchitectureCost(string Family, string Arch, string Stem, ModelComplexity? Dense, ModelComplexity? Pruned, string? Problem);

/// <summary>The cost of every listed architecture of every family for one kind of input.</summary>
public static class ArchitectureCatalog
{
    /// <summary>
    /// Every family's listed architectures at each stem for <paramref name="channels"/>-channel
    /// <paramref name="height"/>×<paramref name="width"/> images and <paramref name="classes"/> classes, dense and
    /// pruned
    /// at ratio <paramref name="prune"/> (every group keeps round((1 − p)·C), at least 1).
    /// </summary>
    public static IReadOnlyList<ArchitectureCost> List(int channels, int height, int width, int classes, double prune, double widthMultiplier = 1.0)
    {
        Pruning.ChannelPlan.ValidateRatio(prune);
        var rows = new List<ArchitectureCost>();
        foreach (var family in NetworkFamilies.All)
        {
            foreach (var arch in family.Archs)
            {
                foreach (var stem in family.Stems)
                {
                    var dense = NetworkSpec.Dense(arch, channels, classes, widthMultiplier, stem);
                    var pruned = dense.WithWidths(dense.Widths.ToDictionary(g => g.Key, g => Pruning.ChannelPlan.KeepCount(g.Value, prune), StringComparer.Ordinal));
                    try
                    {
                        rows.Add(new ArchitectureCost(family.Title, arch, stem, ModelComplexity.Of(dense, height, width), ModelComplexity.Of(pruned, height, width), null));
                    }
                    catch (ArgumentException e)
                    {
                        rows.Add(new ArchitectureCost(family.Title, arch, stem, null, null, e.Message));
                    }
                }
            }
        }
        return rows;
    }
}
