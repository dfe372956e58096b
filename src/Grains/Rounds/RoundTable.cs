using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// The round loop in one place: which class runs each persisted step, and which step follows it. Adding a stage is
/// one new <see cref="IRoundStep"/> file, one <see cref="CoordinatorStep"/> value and one line here.
/// </summary>
public static class RoundTable
{
    /// <summary>The step that runs <paramref name="step"/>; null for the steps that wait (labels) or are done.</summary>
    public static IRoundStep? Runner(CoordinatorStep step) => step switch
    {
        CoordinatorStep.Setup => SetupStep.Instance,
        CoordinatorStep.TrainSelector => TrainSelectorStep.Instance,
        CoordinatorStep.Score => ScoreStep.Instance,
        CoordinatorStep.Commit => CommitStep.Instance,
        CoordinatorStep.FinalSelector => FinalSelectorStep.Instance,
        CoordinatorStep.Fuse => FuseStep.Instance,
        _ => null,
    };

    /// <summary>The step after <paramref name="finished"/> completed, given the state it left.</summary>
    public static CoordinatorStep Next(CoordinatorStep finished, CoordinatorState s) => finished switch
    {
        CoordinatorStep.Setup => AfterLabels(s),
        CoordinatorStep.TrainSelector => CoordinatorStep.Score,
        CoordinatorStep.Score => CoordinatorStep.Commit,
        CoordinatorStep.Commit => AfterLabels(s),
        CoordinatorStep.AwaitLabels => NextRound(s),
        CoordinatorStep.FinalSelector => CoordinatorStep.Fuse,
        CoordinatorStep.Fuse => CoordinatorStep.Done,
        _ => throw new InvalidOperationException($"no step follows {finished}"),
    };

    /// <summary>
    /// The step to run for a persisted <paramref name="step"/>. State written before the final selector had its own
    /// step stored it as TrainSelector past the last round.
    /// </summary>
    public static CoordinatorStep Resume(CoordinatorStep step, CoordinatorState s) =>
        step == CoordinatorStep.TrainSelector && s.Round > s.Spec!.Rounds ? CoordinatorStep.FinalSelector : step;

    // A selection's labels come from the dataset at once, or from an import the experiment waits for.
    private static CoordinatorStep AfterLabels(CoordinatorState s) =>
        s.Spec!.LabelSource == LabelSource.External ? CoordinatorStep.AwaitLabels : NextRound(s);

    private static CoordinatorStep NextRound(CoordinatorState s) =>
        s.Round > s.Spec!.Rounds ? CoordinatorStep.FinalSelector : CoordinatorStep.TrainSelector;
}
