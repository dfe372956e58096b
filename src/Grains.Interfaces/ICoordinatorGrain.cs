using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Grains.Interfaces;

/// <summary>Owns an experiment: validates its spec, runs the rounds, persists every step (key = experiment id).</summary>
[Alias("prunefuse.ICoordinatorGrain")]
public interface ICoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Validates and starts the experiment; returns at once. Starting the same spec again is a no-op; a different spec for an existing id is refused.</summary>
    Task<ExperimentStatus> Start(ExperimentSpec spec);

    /// <summary>Current status (None for an unknown id).</summary>
    [ViewerMayCall]
    Task<ExperimentStatus> GetStatus();

    /// <summary>Cancels a running experiment.</summary>
    Task<ExperimentStatus> Cancel();

    /// <summary>The samples selected in <paramref name="round"/> (round 0 = the random initial set), best first.</summary>
    [ViewerMayCall]
    Task<SampleScore[]> GetSelection(int round);

    /// <summary>
    /// Imports labels for the round the experiment is waiting on (external label source). Every selected sample
    /// must get exactly one label in the dataset's class range; anything else is refused and nothing changes.
    /// </summary>
    Task<ExperimentStatus> ImportLabels(int round, SampleLabel[] labels);

    /// <summary>
    /// Removes the experiment: its stored state and every artifact under its folder (spec first, so it leaves the
    /// list at once). Refused while it runs (cancel it first); its dataset and other experiments are untouched.
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task<Deletion> Delete();
}

/// <summary>One selected or candidate sample, with the selector's predicted class (−1 when none: random, k-center, initial set).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SampleScore")]
public sealed record SampleScore([property: Id(0)] long SampleId, [property: Id(1)] double Score, [property: Id(2)] int Shard, [property: Id(3)] int Predicted = -1);

/// <summary>A label given to a sample by an external annotator.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SampleLabel")]
public sealed record SampleLabel([property: Id(0)] long SampleId, [property: Id(1)] int Label);
