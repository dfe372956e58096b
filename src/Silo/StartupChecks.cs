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
}
