namespace PruneFuse.Grains.Hosting;

/// <summary>
/// This silo's HTTP address once it listens (set by the host after start), so a client can be told where the
/// dashboard of the silo it talks to is, whatever port that silo was given.
/// </summary>
public sealed class SiloWebAddress
{
    private string? _dashboard;

    /// <summary>The dashboard's URL, or null before the silo listens (or when it serves no HTTP).</summary>
    public string? Dashboard
    {
        get => Volatile.Read(ref _dashboard);
        set => Volatile.Write(ref _dashboard, value);
    }
}
