namespace PruneFuse.Silo.Monitoring;

/// <summary>Turns the addresses Kestrel listens on into the URL a person opens.</summary>
public static class Addresses
{
    /// <summary>
    /// The dashboard URL on the first listen address; a wildcard host (<c>*</c>, <c>+</c>, <c>0.0.0.0</c>, <c>[::]</c>)
    /// becomes <paramref name="advertised"/>. Null when the silo listens on nothing.
    /// </summary>
    public static string? Dashboard(IEnumerable<string> listening, string advertised)
    {
        if (listening.Select(Parse).FirstOrDefault() is not { } uri) return null;
        var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? advertised : uri.Host;
        return $"{uri.Scheme}://{host}:{uri.Port}/dashboard";
    }

    /// <summary>A listen URL as Kestrel takes it (<c>*</c> and <c>+</c> mean every interface, here 0.0.0.0); null when it is not one.</summary>
    public static Uri? Parse(string url) =>
        Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri) ? uri : null;
}
