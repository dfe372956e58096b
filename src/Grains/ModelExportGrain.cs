using Orleans.Concurrency;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Export;

namespace PruneFuse.Grains;

/// <summary>Reads an experiment's checkpoint from the store and converts it with <see cref="ModelExport"/>.</summary>
[StatelessWorker]
public sealed class ModelExportGrain(ExperimentStore experiments, TorchWorker compute) : Grain, IModelExportGrain
{
    /// <inheritdoc />
    public async Task<ExportedModel> Export(string network, string format)
    {
        var id = ArtifactName.ValidateId(this.GetPrimaryKeyString(), "experiment id");
        var modelFormat = ModelExport.ParseFormat(format ?? "");
        network = (network ?? "").Trim().ToLowerInvariant();
        if (network is not ("final" or "selector")) throw new ArgumentException($"unknown network '{network}': use final or selector");
        if (!await experiments.ExistsAsync(ArtifactLayout.Spec(id))) throw new ArgumentException($"unknown experiment '{id}'");
        var spec = await experiments.SpecAsync(id);
        var manifest = await experiments.ManifestAsync(spec.DatasetId);
        var source = network == "final" ? ArtifactLayout.Final(id) : await LatestSelectorAsync(id, spec);
        if (source is null || !await experiments.ExistsAsync(source))
        {
            throw new InvalidOperationException(network == "final"
                ? $"experiment '{id}' has no final network yet: it is written when the experiment completes"
                : $"experiment '{id}' has no trained selector yet{(spec.Selector == SelectorKind.Random ? " (random selection trains none)" : "")}");
        }
        var bytes = await experiments.CheckpointAsync(source);
        var weightsFile = network + ModelExport.Extension(modelFormat);
        var (weights, description) = await compute.Run(() =>
        {
            var (model, meta) = Checkpoint.Load(bytes, source);
            using (model)
            {
                var tags = new Dictionary<string, string>(meta.Tags) { ["experiment"] = id, ["network"] = network, ["dataset"] = spec.DatasetId, ["source"] = source };
                var normalization = meta.NormalizationOr(manifest.Normalization);
                return (ModelExport.Weights(model, modelFormat, normalization, tags, (manifest.Height, manifest.Width)), ModelExport.Describe(model.Spec, normalization, weightsFile, modelFormat, manifest.ClassNames, tags));
            }
        });
        return new ExportedModel { Network = network, WeightsFile = weightsFile, Weights = weights, DescriptionFile = network + ".json", Description = description, Source = source };
    }

    // The final selector (round Rounds+1) when it exists, else the latest round's.
    private async Task<string?> LatestSelectorAsync(string id, ExperimentSpec spec)
    {
        for (var round = spec.Rounds + 1; round >= 1; round--)
        {
            var name = ArtifactLayout.Selector(id, round);
            if (await experiments.ExistsAsync(name)) return name;
        }
        return null;
    }
}
