using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// Trains the current round's selector on the labeled set (the random selector needs none): from its θ0 slice, or with
/// a warm start from the previous round's trained selector for fewer epochs.
/// </summary>
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
        // CurrentSelector is still the previous round's until this training succeeds, so a retried step starts from
        // the same checkpoint.
        if (c.Spec.SelectorWarmStart && s.CurrentSelector is { } previous)
        {
            return await c.TrainSelectorAsync("training selector (warm start)", cancellationToken, previous.Checkpoint, c.Spec.WarmEpochs);
        }
        return await c.TrainSelectorAsync("training selector", cancellationToken);
    }
}
