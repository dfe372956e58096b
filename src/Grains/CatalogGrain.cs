using Orleans.Concurrency;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains;

/// <summary>Lists datasets and experiments by reading the artifact store's manifests and specs.</summary>
[StatelessWorker]
public sealed class CatalogGrain(IArtifactStore store, Hosting.SiloWebAddress web) : Grain, ICatalogGrain
{
    /// <inheritdoc />
    public async Task<DatasetInfo[]> ListDatasets()
    {
        var result = new List<DatasetInfo>();
        await foreach (var a in store.ListAsync("datasets/"))
        {
            var parts = a.Name.Split('/');
            if (parts.Length == 3 && parts[2] == "manifest.json")
            {
                result.Add((await DatasetManifest.LoadAsync(store, parts[1])).ToInfo());
            }
        }
        return [.. result];
    }

    /// <inheritdoc />
    public async Task<ExperimentStatus[]> ListExperiments()
    {
        var ids = new List<string>();
        await foreach (var a in store.ListAsync("experiments/"))
        {
            var parts = a.Name.Split('/');
            if (parts.Length == 3 && parts[2] == "spec.json") ids.Add(parts[1]);
        }
        return await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<ICoordinatorGrain>(id).GetStatus()));
    }

    /// <inheritdoc />
    public Task<string?> GetDashboardUrl() => Task.FromResult(web.Dashboard);
}
