using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace PruneFuse.Client;

/// <summary>Connects the console to a silo's gateway; fails fast with one clear line when nothing listens.</summary>
public static class ClusterConnection
{
    /// <summary>
    /// Starts an Orleans client against the silo gateway at <paramref name="gatewayHost"/>:<paramref name="gatewayPort"/>
    /// (the embedded silo by default; any silo of a cluster otherwise).
    /// </summary>
    public static async Task<IHost> ConnectAsync(string gatewayHost, int gatewayPort, CancellationToken cancellationToken)
    {
        IPAddress address;
        try
        {
            address = IPAddress.TryParse(gatewayHost, out var ip) ? ip : (await Dns.GetHostAddressesAsync(gatewayHost, cancellationToken)).First();
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new ClientException($"cannot resolve the gateway host '{gatewayHost}'");
        }
        // Orleans retries for a long time when no gateway answers; probe first so the user hears at once.
        using (var probe = new TcpClient())
        {
            try
            {
                await probe.ConnectAsync(address, gatewayPort, cancellationToken);
            }
            catch (SocketException)
            {
                throw new ClientException($"cannot reach a PruneFuse silo at {gatewayHost}:{gatewayPort}: start one with `dotnet run -c Release --project src/Silo` (or scripts/demo.sh), or point --gateway-host/--gateway-port at a running silo");
            }
        }
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        // The console owns Ctrl+C and SIGTERM (System.CommandLine cancels the command). The Generic Host's console
        // lifetime would swallow them and block the process exit until the host is disposed, which a call stuck on
        // a dead silo never reaches.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        // The silo's cluster and service ids (src/Silo/appsettings.json).
        builder.UseOrleansClient(c => c
            .UseStaticClustering(new IPEndPoint(address, gatewayPort))
            .Configure<Orleans.Configuration.ClusterOptions>(o =>
            {
                o.ClusterId = "prunefuse";
                o.ServiceId = "prunefuse";
            }));
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
            throw new ClientException($"the silo at {gatewayHost}:{gatewayPort} did not accept the client within 30 s (is it a PruneFuse silo with cluster id 'prunefuse'?)");
        }
        return host;
    }

    /// <summary>The grain factory of a connected host.</summary>
    public static IClusterClient Client(this IHost host) => host.Services.GetRequiredService<IClusterClient>();

    /// <summary>
    /// Completes when the gateway at <paramref name="host"/>:<paramref name="port"/> stops accepting connections
    /// <paramref name="misses"/> probes in a row (one probe every <paramref name="interval"/>); runs until cancelled.
    /// Orleans notices a vanished gateway only when a call times out, which for long calls is many minutes.
    /// </summary>
    public static async Task WatchGatewayAsync(string host, int port, TimeSpan interval, int misses, CancellationToken cancellationToken)
    {
        var missed = 0;
        while (missed < misses)
        {
            await Task.Delay(interval, cancellationToken);
            using var probe = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(interval);
            try
            {
                await probe.ConnectAsync(host, port, timeout.Token);
                missed = 0;
            }
            catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                missed++;
            }
        }
    }

    private sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>An error shown to the user as one line, with a non-zero exit code.</summary>
public sealed class ClientException(string message) : Exception(message);
