namespace PruneFuse.Grains.Interfaces;

/// <summary>Everything that defines an experiment. Same spec and seed give the same selections.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ExperimentSpec")]
public sealed record ExperimentSpec
{
    /// <summary>Dataset id (imported with <c>prunefuse dataset import</c>).</summary>
    [Id(0)] public string DatasetId { get; init; } = "fashion-mnist";

    /// <summary>Target architecture (a network family's name: <c>prunefuse arch list</c>).</summary>
    [Id(1)] public ArchName Arch { get; init; } = ArchName.ResNet20;

    /// <summary>Width multiplier of the target.</summary>
    [Id(2)] public double WidthMultiplier { get; init; } = 1.0;

    /// <summary>Which network selects.</summary>
    [Id(3)] public SelectorKind Selector { get; init; } = SelectorKind.Pruned;

    /// <summary>Pruning ratio p (fraction of channels removed per group) for the pruned selector.</summary>
    [Id(4)] public double PruneRatio { get; init; } = 0.5;

    /// <summary>Channel importance: <c>l2</c> or <c>random</c> (ablation).</summary>
    [Id(5)] public PruningMethod PruningMethod { get; init; } = PruningMethod.L2;

    /// <summary>Proxy architecture for <see cref="SelectorKind.Proxy"/> (any family).</summary>
    [Id(6)] public ArchName ProxyArch { get; init; } = ArchName.ResNet8;

    /// <summary>Selection metric.</summary>
    [Id(7)] public Metric Metric { get; init; } = Metric.LeastConfidence;

    /// <summary>Size of the random initial labeled set.</summary>
    [Id(8)] public int InitialLabeled { get; init; } = 1000;

    /// <summary>Samples selected per round.</summary>
    [Id(9)] public int RoundSize { get; init; } = 1000;

    /// <summary>Selection rounds; the final budget is InitialLabeled + Rounds × RoundSize.</summary>
    [Id(10)] public int Rounds { get; init; } = 3;

    /// <summary>Epochs the selector trains each round.</summary>
    [Id(11)] public int SelectorEpochs { get; init; } = 10;

    /// <summary>Epochs the final (fused) network trains.</summary>
    [Id(12)] public int FinalEpochs { get; init; } = 20;

    /// <summary>Fuse the trained selector into θ0 before final training (pruned selector only).</summary>
    [Id(13)] public bool Fusion { get; init; } = true;

    /// <summary>
    /// Distillation weight α from the selector into the fused network (0, the default, disables distillation). The
    /// study in BENCHMARKS.md measured the final network best without it: accuracy falls as α grows (0 > 0.1 > 0.25 >
    /// 0.5).
    /// </summary>
    [Id(14)] public double DistillationAlpha { get; init; }

    /// <summary>Distillation temperature T.</summary>
    [Id(15)] public double DistillationTemperature { get; init; } = 4.0;

    /// <summary>Experiment seed: every random choice flows from it.</summary>
    [Id(16)] public long Seed { get; init; }

    /// <summary>Mini-batch size for training.</summary>
    [Id(17)] public int BatchSize { get; init; } = 128;

    /// <summary>
    /// Where labels come from: <c>dataset</c> (the simulated annotator reveals the dataset's own label of each
    /// selected sample) or <c>external</c> (the experiment pauses after each selection until labels are imported).
    /// </summary>
    [Id(18)] public LabelSource LabelSource { get; init; } = LabelSource.Dataset;

    /// <summary>
    /// Accept networks with fewer than <c>4</c> channels in a stage (a tiny width multiplier or a pruning ratio near
    /// 1).
    /// Such networks usually train at chance, so they are refused unless asked for.
    /// </summary>
    [Id(19)] public bool AllowNarrow { get; init; }

    /// <summary>
    /// Rounds after the first train the selector from the previous round's trained selector for
    /// <see cref="WarmEpochs"/> epochs, instead of from its θ0 slice for <see cref="SelectorEpochs"/> (the first
    /// round always starts from the θ0 slice). Off by default: BENCHMARKS.md's "Cheaper selection" study measured
    /// it with <see cref="FusionSource.Warm"/> at 0.3× dense AL's selection cost on the full preset, but about a point
    /// below dense AL's final accuracy, where selectors from θ0 each round end above it.
    /// </summary>
    [Id(20)] public bool SelectorWarmStart { get; init; }

    /// <summary>Epochs of a warm-started selector training (rounds after the first with <see
    /// cref="SelectorWarmStart"/>, and <see cref="FusionSource.Warm"/>).</summary>
    [Id(21)] public int WarmEpochs { get; init; } = 3;

    /// <summary>Which trained selector is fused into θ0 and teaches the final network (pruned selector only).</summary>
    [Id(22)] public FusionSource FusionSource { get; init; } = FusionSource.Retrain;

    /// <summary>
    /// Fraction of the final training, in [0, 1], over which <see cref="DistillationAlpha"/> falls linearly to 0
    /// (0 keeps it constant). With 1/3 the selector guides the start of the final training only.
    /// </summary>
    [Id(23)] public double DistillationDecay { get; init; }

    /// <summary>
    /// The target's stem (<c>imagenet</c> or <c>small</c> where its family has both); null for the family's default.
    /// The proxy uses it too where its family has that stem, else its own default.
    /// </summary>
    [Id(24)] public string? Stem { get; init; }

    /// <summary>
    /// θ0 from uploaded weights instead of the seed: the SHA-256 of a file stored with <see cref="IWeightsGrain"/>
    /// (<c>--init-weights FILE</c> uploads it). Null: θ0 is drawn from the seed.
    /// </summary>
    [Id(25)] public string? InitialWeights { get; init; }

    /// <summary>
    /// Input normalisation: <c>dataset</c> (the pool's own statistics, the default) or <c>imagenet</c> (the
    /// statistics ImageNet weights were trained with). Null means <c>dataset</c>.
    /// </summary>
    [Id(26)] public string? Normalize { get; init; }

    /// <summary>Dropout probability inside the target's blocks, for families that have the option (wrn-D-K); 0:
    /// none.</summary>
    [Id(27)] public double Dropout { get; init; }

    /// <summary>Final labeled-set size.</summary>
    public int Budget => InitialLabeled + Rounds * RoundSize;
}
