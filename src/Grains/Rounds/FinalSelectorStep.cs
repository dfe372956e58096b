using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// After the last round: makes the fusion source (and teacher) current when fusion or distillation needs one, as the
/// spec's <see cref="FusionSource"/> says: a selector retrained from its θ0 slice on the final labeled set, the last
/// round's selector trained a few more epochs on it, or the last round's selector as it is. Otherwise the last round's
/// selector stays current, and the random selector has none.
/// </summary>
public sealed class FinalSelectorStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly FinalSelectorStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (s, spec) = (c.State, c.Spec);
        if (spec.Selector == SelectorKind.Random)
        {
            s.CurrentSelector = null;
            return true;
        }
        if (spec.Selector != SelectorKind.Pruned || !(spec.Fusion || spec.DistillationAlpha > 0)) return true;
        switch (spec.FusionSource)
        {
            case FusionSource.LastRound:
                // Nothing trains: the final selector costs nothing and trained no epochs; its accuracy is the last round's.
                s.CurrentSelector = s.CurrentSelector! with { Seconds = 0, Epochs = 0, StartedFrom = null };
                return true;
            case FusionSource.Warm:
                return await c.TrainSelectorAsync("training the final selector (warm start)", cancellationToken, s.CurrentSelector!.Checkpoint, spec.WarmEpochs);
            default:
                return await c.TrainSelectorAsync("training the final selector", cancellationToken);
        }
    }
}
