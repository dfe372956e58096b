using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Grains.Interfaces;

/// <summary>Fuses the selector into θ0 and trains the full network (key = experiment id).</summary>
[Alias("prunefuse.IFusionGrain")]
public interface IFusionGrain : IGrainWithStringKey
{
    /// <summary>Builds the final network (fused or from θ0), trains it with distillation, evaluates and stores it.</summary>
    [ResponseTimeout("04:00:00")]
    Task<FinalResult> FuseAndTrain(FusionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Progress of the final training running on this grain, or null when none ran yet (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    [ViewerMayCall]
    Task<TrainingProgress?> GetTrainingProgress();
}

/// <summary>A final-training request.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.FusionRequest")]
public sealed record FusionRequest
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Final labeled set.</summary>
    [Id(1)] public ArtifactRef Labeled { get; init; } = new("", "");

    /// <summary>Trained selector (teacher and fusion source); null when there is none.</summary>
    [Id(2)] public ArtifactRef? Selector { get; init; }
}
