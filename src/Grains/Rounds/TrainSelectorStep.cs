using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>Trains the current round's selector on the labeled set (the random selector needs none).</summary>
public sealed class TrainSelectorStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly TrainSelectorStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var s = c.State;
        if (c.Spec.Selector == SelectorKind.Random)
        {
            s.CurrentSelector = null;
            return true;
        }
        var grain = c.Grains.GetGrain<ISelectorGrain>(c.ExperimentId);
        var trained = await c.TrainingAsync("training selector",
            grain.Train(new SelectorTrainRequest { ExperimentId = c.ExperimentId, Round = s.Round, Labeled = s.CurrentLabeled! }, cancellationToken),
            grain.GetTrainingProgress);
        if (!c.Running) return false;
        s.CurrentSelector = trained;
        return true;
    }
}
