namespace PruneFuse.Grains.Interfaces;

/// <summary>Where a running training is: epochs done, last loss and accuracy, time so far (selector or final network).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.TrainingProgress")]
public sealed record TrainingProgress
{
    /// <summary>"selector" or "final network".</summary>
    [Id(0)] public string Network { get; init; } = "";

    /// <summary>Epochs finished.</summary>
    [Id(1)] public int Epoch { get; init; }

    /// <summary>Epochs planned.</summary>
    [Id(2)] public int Epochs { get; init; }

    /// <summary>Mean training loss of the last finished epoch.</summary>
    [Id(3)] public double? TrainLoss { get; init; }

    /// <summary>Test accuracy after the last finished epoch, when the training evaluates every epoch.</summary>
    [Id(4)] public double? TestAccuracy { get; init; }

    /// <summary>Seconds since the training started.</summary>
    [Id(5)] public double Seconds { get; init; }

    /// <summary>Estimated seconds left, from the mean epoch time so far; null before the first epoch ends.</summary>
    public double? EtaSeconds => Epoch > 0 ? Seconds / Epoch * (Epochs - Epoch) : null;

    /// <summary>One line for people: "epoch 3/10, loss 0.512, accuracy 71.2%, about 12 s left".</summary>
    public override string ToString()
    {
        var parts = new List<string> { $"epoch {Epoch}/{Epochs}" };
        if (TrainLoss is { } loss) parts.Add(FormattableString.Invariant($"loss {loss:F3}"));
        if (TestAccuracy is { } acc) parts.Add(FormattableString.Invariant($"accuracy {acc * 100:F1}%"));
        if (EtaSeconds is { } eta) parts.Add(FormattableString.Invariant($"about {Math.Ceiling(eta):F0} s left"));
        return string.Join(", ", parts);
    }
}
