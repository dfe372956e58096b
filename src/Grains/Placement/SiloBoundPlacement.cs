using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace PruneFuse.Grains.Placement;

/// <summary>Placement strategy: the grain's string key is a silo address, and the grain lives on that silo.</summary>
public sealed class SiloBoundPlacementStrategy : PlacementStrategy;

/// <summary>
/// Marks grains that stand for one silo (the scoring worker): keyed by the silo's address and placed on it, so the
/// coordinator chooses which silo does a piece of work, not Orleans' placement.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloBoundPlacementAttribute : PlacementAttribute
{
    /// <summary>Creates the attribute.</summary>
    public SiloBoundPlacementAttribute() : base(new SiloBoundPlacementStrategy())
    {
    }
}

/// <summary>A silo-bound grain was called for a silo that is not an active member of the cluster.</summary>
public sealed class SiloNotActiveException(string silo)
    : OrleansException($"silo {silo} is not an active member of the cluster: its scoring worker cannot start")
{
    /// <summary>The silo asked for.</summary>
    public string Silo { get; } = silo;
}

/// <summary>Places a silo-bound grain on the silo its key names, or refuses when that silo is not active.</summary>
public sealed class SiloBoundPlacementDirector : IPlacementDirector
{
    /// <inheritdoc />
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString() ?? "";
        SiloAddress wanted;
        try
        {
            wanted = SiloAddress.FromParsableString(key);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ArgumentException($"a silo-bound grain's key must be a silo address (ip:port@generation), got '{key}'", e);
        }
        if (!context.GetCompatibleSilos(target).Contains(wanted)) throw new SiloNotActiveException(key);
        return Task.FromResult(wanted);
    }
}
