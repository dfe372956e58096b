namespace PruneFuse.Grains.Compute;

/// <summary>Per-silo compute settings.</summary>
public sealed record ComputeOptions
{
    /// <summary>
    /// Bytes of pool shards a silo keeps in memory between rounds. Shards beyond it are streamed from the store
    /// batch by batch for scoring, so a silo's memory does not grow with the pool. 0 = always stream.
    /// </summary>
    public long ShardCacheBytes { get; init; } = ComputeService.DefaultShardCacheBytes;
}
