using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Experiments;

/// <summary>Reads the artifacts the grains share (spec, manifest, labeled sets, labeled images) from the store.</summary>
public sealed class ExperimentStore(IArtifactStore store, ShardCache shards)
{
    /// <summary>The artifact store.</summary>
    public IArtifactStore Store => store;

    /// <summary>What a training grain needs: the spec, the dataset, the labeled images (with their labels) and the test set.</summary>
    public async Task<(ExperimentSpec Spec, DatasetManifest Manifest, ImageSet Train, ImageSet Test)> TrainingInputsAsync(string experimentId, ArtifactRef labeled)
    {
        var spec = await SpecAsync(experimentId);
        var manifest = await ManifestAsync(spec.DatasetId);
        var train = await LabeledImagesAsync(manifest, await LabeledAsync(labeled), spec, experimentId);
        var test = await TestSetAsync(manifest);
        return (spec, manifest, train, test);
    }

    /// <summary>The experiment's stored spec.</summary>
    public async Task<ExperimentSpec> SpecAsync(string experimentId)
    {
        var name = ArtifactLayout.Spec(experimentId);
        var bytes = await store.ReadBytesAsync(name);
        return System.Text.Json.JsonSerializer.Deserialize<ExperimentSpec>(bytes, ExperimentSetup.JsonOptions)
            ?? throw new DataFormatException(name, "spec is null");
    }

    /// <summary>The dataset manifest.</summary>
    public Task<DatasetManifest> ManifestAsync(string datasetId) => DatasetGrain.LoadAsync(store, datasetId);

    /// <summary>A labeled-set artifact's ids.</summary>
    public async Task<long[]> LabeledAsync(ArtifactRef labeled) =>
        ExperimentSetup.LabeledFromJson(await store.ReadBytesAsync(labeled.Name), labeled.Name);

    /// <summary>
    /// The labeled samples' images and labels. With the dataset label source the simulated annotator reveals the
    /// shards' labels; with the external source every label comes from the imported label artifacts.
    /// </summary>
    public async Task<ImageSet> LabeledImagesAsync(DatasetManifest manifest, IReadOnlyCollection<long> ids, ExperimentSpec spec, string experimentId)
    {
        var set = await LabeledImagesAsync(manifest, ids);
        if (spec.LabelSource != "external") return set;
        var external = new Dictionary<long, int>();
        await foreach (var a in store.ListAsync($"{ArtifactLayout.Experiment(experimentId)}/labels/"))
        {
            var labels = System.Text.Json.JsonSerializer.Deserialize<SampleLabel[]>(await store.ReadBytesAsync(a.Name), ExperimentSetup.JsonOptions) ?? [];
            foreach (var l in labels) external[l.SampleId] = l.Label;
        }
        var relabeled = new int[set.Count];
        for (var i = 0; i < set.Count; i++)
        {
            relabeled[i] = external.TryGetValue(set.Ids[i], out var l) ? l : throw new InvalidOperationException($"sample {set.Ids[i]} is labeled but has no imported label");
        }
        return new ImageSet(set.Ids, relabeled, set.Pixels, set.Channels, set.Height, set.Width);
    }

    /// <summary>The labeled samples' images with the dataset's own labels.</summary>
    public async Task<ImageSet> LabeledImagesAsync(DatasetManifest manifest, IReadOnlyCollection<long> ids)
    {
        var wanted = new HashSet<long>(ids);
        var parts = new List<ImageSet>();
        foreach (var shard in manifest.Shards)
        {
            var inShard = wanted.Where(id => id >= shard.FirstId && id < shard.FirstId + shard.Count).ToList();
            if (inShard.Count == 0) continue;
            parts.Add(await shards.GatherAsync(shard, inShard));
        }
        var found = parts.Sum(p => p.Count);
        if (found != wanted.Count) throw new InvalidOperationException($"{wanted.Count - found} labeled sample ids are not in dataset '{manifest.DatasetId}'");
        return Concat(parts);
    }

    /// <summary>The dataset's test set.</summary>
    public Task<ImageSet> TestSetAsync(DatasetManifest manifest) => shards.GetShardAsync(manifest.TestShard);

    private static ImageSet Concat(List<ImageSet> parts)
    {
        if (parts.Count == 1) return parts[0];
        var first = parts[0];
        var pixels = new byte[parts.Sum(p => (long)p.Pixels.Length)];
        long offset = 0;
        foreach (var p in parts)
        {
            Array.Copy(p.Pixels, 0, pixels, offset, p.Pixels.Length);
            offset += p.Pixels.Length;
        }
        return new ImageSet([.. parts.SelectMany(p => p.Ids)], [.. parts.SelectMany(p => p.Labels)], pixels, first.Channels, first.Height, first.Width);
    }
}
