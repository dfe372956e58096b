using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace PruneFuse.Client;

/// <summary>Connects the console to a silo's gateway; fails fast with one clear line when nothing listens.</summary>
public static class ClusterConnection
{
    /// <summary>Starts an Orleans client against the embedded silo on <paramref name="gatewayPort"/>.</summary>
    public static async Task<IHost> ConnectAsync(int gatewayPort, CancellationToken cancellationToken)
    {
        // Orleans retries for a long time when no gateway answers; probe first so the user hears at once.
        using (var probe = new TcpClient())
        {
            try
            {
                await probe.ConnectAsync("127.0.0.1", gatewayPort, cancellationToken);
            }
            catch (SocketException)
            {
                throw new ClientException($"cannot reach a PruneFuse silo at 127.0.0.1:{gatewayPort}: start one with `dotnet run -c Release --project src/Silo` (or scripts/demo.sh)");
            }
        }
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        // The embedded silo's cluster and service ids (src/Silo/appsettings.json).
        builder.UseOrleansClient(c => c.UseLocalhostClustering(gatewayPort, serviceId: "prunefuse", clusterId: "prunefuse"));
        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await host.StartAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw new ClientException($"the silo at 127.0.0.1:{gatewayPort} did not accept the client within 30 s (is it a PruneFuse silo with cluster id 'prunefuse'?)");
        }
        return host;
    }

    /// <summary>The grain factory of a connected host.</summary>
    public static IClusterClient Client(this IHost host) => host.Services.GetRequiredService<IClusterClient>();
}

/// <summary>An error shown to the user as one line, with a non-zero exit code.</summary>
public sealed class ClientException(string message) : Exception(message);
