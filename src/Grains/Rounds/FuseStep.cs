using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>Fuses the final selector into θ0 (or starts from θ0 alone) and trains the full network on the labeled set.</summary>
public sealed class FuseStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly FuseStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (s, spec) = (c.State, c.Spec);
        var grain = c.Grains.GetGrain<IFusionGrain>(c.ExperimentId);
        var final = await c.TrainingAsync(spec.Selector == SelectorKind.Pruned && spec.Fusion ? "fusing and training the full network" : "training the full network",
            grain.FuseAndTrain(new FusionRequest { ExperimentId = c.ExperimentId, Labeled = s.CurrentLabeled!, Selector = s.CurrentSelector?.Checkpoint }, cancellationToken),
            grain.GetTrainingProgress);
        if (!c.Running) return false;
        s.Final = final;
        s.FinalSelector = s.CurrentSelector;
        return true;
    }
}
