namespace PruneFuse.Learning.Training;

/// <summary>Knowledge distillation from a teacher: L = (1−α)·CE(y, s) + α·T²·KL(softmax(t/T) ‖ softmax(s/T)).</summary>
/// <param name="Alpha">Weight of the distillation term, in [0, 1] (at the first epoch when it decays).</param>
/// <param name="Temperature">Softmax temperature T &gt; 0.</param>
/// <param name="Decay">
/// Fraction of the training, in [0, 1], over which α falls linearly to 0; 0 keeps α constant. With 1/3 the teacher
/// guides the start of training and the student learns from the labels alone for the last two thirds.
/// </param>
public sealed record DistillationOptions(double Alpha = 0.5, double Temperature = 4.0, double Decay = 0)
{
    /// <summary>Throws for values outside their ranges.</summary>
    public void Validate()
    {
        if (double.IsNaN(Alpha) || Alpha is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "distillation alpha must be in [0, 1]");
        if (double.IsNaN(Temperature) || Temperature <= 0 || Temperature > 100) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "distillation temperature must be in (0, 100]");
        if (double.IsNaN(Decay) || Decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(Decay), Decay, "distillation decay must be in [0, 1]");
    }

    /// <summary>
    /// α in epoch <paramref name="epoch"/> (0-based) of <paramref name="epochs"/>: <see cref="Alpha"/> without decay,
    /// else α·(1 − epoch / (Decay·epochs)), never below 0.
    /// </summary>
    public double AlphaAt(int epoch, int epochs)
    {
        if (Decay == 0) return Alpha;
        var span = Decay * epochs;
        return Alpha * Math.Max(0, 1 - epoch / span);
    }
}

/// <summary>The SVP-style training recipe (docs/architecture.md, "Final training and the defaults"). Defaults are the
/// recipe's.</summary>
public sealed record TrainingOptions
{
    /// <summary>Epochs, including the warm-up epoch.</summary>
    public int Epochs { get; init; } = 30;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Learning rate after warm-up (then ÷10 at 50% and ÷100 at 75% of the remaining epochs).</summary>
    public double LearningRate { get; init; } = 0.1;

    /// <summary>Learning rate of the single warm-up epoch.</summary>
    public double WarmupLearningRate { get; init; } = 0.01;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Random crop with this much zero padding (0 disables cropping).</summary>
    public int CropPadding { get; init; } = 4;

    /// <summary>Random horizontal flip.</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>Seed for shuffling and augmentation.</summary>
    public long Seed { get; init; }

    /// <summary>Distillation settings; null trains with plain cross-entropy.</summary>
    public DistillationOptions? Distillation { get; init; }

    /// <summary>Evaluate on the evaluation set after every epoch (otherwise only after the last).</summary>
    public bool EvaluateEveryEpoch { get; init; } = true;

    /// <summary>Throws for values outside their ranges.</summary>
    public void Validate()
    {
        if (Epochs is < 1 or > 10_000) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "epochs must be in 1..10000");
        if (BatchSize is < 1 or > 65_536) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be in 1..65536");
        if (!(LearningRate > 0) || !(WarmupLearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), "learning rates must be positive");
        if (Momentum is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "momentum must be in [0, 1)");
        if (WeightDecay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "weight decay must be in [0, 1]");
        if (CropPadding is < 0 or > 64) throw new ArgumentOutOfRangeException(nameof(CropPadding), CropPadding, "crop padding must be in 0..64");
        Distillation?.Validate();
    }
}
