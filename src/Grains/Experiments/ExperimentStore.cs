using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Experiments;

/// <summary>Reads the artifacts the grains share (spec, manifest, labeled sets, labeled images) from the
/// store.</summary>
public sealed class ExperimentStore(IArtifactStore store, ShardCache shards)
{
    /// <summary>Where the artifacts live, for error messages.</summary>
    public string Description => store.Description;

    /// <summary>What a training grain needs: the spec, the dataset, the labeled images (with their labels) and the test
    /// set.</summary>
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
        return ArtifactJson.Decode<ExperimentSpec>(bytes, name, "spec");
    }

    /// <summary>The dataset manifest.</summary>
    public Task<DatasetManifest> ManifestAsync(string datasetId) => DatasetManifest.LoadAsync(store, datasetId);

    /// <summary>A labeled-set artifact's ids.</summary>
    public async Task<long[]> LabeledAsync(ArtifactRef labeled) =>
        ArtifactJson.LabeledFrom(await store.ReadBytesAsync(labeled.Name), labeled.Name);

    /// <summary>
    /// The labeled samples' images and labels. With the dataset label source the simulated annotator reveals the
    /// shards' labels; with the external source every label comes from the imported label artifacts.
    /// </summary>
    public async Task<ImageSet> LabeledImagesAsync(DatasetManifest manifest, IReadOnlyCollection<long> ids, ExperimentSpec spec, string experimentId)
    {
        var set = await LabeledImagesAsync(manifest, ids);
        if (spec.LabelSource != LabelSource.External) return set;
        var external = new Dictionary<long, int>();
        await foreach (var a in store.ListAsync($"{ArtifactLayout.Experiment(experimentId)}/labels/"))
        {
            var labels = ArtifactJson.Decode<SampleLabel[]>(await store.ReadBytesAsync(a.Name), a.Name, "label list");
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

    /// <summary>Stores the experiment's spec (the catalog lists experiments by it).</summary>
    public Task WriteSpecAsync(string experimentId, ExperimentSpec spec) => store.PutBytesAsync(ArtifactLayout.Spec(experimentId), ArtifactJson.Encode(spec));

    /// <summary>The round's stored selection, best first; null when the round has not selected yet.</summary>
    public async Task<SampleScore[]?> SelectionAsync(string experimentId, int round)
    {
        var name = ArtifactLayout.Selection(experimentId, round);
        if (await store.GetInfoAsync(name) is null) return null;
        return ArtifactJson.Decode<SampleScore[]>(await store.ReadBytesAsync(name), name, "selection");
    }

    /// <summary>Stores the round's selection (round 0: the initial set).</summary>
    public async Task<ArtifactRef> WriteSelectionAsync(string experimentId, int round, IEnumerable<SampleScore> selection, CancellationToken cancellationToken = default) =>
        Ref(await store.PutBytesAsync(ArtifactLayout.Selection(experimentId, round), ArtifactJson.Encode(selection.ToArray()), cancellationToken: cancellationToken));

    /// <summary>Stores the labeled set the selector of <paramref name="round"/> trains on.</summary>
    public async Task<ArtifactRef> WriteLabeledAsync(string experimentId, int round, IEnumerable<long> ids, CancellationToken cancellationToken = default) =>
        Ref(await store.PutBytesAsync(ArtifactLayout.Labeled(experimentId, round), ArtifactJson.Labeled(ids), cancellationToken: cancellationToken));

    /// <summary>Stores externally imported labels of the round's selection, by sample id.</summary>
    public Task WriteLabelsAsync(string experimentId, int round, IEnumerable<SampleLabel> labels) =>
        store.PutBytesAsync(ArtifactLayout.Labels(experimentId, round), ArtifactJson.Encode(labels.OrderBy(l => l.SampleId).ToArray()));

    /// <summary>The round's stored shard answers.</summary>
    public async Task<T> ShardScoresAsync<T>(string experimentId, int round, CancellationToken cancellationToken = default)
    {
        var name = ArtifactLayout.ShardScores(experimentId, round);
        return ArtifactJson.Decode<T>(await store.ReadBytesAsync(name, cancellationToken), name, "shard-scores file");
    }

    /// <summary>Stores the round's shard answers for the merge.</summary>
    public Task WriteShardScoresAsync<T>(string experimentId, int round, T scores, CancellationToken cancellationToken = default) =>
        store.PutBytesAsync(ArtifactLayout.ShardScores(experimentId, round), ArtifactJson.Encode(scores), cancellationToken: cancellationToken);

    /// <summary>Stores one answered work unit of the round being scored.</summary>
    public Task WriteUnitScoresAsync<T>(string experimentId, int round, int unit, T scores, CancellationToken cancellationToken = default) =>
        store.PutBytesAsync(ArtifactLayout.UnitScores(experimentId, round, unit), ArtifactJson.Encode(scores), cancellationToken: cancellationToken);

    /// <summary>
    /// The answered work units stored for the round so far. One that cannot be read (a write cut short) is left out:
    /// that unit is scored again.
    /// </summary>
    public async Task<List<T>> UnitScoresAsync<T>(string experimentId, int round, CancellationToken cancellationToken = default)
    {
        var found = new List<T>();
        await foreach (var a in store.ListAsync(ArtifactLayout.UnitScoresFolder(experimentId, round), cancellationToken))
        {
            try
            {
                found.Add(ArtifactJson.Decode<T>(await store.ReadBytesAsync(a.Name, cancellationToken), a.Name, "work-unit scores"));
            }
            catch (DataFormatException)
            {
                // Scored again.
            }
        }
        return found;
    }

    /// <summary>Removes the round's answered work units (once the merged shard scores are stored).</summary>
    public async Task DeleteUnitScoresAsync(string experimentId, int round, CancellationToken cancellationToken = default)
    {
        var names = new List<string>();
        await foreach (var a in store.ListAsync(ArtifactLayout.UnitScoresFolder(experimentId, round), cancellationToken)) names.Add(a.Name);
        foreach (var name in names) await store.DeleteAsync(name, cancellationToken);
    }

    /// <summary>Stores the final report (the completed status).</summary>
    public Task WriteReportAsync(string experimentId, ExperimentStatus status) => store.PutBytesAsync(ArtifactLayout.Report(experimentId), ArtifactJson.Encode(status));

    /// <summary>A checkpoint's bytes (θ0, a selector, the final network).</summary>
    public Task<byte[]> CheckpointAsync(string name, CancellationToken cancellationToken = default) => store.ReadBytesAsync(name, cancellationToken);

    /// <summary>Uploaded initial weights by digest; never uploaded is an <see cref="ArgumentException"/> saying how to
    /// upload them.</summary>
    public async Task<byte[]> InitialWeightsAsync(string sha256, CancellationToken cancellationToken = default)
    {
        try
        {
            return await store.ReadBytesAsync(ArtifactLayout.InitialWeights(sha256), cancellationToken);
        }
        catch (ArtifactNotFoundException)
        {
            throw new ArgumentException($"initial weights {sha256} are not in the store: pass the file with --init-weights FILE and the console uploads it");
        }
    }

    /// <summary>Stores a checkpoint; returns the version written.</summary>
    public async Task<ArtifactRef> WriteCheckpointAsync(string name, byte[] bytes, CancellationToken cancellationToken = default) =>
        Ref(await store.PutBytesAsync(name, bytes, cancellationToken: cancellationToken));

    /// <summary>True when the artifact exists.</summary>
    public async Task<bool> ExistsAsync(string name) => await store.GetInfoAsync(name) is not null;

    /// <summary>A pool shard's current version; a missing shard is an error naming it.</summary>
    public async Task<ArtifactInfo> ShardInfoAsync(string artifact, CancellationToken cancellationToken = default) =>
        await store.GetInfoAsync(artifact, cancellationToken) ?? throw new ArtifactNotFoundException(artifact, store.Description);

    /// <summary>Every artifact under the experiment's folder.</summary>
    public async Task<List<ArtifactInfo>> ExperimentArtifactsAsync(string experimentId)
    {
        var all = new List<ArtifactInfo>();
        await foreach (var a in store.ListAsync(ArtifactLayout.Experiment(experimentId) + "/")) all.Add(a);
        return all;
    }

    /// <summary>Removes one artifact (false when it was not there).</summary>
    public Task<bool> DeleteAsync(string name) => store.DeleteAsync(name);

    private static ArtifactRef Ref(ArtifactInfo info) => new(info.Name, info.ETag);

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
