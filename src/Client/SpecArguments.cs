using System.Globalization;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Client;

/// <summary>
/// A spec as the console's <c>experiment start</c> options: the one place that maps spec fields to option names,
/// read by the reproduce line and the HTML report's spec table (a test parses the line back into the same spec).
/// </summary>
public static class SpecArguments
{
    /// <summary>Every spec field as (option, value); flags appear only when set.</summary>
    public static IReadOnlyList<(string Option, string? Value)> Of(ExperimentSpec s)
    {
        var all = new List<(string, string?)>
        {
            ("--dataset", s.DatasetId), ("--arch", s.Arch.Value), ("--width-multiplier", N(s.WidthMultiplier)),
            ("--selector", s.Selector.Name()), ("--prune", N(s.PruneRatio)), ("--pruning", s.PruningMethod.Name()),
            ("--proxy-arch", s.ProxyArch.Value), ("--metric", s.Metric.Name()), ("--initial", N(s.InitialLabeled)), ("--round-size", N(s.RoundSize)),
            ("--rounds", N(s.Rounds)), ("--selector-epochs", N(s.SelectorEpochs)), ("--final-epochs", N(s.FinalEpochs)),
            ("--kd-alpha", N(s.DistillationAlpha)), ("--kd-temperature", N(s.DistillationTemperature)), ("--kd-decay", N(s.DistillationDecay)), ("--seed", N(s.Seed)),
            ("--batch-size", N(s.BatchSize)), ("--label-source", s.LabelSource.Name()), ("--warm-epochs", N(s.WarmEpochs)),
            ("--selector-warm-start", s.SelectorWarmStart ? "true" : "false"), ("--fusion-source", s.FusionSource.Name()),
        };
        if (s.Stem is not null) all.Insert(2, ("--stem", s.Stem));
        if (s.Dropout != 0) all.Add(("--dropout", N(s.Dropout)));
        if (s.InitialWeights is not null) all.Add(("--init-weights", "sha256:" + s.InitialWeights));
        if (s.Normalize is not null) all.Add(("--normalize", s.Normalize));
        if (!s.Fusion) all.Add(("--no-fusion", null));
        if (s.AllowNarrow) all.Add(("--allow-narrow", null));
        return all;
    }

    /// <summary>The <c>prunefuse experiment start …</c> command that starts this very experiment (under <paramref
    /// name="id"/>).</summary>
    public static string Reproduce(string id, ExperimentSpec spec) =>
        $"prunefuse experiment start {id} " + string.Join(" ", Of(spec).Select(a => a.Value is null ? a.Option : $"{a.Option} {Quote(a.Value)}"));

    private static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    // Ids and names are [a-z0-9_-] in practice; quote anything else so the line pastes into a shell as is.
    private static string Quote(string v) => v.Length > 0 && v.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/') ? v : $"'{v.Replace("'", "'\\''", StringComparison.Ordinal)}'";
}
