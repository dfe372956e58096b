using Orleans.Concurrency;

namespace PruneFuse.Grains.Interfaces;

/// <summary>
/// A silo's scoring worker (key = the silo's address, as <c>cluster status</c> shows it; it is always placed on that
/// silo). Scores work units (slices of pool shards) with the silo's replica of a round's selector. The coordinator
/// hands each compute silo as many units at a time as it has compute slots and a new one as each finishes, so a
/// faster silo takes more of a round and a silo that joins mid-round takes work.
/// </summary>
[Alias("prunefuse.IScoringWorkerGrain")]
public interface IScoringWorkerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Scores the unit's unlabeled samples and returns their local top-k (k-center: candidates with features).
    /// Cancellation (an experiment cancel, a stopping silo) ends it within a batch.
    /// </summary>
    [ResponseTimeout("00:30:00"), AlwaysInterleave]
    Task<UnitScoreResult> Score(ScoreRequest request, WorkUnit unit, CancellationToken cancellationToken = default);
}

/// <summary>
/// A slice of one pool shard: samples [<paramref name="First"/>, <paramref name="First"/> + <paramref name="Count"/>)
/// in the shard's order. A round's units depend only on the pool and the unit size, never on the silos.
/// </summary>
/// <param name="Index">The unit's position in the round (results are merged in this order).</param>
/// <param name="Shard">Pool shard index.</param>
/// <param name="First">First sample's position within the shard.</param>
/// <param name="Count">Samples in the unit.</param>
[GenerateSerializer, Immutable, Alias("prunefuse.WorkUnit")]
public sealed record WorkUnit([property: Id(0)] int Index, [property: Id(1)] int Shard, [property: Id(2)] int First, [property: Id(3)] int Count);

/// <summary>A round's scoring request (the same for every unit of the round).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ScoreRequest")]
public sealed record ScoreRequest
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Round being scored.</summary>
    [Id(1)] public int Round { get; init; }

    /// <summary>The selector checkpoint to score with (null for random selection).</summary>
    [Id(2)] public ArtifactRef? Selector { get; init; }

    /// <summary>The labeled-set artifact for this round (samples to skip).</summary>
    [Id(3)] public ArtifactRef Labeled { get; init; } = new("", "");

    /// <summary>Selection metric.</summary>
    [Id(4)] public Metric Metric { get; init; }

    /// <summary>How many to return (the round size).</summary>
    [Id(5)] public int K { get; init; }

    /// <summary>Experiment seed (random metric).</summary>
    [Id(6)] public long Seed { get; init; }

    /// <summary>The pool's dataset id.</summary>
    [Id(7)] public string DatasetId { get; init; } = "";
}

/// <summary>A unit's answer: its local top-k (and k-center candidates' features when that metric is used).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.UnitScoreResult")]
public sealed record UnitScoreResult
{
    /// <summary>Local top-k, best first.</summary>
    [Id(0)] public SampleScore[] TopK { get; init; } = [];

    /// <summary>Unlabeled samples scored.</summary>
    [Id(1)] public long Scored { get; init; }

    /// <summary>Seconds spent.</summary>
    [Id(2)] public double Seconds { get; init; }

    /// <summary>Features of the k-center candidates, aligned with <see cref="TopK"/> (empty otherwise).</summary>
    [Id(3)] public float[][] Features { get; init; } = [];

    /// <summary>Silo that did the work.</summary>
    [Id(5)] public string Silo { get; init; } = "";

    /// <summary>The unit answered for.</summary>
    [Id(6)] public WorkUnit? Unit { get; init; }
}
