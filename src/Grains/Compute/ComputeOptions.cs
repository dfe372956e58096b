using PruneFuse.Learning.Scoring;

namespace PruneFuse.Grains.Compute;

/// <summary>Per-silo compute settings.</summary>
public sealed record ComputeOptions
{
    /// <summary>
    /// Bytes of pool shards a silo keeps in memory between rounds. Shards beyond it are streamed from the store
    /// batch by batch for scoring, so a silo's memory does not grow with the pool. 0 = always stream.
    /// </summary>
    public long ShardCacheBytes { get; init; } = ShardCache.DefaultShardCacheBytes;

    /// <summary>
    /// The most memory an experiment's estimated training step may need; larger specs are refused at start.
    /// Default: half of the memory this process may use.
    /// </summary>
    public long MaxSpecMemoryBytes { get; init; } = DefaultMaxSpecMemoryBytes(0.5);

    /// <summary>The engine pool shards score with on this silo.</summary>
    public ScoringEngine ScoringEngine { get; init; } = ScoringEngine.Onnx;

    /// <summary>
    /// Threads the ONNX engine scores with; 0 = as many as libtorch uses on this silo (its cores, or the container's
    /// CPU limit), so both engines get the same compute budget.
    /// </summary>
    public int ScoringThreads { get; init; }

    /// <summary>Where ONNX sessions run: CPU, or CUDA when possible on a gpu silo (set from the silo's accelerator).</summary>
    public OnnxDevice OnnxDevice { get; init; } = OnnxDevice.Cpu;

    /// <summary><paramref name="share"/> of the memory available to this process (its container limit, if any).</summary>
    public static long DefaultMaxSpecMemoryBytes(double share) => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * share);
}
