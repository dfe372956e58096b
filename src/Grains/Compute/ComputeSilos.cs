using Orleans.Runtime.MembershipService.SiloMetadata;
using PruneFuse.Grains.Placement;

namespace PruneFuse.Grains.Compute;

/// <summary>
/// The silos a round's scoring may use right now: every active GPU silo when there is one, otherwise every active
/// silo, each with the compute slots it publishes (<see cref="ComputeOptions.Slots"/>).
/// </summary>
public sealed class ComputeSilos(IClusterMembershipService membership, ISiloMetadataCache metadata)
{
    /// <summary>Silo metadata key carrying a silo's compute slots.</summary>
    public const string SlotsKey = "compute-slots";

    /// <summary>Eligible silos (address as <c>cluster status</c> shows it, slots), ordered by address.</summary>
    public IReadOnlyList<(string Silo, int Slots)> Eligible()
    {
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();
        var gpu = active.Where(s => Meta(s, Accelerator.Key) == Accelerator.Gpu).ToList();
        return [.. (gpu.Count > 0 ? gpu : active)
            .Select(s => (s.ToParsableString(), int.TryParse(Meta(s, SlotsKey), out var n) && n > 0 ? n : 1))
            .OrderBy(s => s.Item1, StringComparer.Ordinal)];
    }

    /// <summary>Whether <paramref name="silo"/> is still an active member.</summary>
    public bool IsActive(string silo) =>
        membership.CurrentSnapshot.Members.Values.Any(m => m.Status == SiloStatus.Active && m.SiloAddress.ToParsableString() == silo);

    /// <summary>
    /// Whether a failed call to a silo-bound worker on <paramref name="silo"/> means the silo went away (or is
    /// going), so its work goes to others, rather than a real error (a corrupted shard, a bad image) that fails it.
    /// </summary>
    public bool Lost(Exception e, string silo) =>
        e is Placement.SiloNotActiveException or SiloUnavailableException or OrleansMessageRejectionException
            or TimeoutException
            or OperationCanceledException // the worker's silo began to stop, which cancels its compute
        || !IsActive(silo);

    private string? Meta(SiloAddress silo, string key) =>
        metadata.GetSiloMetadata(silo).Metadata.TryGetValue(key, out var value) ? value : null;
}
