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

    /// <inheritdoc />
    public Task<ArchitectureInfo[]> ListArchitectures(ArchitectureQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Channels is < 1 or > 4) throw new ArgumentException($"channels must be 1 to 4, got {query.Channels}");
        if (query.Height is < 1 or > 4096 || query.Width is < 1 or > 4096) throw new ArgumentException($"image size must be 1 to 4096 pixels, got {query.Height}×{query.Width}");
        if (query.Classes is < 2 or > 100_000) throw new ArgumentException($"classes must be 2 to 100000, got {query.Classes}");
        if (!(query.WidthMultiplier > 0 && query.WidthMultiplier <= 16)) throw new ArgumentException($"width multiplier must be in (0, 16], got {query.WidthMultiplier}");
        if (!(query.PruneRatio >= 0 && query.PruneRatio < 1)) throw new ArgumentException($"pruning ratio p must be in [0, 1), got {query.PruneRatio}");
        var rows = Learning.Models.ArchitectureCatalog.List(query.Channels, query.Height, query.Width, query.Classes, query.PruneRatio, query.WidthMultiplier);
        return Task.FromResult(rows.Select(r => new ArchitectureInfo(r.Family, r.Arch, r.Stem,
            r.Dense?.Parameters ?? 0, r.Dense?.Macs ?? 0, r.Pruned?.Parameters ?? 0, r.Pruned?.Macs ?? 0, r.Problem)).ToArray());
    }
}
