using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace PruneFuse.Grains.Placement;

/// <summary>Silo metadata key and values that say whether a silo has a GPU.</summary>
public static class Accelerator
{
    /// <summary>Metadata key published by every silo.</summary>
    public const string Key = "accelerator";

    /// <summary>Value of GPU silos.</summary>
    public const string Gpu = "gpu";

    /// <summary>Value of CPU-only silos.</summary>
    public const string Cpu = "cpu";
}

/// <summary>Placement filter strategy: prefer silos whose metadata says <c>accelerator=gpu</c>.</summary>
public sealed class PreferGpuPlacementFilterStrategy : PlacementFilterStrategy
{
    /// <summary>Creates the strategy.</summary>
    public PreferGpuPlacementFilterStrategy() : base(0)
    {
    }
}

/// <summary>
/// Marks grains (pool shards, selector, fusion) whose torch work should run on GPU silos: when any compatible silo
/// has a GPU they are placed only there, otherwise anywhere. Orleans' built-in metadata filters match the caller's
/// metadata, which is not what we need, hence this filter.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class PreferGpuSiloAttribute : PlacementFilterAttribute
{
    /// <summary>Creates the attribute.</summary>
    public PreferGpuSiloAttribute() : base(new PreferGpuPlacementFilterStrategy())
    {
    }
}

/// <summary>Applies <see cref="PreferGpuPlacementFilterStrategy"/> using the silo metadata cache.</summary>
public sealed class PreferGpuPlacementFilterDirector(ISiloMetadataCache metadata) : IPlacementFilterDirector
{
    /// <inheritdoc />
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var all = silos.ToList();
        var gpu = all.Where(IsGpu).ToList();
        return gpu.Count > 0 ? gpu : all;
    }

    private bool IsGpu(SiloAddress silo) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(Accelerator.Key, out var value) && value == Accelerator.Gpu;
}
