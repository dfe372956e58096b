namespace PruneFuse.Grains.Interfaces;

/// <summary>Lifecycle of an experiment.</summary>
public enum ExperimentState
{
    /// <summary>No experiment with this id.</summary>
    None,
    /// <summary>Rounds or final training in progress.</summary>
    Running,
    /// <summary>Finished; results are stored.</summary>
    Completed,
    /// <summary>Stopped by an error; <see cref="ExperimentStatus.Error"/> says why.</summary>
    Failed,
    /// <summary>Cancelled by the user.</summary>
    Cancelled,
}

/// <summary>A reference to a stored artifact at one version; messages carry these, never tensors.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ArtifactRef")]
public sealed record ArtifactRef([property: Id(0)] string Name, [property: Id(1)] string ETag);

/// <summary>One completed selection round.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.RoundRecord")]
public sealed record RoundRecord
{
    /// <summary>Round number, from 1.</summary>
    [Id(0)] public int Round { get; init; }

    /// <summary>Labeled-set size after this round's selection.</summary>
    [Id(1)] public int Labeled { get; init; }

    /// <summary>Test accuracy of the selector trained this round (null for random selection).</summary>
    [Id(2)] public double? SelectorAccuracy { get; init; }

    /// <summary>Seconds spent training the selector this round.</summary>
    [Id(3)] public double SelectorTrainSeconds { get; init; }

    /// <summary>Seconds spent scoring the pool and merging.</summary>
    [Id(4)] public double ScoringSeconds { get; init; }

    /// <summary>Unlabeled samples scored.</summary>
    [Id(5)] public long Scored { get; init; }

    /// <summary>The stored selection (sample id, shard, score).</summary>
    [Id(6)] public string SelectionArtifact { get; init; } = "";

    /// <summary>Silo that trained this round's selector.</summary>
    [Id(7)] public string? SelectorSilo { get; init; }

    /// <summary>Silos that scored work units this round.</summary>
    [Id(8)] public string[] ScoredOn { get; init; } = [];

    /// <summary>Epochs the round's selector trained (0 for random selection and for rounds stored before this
    /// field).</summary>
    [Id(9)] public int SelectorEpochs { get; init; }

    /// <summary>The trained selector checkpoint this round's selector was warm-started from; null: its θ0
    /// slice.</summary>
    [Id(10)] public string? SelectorStartedFrom { get; init; }

    /// <summary>Each silo's share of this round's scoring: work units, samples, busy seconds, units lost (empty for
    /// rounds stored before this field).</summary>
    [Id(11)] public SiloScoring[] ScoringSilos { get; init; } = [];

    /// <summary>Work units the pool was cut into this round (0 for rounds stored before this field).</summary>
    [Id(12)] public int ScoringUnits { get; init; }

    /// <summary>Selection seconds = selector training + scoring.</summary>
    public double SelectionSeconds => SelectorTrainSeconds + ScoringSeconds;
}

/// <summary>Outcome of the final training.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.FinalResult")]
public sealed record FinalResult
{
    /// <summary>Test accuracy after the last epoch.</summary>
    [Id(0)] public double Accuracy { get; init; }

    /// <summary>Best test accuracy over epochs.</summary>
    [Id(1)] public double BestAccuracy { get; init; }

    /// <summary>Training seconds (evaluation excluded).</summary>
    [Id(2)] public double TrainSeconds { get; init; }

    /// <summary>Per-epoch test accuracy.</summary>
    [Id(3)] public double[] EpochAccuracies { get; init; } = [];

    /// <summary>Whether the network started from the fused weights.</summary>
    [Id(4)] public bool Fused { get; init; }

    /// <summary>The stored final checkpoint.</summary>
    [Id(5)] public string Checkpoint { get; init; } = "";

    /// <summary>Silo that trained the final network.</summary>
    [Id(6)] public string Silo { get; init; } = "";
}

/// <summary>Everything a client needs to show an experiment's progress.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ExperimentStatus")]
public sealed record ExperimentStatus
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Lifecycle state.</summary>
    [Id(1)] public ExperimentState State { get; init; }

    /// <summary>The spec, once started.</summary>
    [Id(2)] public ExperimentSpec? Spec { get; init; }

    /// <summary>Current round (1-based) while selecting; Rounds+1 during final training.</summary>
    [Id(3)] public int Round { get; init; }

    /// <summary>What is running now, e.g. "training selector", "scoring pool".</summary>
    [Id(4)] public string Stage { get; init; } = "";

    /// <summary>Current labeled-set size.</summary>
    [Id(5)] public int Labeled { get; init; }

    /// <summary>Completed rounds.</summary>
    [Id(6)] public RoundRecord[] Rounds { get; init; } = [];

    /// <summary>Final result, once completed.</summary>
    [Id(7)] public FinalResult? Final { get; init; }

    /// <summary>Why the experiment failed.</summary>
    [Id(8)] public string? Error { get; init; }

    /// <summary>Selector parameters and MACs per image.</summary>
    [Id(9)] public long SelectorParams { get; init; }

    /// <summary>Selector multiply-accumulates per image.</summary>
    [Id(10)] public long SelectorMacs { get; init; }

    /// <summary>When the experiment started.</summary>
    [Id(11)] public DateTimeOffset StartedAt { get; init; }

    /// <summary>When it completed, failed or was cancelled.</summary>
    [Id(12)] public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Test accuracy of the selector trained on the final budget (the teacher and fusion source), if
    /// any.</summary>
    [Id(13)] public double? FinalSelectorAccuracy { get; init; }

    /// <summary>Seconds spent training that final selector (part of PruneFuse's selection cost).</summary>
    [Id(14)] public double FinalSelectorSeconds { get; init; }

    /// <summary>Set while the coordinator retries a step after a transient failure.</summary>
    [Id(15)] public string? Warning { get; init; }

    /// <summary>
    /// The round whose selection waits for external labels (label source "external"), or null when the experiment is
    /// not waiting: the typed form of the "waiting for labels" stage, for callers that must not parse display text.
    /// </summary>
    [Id(16)] public int? AwaitingLabelsRound { get; init; }

    /// <summary>The selector's or final network's training progress while one trains, else null.</summary>
    [Id(17)] public TrainingProgress? Training { get; init; }

    /// <summary>The current round's pool scoring, per silo, while the pool is scored; else null.</summary>
    [Id(18)] public ScoringProgress? Scoring { get; init; }

    /// <summary>Epochs that final selector trained (0: the last round's selector fused as it is).</summary>
    [Id(19)] public int FinalSelectorEpochs { get; init; }

    /// <summary>The trained checkpoint the final selector was warm-started from; null: its θ0 slice or no
    /// training.</summary>
    [Id(20)] public string? FinalSelectorStartedFrom { get; init; }

    /// <summary>What the start adapted and says once: a replaced classifier, a stem summed for gray images, ImageNet
    /// statistics.</summary>
    [Id(21)] public string[] Notes { get; init; } = [];
}
