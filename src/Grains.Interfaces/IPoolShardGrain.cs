namespace PruneFuse.Grains.Interfaces;

/// <summary>Owns one pool shard (key = "datasetId/shardIndex"); scores its unlabeled samples with a round's selector.</summary>
[Alias("prunefuse.IPoolShardGrain")]
public interface IPoolShardGrain : IGrainWithStringKey
{
    /// <summary>Scores the shard's unlabeled samples and returns its local top-k. Cancellation (an experiment cancel, a stopping silo) ends it within a batch.</summary>
    [ResponseTimeout("00:30:00")]
    Task<ShardScoreResult> Score(ScoreRequest request, CancellationToken cancellationToken = default);
}

/// <summary>A shard's scoring request for one round.</summary>
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
}

/// <summary>A shard's answer: its local top-k (and k-center candidates' features when that metric is used).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ShardScoreResult")]
public sealed record ShardScoreResult
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
}
