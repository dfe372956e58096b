namespace PruneFuse.Grains.Interfaces;

/// <summary>What a delete removed from the artifact store.</summary>
/// <param name="Id">The experiment or dataset id.</param>
/// <param name="Artifacts">Artifacts removed (checkpoints, selections, shards, …).</param>
/// <param name="Bytes">Their total size.</param>
[GenerateSerializer, Immutable, Alias("prunefuse.Deletion")]
public sealed record Deletion([property: Id(0)] string Id, [property: Id(1)] int Artifacts, [property: Id(2)] long Bytes);
