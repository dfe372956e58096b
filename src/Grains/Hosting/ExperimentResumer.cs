using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Hosting;

/// <summary>
/// Wakes running experiments when a silo starts. Embedded mode keeps reminders in memory, so after a restart nothing
/// else would wake a running experiment's coordinator; in cluster mode the persisted reminder would, up to a minute
/// later. This service touches every stored experiment once the silo is up; a coordinator whose persisted state is
/// Running resumes its loop on activation.
/// </summary>
public sealed class ExperimentResumer(IGrainFactory grains, IArtifactStore store, ILogger<ExperimentResumer> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
        await foreach (var a in store.ListAsync("experiments/", stoppingToken))
        {
            var parts = a.Name.Split('/');
            if (parts.Length != 3 || parts[2] != "spec.json") continue;
            try
            {
                var status = await grains.GetGrain<ICoordinatorGrain>(parts[1]).GetStatus();
                if (status.State == ExperimentState.Running) logger.LogInformation("resumed experiment {Experiment} at round {Round}", parts[1], status.Round);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "could not resume experiment {Experiment}", parts[1]);
            }
        }
    }
}
