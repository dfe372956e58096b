namespace PruneFuse.Learning.Training;

/// <summary>
/// SVP's piecewise schedule: one warm-up epoch at the warm-up rate, then the base rate for the first 50% of the
/// remaining epochs, base/10 for the next 25% and base/100 for the last 25%.
/// </summary>
public static class LearningRateSchedule
{
    /// <summary>Learning rate of zero-based <paramref name="epoch"/> out of <paramref name="epochs"/>.</summary>
    public static double ForEpoch(int epoch, int epochs, double baseRate = 0.1, double warmupRate = 0.01)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        if (epoch < 0 || epoch >= epochs) throw new ArgumentOutOfRangeException(nameof(epoch), epoch, $"epoch must be in 0..{epochs - 1}");
        if (epoch == 0) return warmupRate;
        var remaining = epochs - 1;
        var r = epoch - 1;
        // Boundaries are rounded up so short runs still spend their first epochs at the base rate.
        var first = (int)Math.Ceiling(remaining * 0.5);
        var second = (int)Math.Ceiling(remaining * 0.75);
        return r < first ? baseRate : r < second ? baseRate / 10 : baseRate / 100;
    }
}
