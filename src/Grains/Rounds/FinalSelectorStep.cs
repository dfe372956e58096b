using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// After the last round: trains the pruned selector once more on the final labeled set when fusion or distillation
/// needs it (it is the fusion source and the teacher). Otherwise the last round's selector stays current, and the
/// random selector has none.
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
        return await c.TrainSelectorAsync("training the final selector", cancellationToken);
    }
}
