using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;

namespace PruneFuse.Silo;

/// <summary>
/// What a silo checks before Orleans starts: that cluster storage answers, and, in embedded mode, that no HTTP
/// endpoint listens beyond this machine whichever way it was configured. Each problem is one line that names the
/// endpoint, never a key.
/// </summary>
public static class StartupChecks
{
    /// <summary>
    /// Reaches the Azure Table and Blob endpoints of <paramref name="connectionString"/> within
    /// <paramref name="timeout"/>; returns one line per endpoint that does not answer (empty when both do).
    /// </summary>
    public static async Task<List<string>> StorageProblemsAsync(string connectionString, TimeSpan timeout)
    {
        var problems = new List<string>();
        TableServiceClient tables;
        BlobServiceClient blobs;
        try
        {
            // Few, short retries: a silo that cannot reach its storage must say so within a minute, not retry for ever.
            var tableOptions = new TableClientOptions();
            Limit(tableOptions.Retry, timeout);
            var blobOptions = new BlobClientOptions();
            Limit(blobOptions.Retry, timeout);
            tables = new TableServiceClient(connectionString, tableOptions);
            blobs = new BlobServiceClient(connectionString, blobOptions);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            // The SDK's parser messages do not echo the string; keep only their first line anyway.
            return [$"PruneFuse:Storage:ConnectionString is not a valid Azure Storage connection string ({FirstLine(e)})"];
        }
        using var cts = new CancellationTokenSource(timeout);
        async Task Probe(string what, Uri endpoint, Func<CancellationToken, Task> call)
        {
            try
            {
                await call(cts.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                var reason = cts.IsCancellationRequested ? $"no answer within {timeout.TotalSeconds:0} s" : FirstLine(Innermost(e));
                problems.Add($"cannot reach Azure {what} storage at {endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/')}: {reason}");
            }
        }
        await Task.WhenAll(
            Probe("Table", tables.Uri, async ct => { await foreach (var _ in tables.QueryAsync(maxPerPage: 1, cancellationToken: ct).AsPages().WithCancellation(ct)) break; }),
            Probe("Blob", blobs.Uri, async ct => { await foreach (var _ in blobs.GetBlobContainersAsync(cancellationToken: ct).AsPages(pageSizeHint: 1).WithCancellation(ct)) break; }));
        return problems;
    }

    private static void Limit(RetryOptions retry, TimeSpan timeout)
    {
        retry.MaxRetries = 2;
        retry.Delay = TimeSpan.FromMilliseconds(500);
        retry.MaxDelay = TimeSpan.FromSeconds(2);
        retry.NetworkTimeout = TimeSpan.FromSeconds(Math.Max(1, timeout.TotalSeconds / 3));
    }

    private static Exception Innermost(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        return e.InnerException is { } inner && e is not Azure.RequestFailedException { Status: > 0 } ? Innermost(inner) : e;
    }

    private static string FirstLine(Exception e) => e.Message.Split('\n')[0].Trim();

    /// <summary>
    /// Every configured HTTP endpoint that listens beyond loopback: <c>Urls</c>, each <c>Kestrel:Endpoints:*:Url</c>
    /// and, when no URL is configured, <c>HTTP_PORTS</c>/<c>HTTPS_PORTS</c> (which bind every interface).
    /// </summary>
    public static List<string> NonLoopbackEndpoints(IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var url in HttpAccess.NonLoopbackUrls(configuration["urls"])) problems.Add($"Urls: '{url}'");
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            foreach (var url in HttpAccess.NonLoopbackUrls(endpoint["Url"])) problems.Add($"Kestrel:Endpoints:{endpoint.Key}:Url: '{url}'");
        }
        if (string.IsNullOrWhiteSpace(configuration["urls"]))
        {
            foreach (var key in new[] { "http_ports", "https_ports" })
            {
                if (!string.IsNullOrWhiteSpace(configuration[key])) problems.Add($"{key.ToUpperInvariant()}: '{configuration[key]}' listens on every interface");
            }
        }
        return problems;
    }

    /// <summary>
    /// The non-loopback endpoints of <see cref="NonLoopbackEndpoints"/> that serve plain HTTP: with TLS on, Basic
    /// credentials must not cross the network in the clear.
    /// </summary>
    public static List<string> PlaintextEndpoints(IConfiguration configuration) =>
        [.. NonLoopbackEndpoints(configuration).Where(e => e.Contains("'http://", StringComparison.OrdinalIgnoreCase)
            || e.StartsWith("HTTP_PORTS", StringComparison.Ordinal))];

    /// <summary>
    /// The configured ports another process already listens on: the silo and gateway ports and the ports of
    /// <c>Urls</c>. Orleans binds its ports with address reuse, so without this check a second silo on the same
    /// machine would share a port with the first instead of failing.
    /// </summary>
    public static List<string> PortsInUse(SiloOptions options, IConfiguration configuration)
    {
        var gateway = options.GatewayListenPort > 0 ? ("PruneFuse:GatewayListenPort", options.GatewayListenPort)
            : ("PruneFuse:GatewayPort", options.GatewayPort);
        var ports = new List<(string Key, int Port)> { ("PruneFuse:SiloPort", options.SiloPort), gateway };
        foreach (var url in (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Monitoring.Addresses.Parse(url) is { Port: > 0 } uri) ports.Add(("Urls", uri.Port));
        }
        var problems = new List<string>();
        foreach (var (key, port) in ports.Distinct())
        {
            if (Listening(port)) problems.Add($"port {port} ({key}) is already in use by another process; stop it or choose another port");
        }
        return problems;
    }

    private static bool Listening(int port)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        // SO_REUSEADDR alone (not .NET's ReuseAddress, which adds SO_REUSEPORT on Linux): connections of an earlier
        // run in TIME_WAIT do not count, a listening socket does.
        if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        try
        {
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Any, port));
            socket.Listen(1);
            return false;
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            return true;
        }
    }
}
