using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Grains.Interfaces;

/// <summary>Trains the round's selector network (key = experiment id).</summary>
[Alias("prunefuse.ISelectorGrain")]
public interface ISelectorGrain : IGrainWithStringKey
{
    /// <summary>Trains the selector from its θ0 slice (or a trained checkpoint) on the labeled set and stores the checkpoint. Cancellation ends it within a batch.</summary>
    [ResponseTimeout("02:00:00")]
    Task<SelectorTrainResult> Train(SelectorTrainRequest request, CancellationToken cancellationToken = default);

    /// <summary>Progress of the training running on this grain, or null when none ran yet (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    [ViewerMayCall]
    Task<TrainingProgress?> GetTrainingProgress();
}

/// <summary>A selector training request.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SelectorTrainRequest")]
public sealed record SelectorTrainRequest
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Round (Rounds+1 = the final selector trained on the whole budget).</summary>
    [Id(1)] public int Round { get; init; }

    /// <summary>Labeled set to train on.</summary>
    [Id(2)] public ArtifactRef Labeled { get; init; } = new("", "");

    /// <summary>A trained selector checkpoint to start from (warm start); null: the selector's θ0 slice.</summary>
    [Id(3)] public ArtifactRef? StartFrom { get; init; }

    /// <summary>Epochs to train; 0: the spec's selector epochs.</summary>
    [Id(4)] public int Epochs { get; init; }
}

/// <summary>A trained selector.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SelectorTrainResult")]
public sealed record SelectorTrainResult
{
    /// <summary>Where the trained selector is.</summary>
    [Id(0)] public ArtifactRef Checkpoint { get; init; } = new("", "");

    /// <summary>Test accuracy of the trained selector.</summary>
    [Id(1)] public double Accuracy { get; init; }

    /// <summary>Training seconds.</summary>
    [Id(2)] public double Seconds { get; init; }

    /// <summary>Silo that trained it.</summary>
    [Id(3)] public string Silo { get; init; } = "";

    /// <summary>Epochs it trained.</summary>
    [Id(4)] public int Epochs { get; init; }

    /// <summary>The trained checkpoint it started from (warm start); null: its θ0 slice.</summary>
    [Id(5)] public string? StartedFrom { get; init; }
}
