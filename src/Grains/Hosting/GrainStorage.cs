namespace PruneFuse.Grains.Hosting;

/// <summary>Names of the storage providers the grains use.</summary>
public static class GrainStorage
{
    /// <summary>Grain state storage for coordinators.</summary>
    public const string Name = "prunefuse";
}
