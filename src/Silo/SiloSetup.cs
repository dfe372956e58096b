using Orleans.Dashboard;
using System.Net;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using PruneFuse.Grains;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Hosting;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Silo;

/// <summary>Orleans configuration for the two ways to run (docs/architecture.md, "Two ways to run").</summary>
public static class SiloSetup
{
    /// <summary>Configures clustering, storage, reminders, the dashboard and PruneFuse's services.</summary>
    public static ISiloBuilder ConfigurePruneFuse(this ISiloBuilder silo, SiloOptions o)
    {
        silo.Configure<Orleans.Configuration.ClusterOptions>(c =>
        {
            c.ClusterId = o.ClusterId;
            c.ServiceId = o.ServiceId;
        });
        silo.AddDashboard();
        if (o.Mode == SiloMode.Embedded)
        {
            silo.UseLocalhostClustering(o.SiloPort, o.GatewayPort);
            silo.AddPruneFuseEmbedded(Path.GetFullPath(o.DataRoot), o.Accelerator, Compute(o));
            silo.UseInMemoryReminderService();
        }
        else
        {
            var connection = o.Storage.ConnectionString;
            var advertised = IPAddress.Parse(o.AdvertisedAddress);
            var anyAddress = o.AdvertisedAddress != "127.0.0.1";
            silo.ConfigureEndpoints(advertised, o.SiloPort, o.GatewayPort, listenOnAnyHostAddress: anyAddress);
            if (o.GatewayListenPort > 0)
            {
                // Clients keep using the advertised gateway port: Orleans routes a client's messages by it.
                silo.Configure<Orleans.Configuration.EndpointOptions>(e
                    => e.GatewayListeningEndpoint = new IPEndPoint(anyAddress ? IPAddress.Any : advertised,
                    o.GatewayListenPort));
            }
            silo.UseAzureStorageClustering(c => c.TableServiceClient = new TableServiceClient(connection));
            silo.AddAzureTableGrainStorage(GrainStorage.Name, c => c.TableServiceClient = new TableServiceClient(connection));
            silo.UseAzureTableReminderService(c => c.TableServiceClient = new TableServiceClient(connection));
            silo.AddPruneFuseAzureArtifacts(new BlobServiceClient(connection), o.Storage.Container, o.Accelerator, Compute(o));
        }
        // Embedded reminders live in memory, and persisted ones tick once a minute: either way a starting silo wakes
        // running experiments itself.
        silo.Services.AddHostedService<ExperimentResumer>();
        return silo;
    }

    private static ComputeOptions Compute(SiloOptions o) => new()
    {
        ShardCacheBytes = o.ShardCacheMegabytes * (1L << 20), MaxSpecMemoryBytes = ComputeOptions.DefaultMaxSpecMemoryBytes(o.MaxSpecMemoryShare),
        ScoringEngine = o.Scoring.Engine == "torch" ? ScoringEngine.Torch : ScoringEngine.Onnx, ScoringThreads = o.Scoring.Threads,
        Slots = o.Compute.Slots, UnitSamples = o.Scoring.UnitSamples, TorchThreads = o.Compute.TorchThreads,
    };
}

/// <summary>Ready when the silo has joined its cluster (the host started and is not stopping) and libtorch
/// loads.</summary>
public sealed class SiloHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // Never half-up: HTTP may listen before Orleans has joined, and keeps listening while the silo stops.
        if (!lifetime.ApplicationStarted.IsCancellationRequested) return Task.FromResult(HealthCheckResult.Unhealthy("starting"));
        if (lifetime.ApplicationStopping.IsCancellationRequested) return Task.FromResult(HealthCheckResult.Unhealthy("stopping"));
        try
        {
            PruneFuse.Learning.Runtime.TorchRuntime.EnsureLoaded();
            return Task.FromResult(HealthCheckResult.Healthy($"torch device {PruneFuse.Learning.Runtime.TorchRuntime.Device.type}"));
        }
        catch (Exception e)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(e.Message));
        }
    }
}
