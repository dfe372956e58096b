using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace PruneFuse.Silo;

/// <summary>Who may reach the silo's HTTP endpoints, and on which addresses they listen.</summary>
public static class HttpAccess
{
    /// <summary>Paths open without credentials: Kubernetes probes cannot carry secrets, and they reveal only health.</summary>
    private static readonly string[] OpenPaths = ["/health/live", "/health/ready"];

    /// <summary>
    /// Requires HTTP Basic credentials on every path but the health probes when <paramref name="options"/> sets a
    /// password. Credentials are compared in constant time.
    /// </summary>
    public static void UseBasicAuthentication(this WebApplication app, HttpOptions options)
    {
        if (!options.Required) return;
        var expected = Encoding.UTF8.GetBytes($"{options.Username}:{options.Password}");
        app.Use(async (context, next) =>
        {
            if (OpenPaths.Contains(context.Request.Path.Value, StringComparer.Ordinal) || Authorized(context.Request.Headers.Authorization.ToString(), expected))
            {
                await next(context);
                return;
            }
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"PruneFuse\", charset=\"UTF-8\"";
        });
    }

    private static bool Authorized(string header, byte[] expected)
    {
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        byte[] given;
        try
        {
            given = Convert.FromBase64String(header["Basic ".Length..].Trim());
        }
        catch (FormatException)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>The configured listen URLs (<c>Urls</c>) whose host is not a loopback address.</summary>
    public static IReadOnlyList<string> NonLoopbackUrls(string? urls)
    {
        var outside = new List<string>();
        foreach (var url in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Kestrel's wildcards (*, +, 0.0.0.0, [::]) listen everywhere.
            var host = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
            host = host.Split('/')[0];
            host = host.StartsWith('[') ? host[1..host.IndexOf(']', StringComparison.Ordinal)] : host.Split(':')[0];
            var loopback = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
            if (!loopback) outside.Add(url);
        }
        return outside;
    }
}
