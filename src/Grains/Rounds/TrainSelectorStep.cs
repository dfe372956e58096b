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
        return await c.TrainSelectorAsync("training selector", cancellationToken);
    }
}
