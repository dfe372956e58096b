namespace PruneFuse.Grains.Interfaces;

/// <summary>Which network selects samples each round.</summary>
public enum SelectorKind
{
    /// <summary>PruneFuse: the network pruned at initialization from θ0.</summary>
    Pruned,
    /// <summary>Dense active learning: the full network selects (the paper's baseline).</summary>
    Dense,
    /// <summary>Selection via Proxy: a smaller architecture selects; the target trains from scratch.</summary>
    Proxy,
    /// <summary>Random selection, no selector training.</summary>
    Random,
}

/// <summary>Everything that defines an experiment. Same spec and seed give the same selections.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ExperimentSpec")]
public sealed record ExperimentSpec
{
    /// <summary>Dataset id (imported with <c>prunefuse dataset import</c>).</summary>
    [Id(0)] public string DatasetId { get; init; } = "fashion-mnist";

    /// <summary>Target architecture (resnet8/14/20/32/56/110).</summary>
    [Id(1)] public string Arch { get; init; } = "resnet20";

    /// <summary>Width multiplier of the target.</summary>
    [Id(2)] public double WidthMultiplier { get; init; } = 1.0;

    /// <summary>Which network selects.</summary>
    [Id(3)] public SelectorKind Selector { get; init; } = SelectorKind.Pruned;

    /// <summary>Pruning ratio p (fraction of channels removed per group) for the pruned selector.</summary>
    [Id(4)] public double PruneRatio { get; init; } = 0.5;

    /// <summary>Channel importance: <c>l2</c> or <c>random</c> (ablation).</summary>
    [Id(5)] public string PruningMethod { get; init; } = "l2";

    /// <summary>Proxy architecture for <see cref="SelectorKind.Proxy"/>.</summary>
    [Id(6)] public string ProxyArch { get; init; } = "resnet8";

    /// <summary>Selection metric: least-confidence, entropy, margin, random, k-center.</summary>
    [Id(7)] public string Metric { get; init; } = "least-confidence";

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
    /// study in BENCHMARKS.md measured the final network best without it: accuracy falls as α grows (0 > 0.1 > 0.25 > 0.5).
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
    [Id(18)] public string LabelSource { get; init; } = "dataset";

    /// <summary>
    /// Accept networks with fewer than <c>4</c> channels in a stage (a tiny width multiplier or a pruning ratio near 1).
    /// Such networks usually train at chance, so they are refused unless asked for.
    /// </summary>
    [Id(19)] public bool AllowNarrow { get; init; }

    /// <summary>Final labeled-set size.</summary>
    public int Budget => InitialLabeled + Rounds * RoundSize;
}
