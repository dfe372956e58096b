using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Grains.Interfaces;

/// <summary>Lists what the store holds (key: any; stateless).</summary>
[Alias("prunefuse.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    /// <summary>Every imported dataset.</summary>
    [ViewerMayCall]
    Task<DatasetInfo[]> ListDatasets();

    /// <summary>Every experiment with its current status.</summary>
    [ViewerMayCall]
    Task<ExperimentStatus[]> ListExperiments();

    /// <summary>
    /// The dashboard URL of the silo that answers; a client's call is answered by its gateway silo (the catalog is a
    /// stateless worker, activated where it is called). Null when that silo serves no HTTP.
    /// </summary>
    [ViewerMayCall]
    Task<string?> GetDashboardUrl();

    /// <summary>
    /// Every network family's architectures at each stem with dense and pruned parameters and MACs for
    /// <paramref name="query"/>'s input; a bad query (ratio, sizes) is refused naming the value.
    /// </summary>
    [ViewerMayCall]
    Task<ArchitectureInfo[]> ListArchitectures(ArchitectureQuery query);
}

/// <summary>The input an architecture listing is computed for.</summary>
/// <param name="Channels">Image channels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Classes">Classes of the classifier.</param>
/// <param name="PruneRatio">Pruning ratio p for the pruned columns.</param>
/// <param name="WidthMultiplier">Width multiplier of the dense networks.</param>
[GenerateSerializer, Immutable, Alias("prunefuse.ArchitectureQuery")]
public sealed record ArchitectureQuery(
    [property: Id(0)] int Channels, [property: Id(1)] int Height, [property: Id(2)] int Width, [property: Id(3)] int Classes,
    [property: Id(4)] double PruneRatio, [property: Id(5)] double WidthMultiplier);

/// <summary>One architecture at one stem: dense and pruned parameters and MACs per image.</summary>
/// <param name="Family">The family's title.</param>
/// <param name="Arch">The name to pass as <c>--arch</c>.</param>
/// <param name="Stem">The name to pass as <c>--stem</c>.</param>
/// <param name="DenseParameters">Parameters of the dense network.</param>
/// <param name="DenseMacs">Multiply-accumulates of the dense network per image.</param>
/// <param name="PrunedParameters">Parameters after pruning.</param>
/// <param name="PrunedMacs">Multiply-accumulates after pruning per image.</param>
/// <param name="Problem">Why the input does not fit the network (the figures are then 0).</param>
[GenerateSerializer, Immutable, Alias("prunefuse.ArchitectureInfo")]
public sealed record ArchitectureInfo(
    [property: Id(0)] string Family, [property: Id(1)] string Arch, [property: Id(2)] string Stem,
    [property: Id(3)] long DenseParameters, [property: Id(4)] long DenseMacs, [property: Id(5)] long PrunedParameters, [property: Id(6)] long PrunedMacs,
    [property: Id(7)] string? Problem);
