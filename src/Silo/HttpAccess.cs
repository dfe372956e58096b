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
    /// password: the admin user may do everything, the viewer user (when it has a password) only read (GET, HEAD).
    /// With <paramref name="tlsOnly"/>, credentials are accepted over HTTPS only. Credentials are compared in
    /// constant time.
    /// </summary>
    public static void UseBasicAuthentication(this WebApplication app, HttpOptions options, bool tlsOnly = false)
    {
        if (!options.Required) return;
        var admin = Encoding.UTF8.GetBytes($"{options.Username}:{options.Password}");
        byte[]? viewer = string.IsNullOrEmpty(options.ViewerPassword) ? null
            : Encoding.UTF8.GetBytes($"{options.ViewerUsername}:{options.ViewerPassword}");
        app.Use(async (context, next) =>
        {
            if (OpenPaths.Contains(context.Request.Path.Value, StringComparer.Ordinal))
            {
                await next(context);
                return;
            }
            if (tlsOnly && !context.Request.IsHttps)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("this silo accepts credentials over HTTPS only\n");
                return;
            }
            var header = context.Request.Headers.Authorization.ToString();
            if (Authorized(header, admin))
            {
                await next(context);
                return;
            }
            if (viewer is not null && Authorized(header, viewer))
            {
                if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
                {
                    await next(context);
                    return;
                }
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync($"{context.Request.Method} needs the admin user; "
                    + $"'{options.ViewerUsername}' has the viewer role\n");
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
