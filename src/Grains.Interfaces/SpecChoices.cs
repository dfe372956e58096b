using System.Text.Json.Serialization;
using Orleans;

namespace PruneFuse.Grains.Interfaces;

// The named choices of an ExperimentSpec (the architecture is an ArchName). Numbers never travel for Metric,
// PruningMethod and LabelSource: their JSON and wire forms are the names (they were strings before they were enums).
// SelectorKind was always an enum and keeps its stored numbers; only its names are listed here.

/// <summary>Which network selects samples each round.</summary>
[ContractChoice("selector")]
public enum SelectorKind
{
    /// <summary>PruneFuse: the network pruned at initialization from θ0.</summary>
    [ContractName("pruned")] Pruned,
    /// <summary>Dense active learning: the full network selects (the paper's baseline).</summary>
    [ContractName("dense")] Dense,
    /// <summary>Selection via Proxy: a smaller architecture selects; the target trains from scratch.</summary>
    [ContractName("proxy")] Proxy,
    /// <summary>Random selection, no selector training.</summary>
    [ContractName("random")] Random,
}

/// <summary>How the selector ranks unlabeled samples.</summary>
[ContractChoice("selection metric"), JsonConverter(typeof(ContractNameJsonConverter<Metric>))]
public enum Metric
{
    /// <summary>1 − max softmax probability.</summary>
    [ContractName("least-confidence", "lc")] LeastConfidence,
    /// <summary>Entropy of the softmax.</summary>
    [ContractName("entropy")] Entropy,
    /// <summary>1 − (p₁ − p₂).</summary>
    [ContractName("margin")] Margin,
    /// <summary>A seeded uniform score per sample id.</summary>
    [ContractName("random")] Random,
    /// <summary>Greedy k-center on the selector's penultimate features (core-set).</summary>
    [ContractName("k-center", "kcentergreedy", "coreset")] KCenter,
}

/// <summary>How channels are ranked when the selector is pruned from θ0.</summary>
[ContractChoice("pruning method"), JsonConverter(typeof(ContractNameJsonConverter<PruningMethod>))]
public enum PruningMethod
{
    /// <summary>Keep the channels of largest L2 norm (the method).</summary>
    [ContractName("l2")] L2,
    /// <summary>Keep a seeded random subset (ablation).</summary>
    [ContractName("random")] Random,
}

/// <summary>Where the labels of selected samples come from.</summary>
[ContractChoice("label source"), JsonConverter(typeof(ContractNameJsonConverter<LabelSource>))]
public enum LabelSource
{
    /// <summary>The simulated annotator reveals the dataset's own label of each selected sample.</summary>
    [ContractName("dataset")] Dataset,
    /// <summary>The experiment pauses after each selection until labels are imported.</summary>
    [ContractName("external")] External,
}

/// <summary>
/// The selector PruneFuse fuses into θ0 (and distils from) after the last round. Every choice trains on, or was
/// selected with, the same labeled data; they differ in what the extra training costs.
/// </summary>
[ContractChoice("fusion source"), JsonConverter(typeof(ContractNameJsonConverter<FusionSource>))]
public enum FusionSource
{
    /// <summary>A final selector trained from its θ0 slice on the final labeled set for the selector epochs.</summary>
    [ContractName("retrain")] Retrain,
    /// <summary>The last round's selector trained <see cref="ExperimentSpec.WarmEpochs"/> more epochs on the final
    /// labeled set.</summary>
    [ContractName("warm")] Warm,
    /// <summary>The last round's selector as it is: no final training (it has not seen the last round's
    /// samples).</summary>
    [ContractName("last-round")] LastRound,
}

[RegisterSerializer] internal sealed class FusionSourceCodec : ContractNameCodec<FusionSource>;
[RegisterSerializer] internal sealed class MetricCodec : ContractNameCodec<Metric>;
[RegisterSerializer] internal sealed class PruningMethodCodec : ContractNameCodec<PruningMethod>;
[RegisterSerializer] internal sealed class LabelSourceCodec : ContractNameCodec<LabelSource>;
