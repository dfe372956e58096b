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

    /// <summary>
    /// Work units this silo scores at once (<c>PruneFuse:Compute:Slots</c>); each ONNX slot uses
    /// <see cref="ScoringThreads"/> threads. The torch engine scores on the silo's one compute thread, so it needs 1.
    /// </summary>
    public int Slots { get; init; } = 1;

    /// <summary>
    /// libtorch's threads on this silo (<c>PruneFuse:Compute:TorchThreads</c>): selector and fusion training, and pool
    /// scoring on the torch engine; 0 = libtorch's own choice (the cores it may use).
    /// </summary>
    public int TorchThreads { get; init; }

    /// <summary>
    /// Most samples in one work unit when this silo coordinates a round (<c>PruneFuse:Scoring:UnitSamples</c>): shards
    /// are cut into near-equal units no larger, so a round has many more units than silos and a slow silo takes fewer.
    /// </summary>
    public int UnitSamples { get; init; } = DefaultUnitSamples;

    /// <summary>Default <see cref="UnitSamples"/>: about 1–2 seconds of one CPU thread's ONNX scoring.</summary>
    public const int DefaultUnitSamples = 8192;

    /// <summary>Where ONNX sessions run: CPU, or CUDA when possible on a gpu silo (set from the silo's accelerator).</summary>
    public OnnxDevice OnnxDevice { get; init; } = OnnxDevice.Cpu;

    /// <summary><paramref name="share"/> of the memory available to this process (its container limit, if any).</summary>
    public static long DefaultMaxSpecMemoryBytes(double share) => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * share);
}
