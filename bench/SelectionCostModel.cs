using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Bench;

/// <summary>Measured rates of one network: training and scoring samples per second.</summary>
/// <param name="Training">Training samples/s (one epoch, the study's batch size).</param>
/// <param name="Scoring">Scoring samples/s (the faster engine, its best batch size).</param>
internal sealed record NetworkRates(double Training, double Scoring);

/// <summary>
/// Selection cost of a protocol from measured rates: every selector training (epochs × labeled samples ÷ training
/// rate), every scoring pass (unlabeled samples ÷ scoring rate) and PruneFuse's final selector (the fusion source),
/// as the study counts them (<c>StudyBenchmark.SelectionSeconds</c>). Fixed costs (checkpoints, evaluation, the
/// merge) are left out: the check against the measured resnet20 study says how much that matters.
/// </summary>
internal static class SelectionCostModel
{
    /// <summary>A study protocol: pool size and the spec's round settings.</summary>
    internal sealed record Protocol(long Pool, ExperimentSpec Spec)
    {
        /// <summary>Labeled samples when round <paramref name="round"/> (1-based) trains its selector.</summary>
        public long LabeledAt(int round) => Spec.InitialLabeled + (long)(round - 1) * Spec.RoundSize;
    }

    /// <summary>Seconds of dense active learning's selection (the dense network trains from θ0 each round).</summary>
    public static double DenseSeconds(Protocol p, NetworkRates dense)
    {
        double s = 0;
        for (var r = 1; r <= p.Spec.Rounds; r++)
        {
            s += p.Spec.SelectorEpochs * (double)p.LabeledAt(r) / dense.Training
                + (p.Pool - p.LabeledAt(r)) / dense.Scoring;
        }
        return s;
    }

    /// <summary>Seconds of PruneFuse's selection with <paramref name="pruned"/>'s rates under the spec's warm start and
    /// fusion source, the final selector included.</summary>
    public static double PruneFuseSeconds(Protocol p, NetworkRates pruned)
    {
        var spec = p.Spec;
        double s = 0;
        for (var r = 1; r <= spec.Rounds; r++)
        {
            var epochs = spec.SelectorWarmStart && r > 1 ? spec.WarmEpochs : spec.SelectorEpochs;
            s += epochs * (double)p.LabeledAt(r) / pruned.Training + (p.Pool - p.LabeledAt(r)) / pruned.Scoring;
        }
        var finalEpochs = spec.FusionSource switch
        {
            FusionSource.LastRound => 0,
            FusionSource.Warm => spec.WarmEpochs,
            _ => spec.SelectorEpochs,
        };
        return s + finalEpochs * (double)spec.Budget / pruned.Training;
    }

    /// <summary>PruneFuse's selection cost ÷ dense active learning's.</summary>
    public static double Ratio(Protocol p, NetworkRates dense, NetworkRates pruned) => PruneFuseSeconds(p,
        pruned) / DenseSeconds(p, dense);

    /// <summary>The full study preset (resnet20's thin-network case): 60,000 pool, 1,000 + 4 × 1,000, selectors 15
    /// epochs.</summary>
    public static ExperimentSpec FullPreset(ExperimentSpec defaults) => defaults with
    {
        InitialLabeled = 1000, RoundSize = 1000, Rounds = 4, SelectorEpochs = 15, FinalEpochs = 30, BatchSize = 128,
    };

    /// <summary>The cheaper variants the method study keeps as options, applied to <paramref name="spec"/>.</summary>
    public static IEnumerable<(string Name, ExperimentSpec Spec)> Variants(ExperimentSpec spec) =>
    [
        ("cold, fusion source retrain (the default)", spec with { SelectorWarmStart = false,
            FusionSource = FusionSource.Retrain }),
        ("warm-started selectors, fusion source warm", spec with { SelectorWarmStart = true,
            FusionSource = FusionSource.Warm }),
        ("warm-started selectors, fusion source last-round", spec with { SelectorWarmStart = true,
            FusionSource = FusionSource.LastRound }),
        ("cold, fusion source last-round", spec with { SelectorWarmStart = false,
            FusionSource = FusionSource.LastRound }),
    ];
}
