namespace PruneFuse.Grains.Interfaces;

/// <summary>Exports an experiment's trained networks in PyTorch-readable formats or ONNX (key = experiment id;
/// stateless).</summary>
[Alias("prunefuse.IModelExportGrain")]
public interface IModelExportGrain : IGrainWithStringKey
{
    /// <summary>
    /// Exports <paramref name="network"/> (<c>final</c> or <c>selector</c>) as <paramref name="format"/>
    /// (<c>pytorch</c>, <c>safetensors</c> or <c>onnx</c>). Refused, naming the problem, when the network does not
    /// exist yet.
    /// </summary>
    [ResponseTimeout("00:05:00")]
    Task<ExportedModel> Export(string network, string format);
}

/// <summary>A trained network exported for use outside .NET: the weights file and its JSON description.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ExportedModel")]
public sealed record ExportedModel
{
    /// <summary>Which network: <c>final</c> (fused and trained) or <c>selector</c> (the last trained
    /// selector).</summary>
    [Id(0)] public string Network { get; init; } = "";

    /// <summary>Suggested weights file name, e.g. <c>final.pt</c> or <c>final.onnx</c>.</summary>
    [Id(1)] public string WeightsFile { get; init; } = "";

    /// <summary>The state dict in the requested format (for ONNX, the whole model).</summary>
    [Id(2)] public byte[] Weights { get; init; } = [];

    /// <summary>Suggested description file name, e.g. <c>final.json</c>.</summary>
    [Id(3)] public string DescriptionFile { get; init; } = "";

    /// <summary>Architecture, widths, layers, normalisation, class names (JSON, format
    /// <c>prunefuse-network/2</c>).</summary>
    [Id(4)] public string Description { get; init; } = "";

    /// <summary>The checkpoint artifact the export was made from.</summary>
    [Id(5)] public string Source { get; init; } = "";
}
