using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using ImportanceMethod = PruneFuse.Learning.Pruning.PruningMethod;
using PruningMethod = PruneFuse.Grains.Interfaces.PruningMethod;

namespace PruneFuse.Grains.Experiments;

/// <summary>The networks an experiment starts from, serialised for the store.</summary>
/// <param name="Theta0">Dense θ0 (with the channel plan for a pruned selector).</param>
/// <param name="SelectorInit">The selector's starting weights (null for random selection).</param>
/// <param name="SelectorParams">Selector parameters.</param>
/// <param name="SelectorMacs">Selector MACs per image.</param>
public sealed record ExperimentNetworks(byte[] Theta0, byte[]? SelectorInit, long SelectorParams, long SelectorMacs);

/// <summary>Spec validation and the experiment's starting state; calls into the learning core, holds no math itself.</summary>
public static class ExperimentSetup
{
    /// <summary>Fewest channels a stage of the target or the selector may have unless the spec allows narrow networks.</summary>
    public const int MinStageWidth = 4;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> listing every problem of <paramref name="spec"/> against the dataset,
    /// including networks too narrow to learn and, when <paramref name="maxMemoryBytes"/> is positive, networks whose
    /// estimated training memory exceeds it.
    /// </summary>
    public static void Validate(ExperimentSpec spec, DatasetManifest dataset, long maxMemoryBytes = 0)
    {
        var problems = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok) problems.Add(problem);
        }
        // Named choices arrive as enums; a caller can still cast any number into one.
        Named(spec.Selector, problems);
        Named(spec.Arch, problems);
        if (spec.Selector == SelectorKind.Proxy) Named(spec.ProxyArch, problems, "proxy ");
        Named(spec.Metric, problems);
        Named(spec.PruningMethod, problems);
        Named(spec.LabelSource, problems);
        Named(spec.FusionSource, problems);
        Check(!double.IsNaN(spec.PruneRatio) && spec.PruneRatio >= 0 && spec.PruneRatio < 1, $"prune ratio p must be in [0, 1), got {spec.PruneRatio}");
        Check(spec.WidthMultiplier > 0 && spec.WidthMultiplier <= 16, $"width multiplier must be in (0, 16], got {spec.WidthMultiplier}");
        Check(spec.InitialLabeled >= 1, $"initial labeled set must be at least 1, got {spec.InitialLabeled}");
        Check(spec.RoundSize >= 1, $"round size must be at least 1, got {spec.RoundSize}");
        Check(spec.Rounds is >= 1 and <= 1000, $"rounds must be in 1..1000, got {spec.Rounds}");
        Check(spec.SelectorEpochs is >= 1 and <= 10_000, $"selector epochs must be in 1..10000, got {spec.SelectorEpochs}");
        Check(spec.WarmEpochs is >= 1 and <= 10_000, $"warm epochs must be in 1..10000, got {spec.WarmEpochs}");
        Check(spec.FinalEpochs is >= 1 and <= 10_000, $"final epochs must be in 1..10000, got {spec.FinalEpochs}");
        Check(spec.BatchSize is >= 2 and <= 65_536, $"batch size must be in 2..65536, got {spec.BatchSize}");
        Check(spec.DistillationAlpha is >= 0 and <= 1, $"distillation alpha must be in [0, 1], got {spec.DistillationAlpha}");
        Check(spec.DistillationTemperature is > 0 and <= 100, $"distillation temperature must be in (0, 100], got {spec.DistillationTemperature}");
        Check(spec.DistillationDecay is >= 0 and <= 1, $"distillation decay must be in [0, 1] (a fraction of the final training), got {spec.DistillationDecay}");
        Check(dataset.PoolLabeled || spec.LabelSource == LabelSource.External, $"dataset '{dataset.DatasetId}' has an unlabeled pool: use --label-source external and import labels each round");
        var budget = (long)spec.InitialLabeled + (long)spec.Rounds * spec.RoundSize;
        Check(budget <= dataset.PoolSize, $"budget {budget} (initial {spec.InitialLabeled} + {spec.Rounds} rounds × {spec.RoundSize}) is larger than the pool of dataset '{dataset.DatasetId}' ({dataset.PoolSize} samples)");
        if (problems.Count == 0) CheckSize(spec, dataset, maxMemoryBytes, problems);
        if (problems.Count > 0) throw new ArgumentException("invalid experiment spec: " + string.Join("; ", problems));
    }

    // Admission: the shapes are known before any tensor exists, so refuse what cannot learn or cannot fit.
    private static void CheckSize(ExperimentSpec spec, DatasetManifest dataset, long maxMemoryBytes, List<string> problems)
    {
        var dense = NetworkSpec.Dense(spec.Arch.Name(), dataset.Channels, dataset.Classes, spec.WidthMultiplier);
        if (!spec.AllowNarrow)
        {
            if (dense.Widths.Values.Min() < MinStageWidth)
            {
                problems.Add($"width multiplier {spec.WidthMultiplier} gives channel widths {string.Join("/", dense.Widths.Values.Distinct())}, under {MinStageWidth} channels; such a network trains at chance (pass --allow-narrow to run it anyway)");
            }
            else if (spec.Selector == SelectorKind.Pruned && dense.Widths.Values.Select(w => ChannelPlan.KeepCount(w, spec.PruneRatio)).Min() is var kept && kept < MinStageWidth)
            {
                problems.Add($"pruning ratio {spec.PruneRatio} leaves the selector {kept} channel(s) in a channel group, under {MinStageWidth} (pass --allow-narrow to run it anyway)");
            }
        }
        if (maxMemoryBytes <= 0) return;
        var target = ModelComplexity.Of(dense, dataset.Height, dataset.Width);
        long needed;
        try
        {
            // The final step trains the target with the selector as teacher; the selector never outgrows the target
            // except as a proxy, which trains alone.
            needed = target.TrainingBytes(spec.BatchSize) + 4L * target.Parameters;
            if (spec.Selector == SelectorKind.Proxy)
            {
                var proxy = ModelComplexity.Of(NetworkSpec.Dense(spec.ProxyArch.Name(), dataset.Channels, dataset.Classes), dataset.Height, dataset.Width);
                needed = Math.Max(needed, proxy.TrainingBytes(spec.BatchSize));
            }
        }
        catch (OverflowException)
        {
            needed = long.MaxValue;
        }
        if (needed > maxMemoryBytes)
        {
            problems.Add($"{spec.Arch.Name()} × {spec.WidthMultiplier} at batch size {spec.BatchSize} needs about {Gib(needed)} to train ({target.Parameters:N0} parameters), " +
                $"over this silo's limit of {Gib(maxMemoryBytes)} (PruneFuse:MaxSpecMemoryShare of its memory): use a smaller network, width multiplier or batch size");
        }
    }

    private static string Gib(long bytes) => bytes == long.MaxValue ? "more than 8 EiB" : $"{bytes / (double)(1L << 30):0.0} GiB";

    private static void Named<T>(T value, List<string> problems, string prefix = "") where T : struct, Enum
    {
        if (!ContractNames.IsDefined(value)) problems.Add(prefix + ContractNames.Unknown<T>(value.Name()));
    }

    /// <summary>The Learning metric that scores for <paramref name="metric"/>.</summary>
    public static SelectionMetric ScoringMetric(Metric metric) => metric switch
    {
        Metric.LeastConfidence => SelectionMetric.LeastConfidence,
        Metric.Entropy => SelectionMetric.Entropy,
        Metric.Margin => SelectionMetric.Margin,
        Metric.Random => SelectionMetric.Random,
        Metric.KCenter => SelectionMetric.KCenter,
        _ => throw new ArgumentException(ContractNames.Unknown<Metric>(metric.Name())),
    };

    /// <summary>Builds θ0, the channel plan and the selector's starting point. Runs on the compute thread.</summary>
    public static ExperimentNetworks CreateNetworks(ExperimentSpec spec, DatasetManifest dataset)
    {
        var denseSpec = NetworkSpec.Dense(spec.Arch.Name(), dataset.Channels, dataset.Classes, spec.WidthMultiplier);
        using var theta0 = Network.Create(denseSpec, SeedFor(spec, "theta0"));
        ChannelPlan? plan = null;
        Network? selector = null;
        try
        {
            switch (spec.Selector)
            {
                case SelectorKind.Pruned:
                    plan = ChannelPruner.Plan(theta0, spec.PruneRatio, spec.PruningMethod == PruningMethod.Random ? ImportanceMethod.Random : ImportanceMethod.L2, SeedFor(spec, "pruning"));
                    selector = ChannelPruner.Extract(theta0, plan);
                    break;
                case SelectorKind.Dense:
                    selector = Network.Create(denseSpec, SeedFor(spec, "theta0"));
                    break;
                case SelectorKind.Proxy:
                    selector = Network.Create(NetworkSpec.Dense(spec.ProxyArch.Name(), dataset.Channels, dataset.Classes), SeedFor(spec, "proxy"));
                    break;
                case SelectorKind.Random:
                    break;
            }
            var cx = selector is null ? new ModelComplexity(0, 0) : ModelComplexity.Of(selector.Spec, dataset.Height, dataset.Width);
            return new ExperimentNetworks(
                Checkpoint.Save(theta0, plan, new Dictionary<string, string> { ["role"] = "theta0" }),
                selector is null ? null : Checkpoint.Save(selector, plan, new Dictionary<string, string> { ["role"] = "selector-init" }),
                cx.Parameters, cx.Macs);
        }
        finally
        {
            selector?.Dispose();
        }
    }

    /// <summary>The seeded random initial labeled set, sorted by id.</summary>
    public static long[] InitialLabeled(ExperimentSpec spec, DatasetManifest dataset)
    {
        var ids = dataset.Shards.SelectMany(s => Enumerable.Range(0, s.Count).Select(i => s.FirstId + i)).ToArray();
        var rng = SeededRandom.For(spec.Seed, "initial-labeled");
        var perm = rng.Permutation(ids.Length);
        return perm.Take(spec.InitialLabeled).Select(i => ids[i]).Order().ToArray();
    }

    /// <summary>A seed for one purpose of the experiment.</summary>
    public static long SeedFor(ExperimentSpec spec, string purpose) => unchecked((long)SeededRandom.Derive(spec.Seed, purpose));
}
