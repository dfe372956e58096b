using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
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
/// <param name="Notes">What was bridged between supplied initial weights and the network (a replaced classifier, a
/// summed stem).</param>
public sealed record ExperimentNetworks(byte[] Theta0, byte[]? SelectorInit, long SelectorParams, long SelectorMacs, IReadOnlyList<string> Notes);

/// <summary>Spec validation and the experiment's starting state; calls into the learning core, holds no math
/// itself.</summary>
public static class ExperimentSetup
{
    /// <summary>Fewest channels a stage of the target or the selector may have unless the spec allows narrow
    /// networks.</summary>
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
        // Architectures are names of network families; the families refuse unknown names, stems and input sizes.
        CheckNetwork(() => TargetSpec(spec, dataset), dataset, problems, "");
        if (spec.InitialWeights is not null)
        {
            try { ArtifactLayout.InitialWeights(spec.InitialWeights); }
            catch (ArgumentException e) { problems.Add(e.Message); }
        }
        Check(spec.Normalize is null or "dataset" or "imagenet", $"normalisation must be dataset or imagenet, got '{spec.Normalize}'");
        Check(spec.Normalize != "imagenet" || dataset.Channels is 1 or 3, $"ImageNet normalisation is defined for 1- or 3-channel images; dataset '{dataset.DatasetId}' has {dataset.Channels}");
        if (spec.Selector == SelectorKind.Proxy) CheckNetwork(() => ProxySpec(spec, dataset), dataset, problems, "--proxy-arch: ");
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
        var dense = TargetSpec(spec, dataset);
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
                var proxy = ModelComplexity.Of(ProxySpec(spec, dataset), dataset.Height, dataset.Width);
                needed = Math.Max(needed, proxy.TrainingBytes(spec.BatchSize));
            }
        }
        catch (OverflowException)
        {
            needed = long.MaxValue;
        }
        if (needed > maxMemoryBytes)
        {
            problems.Add($"{spec.Arch} × {spec.WidthMultiplier} at batch size {spec.BatchSize} needs about {Gib(needed)} to train ({target.Parameters:N0} parameters), " +
                $"over this silo's limit of {Gib(maxMemoryBytes)} (PruneFuse:MaxSpecMemoryShare of its memory): use a smaller network, width multiplier or batch size");
        }
    }

    private static string Gib(long bytes) => bytes == long.MaxValue ? "more than 8 EiB" : $"{bytes / (double)(1L << 30):0.0} GiB";

    /// <summary>The target network at the spec's width and stem for the dataset's images.</summary>
    public static NetworkSpec TargetSpec(ExperimentSpec spec, DatasetManifest dataset) =>
        NetworkSpec.Dense(spec.Arch.Value, dataset.Channels, dataset.Classes, spec.WidthMultiplier, spec.Stem, spec.Dropout);

    /// <summary>The proxy network: the spec's stem where the proxy's family has it, else that family's
    /// default.</summary>
    public static NetworkSpec ProxySpec(ExperimentSpec spec, DatasetManifest dataset)
    {
        var family = NetworkFamilies.Of(spec.ProxyArch.Value);
        var stem = spec.Stem is not null && family.Stems.Contains(spec.Stem.Trim().ToLowerInvariant()) ? spec.Stem : null;
        return NetworkSpec.Dense(spec.ProxyArch.Value, dataset.Channels, dataset.Classes, stem: stem);
    }

    private static void CheckNetwork(Func<NetworkSpec> build, DatasetManifest dataset, List<string> problems, string prefix)
    {
        try
        {
            ModelComplexity.Of(build(), dataset.Height, dataset.Width);
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName is "widthMultiplier" or "inputChannels" or "numClasses")
        {
            // A width multiplier, channel or class count out of range: the spec checks above name it.
        }
        catch (ArgumentException e)
        {
            problems.Add(prefix + e.Message);
        }
    }

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

    /// <summary>The input normalisation the spec asks for; null for the dataset's own (stored checkpoints then carry
    /// none).</summary>
    public static ImageNormalization? NormalizationOf(ExperimentSpec spec, DatasetManifest dataset) =>
        spec.Normalize == "imagenet" ? ImageNormalization.ImageNet(dataset.Channels) : null;

    /// <summary>
    /// θ0 of the spec: seeded, then overwritten by <paramref name="initialWeights"/> when given. Throws
    /// <see cref="ArgumentException"/> naming the first key or shape the weights get wrong. Runs on the compute thread.
    /// </summary>
    public static (Network Theta0, IReadOnlyList<string> Notes) CreateTheta0(ExperimentSpec spec, DatasetManifest dataset, byte[]? initialWeights)
    {
        var theta0 = Network.Create(TargetSpec(spec, dataset), SeedFor(spec, "theta0"));
        if (initialWeights is null) return (theta0, []);
        var source = $"initial weights {spec.InitialWeights![..12]}…";
        try
        {
            var state = InitialWeights.Read(initialWeights, source);
            try
            {
                return (theta0, InitialWeights.Apply(theta0, state, source));
            }
            finally
            {
                foreach (var t in state.Values) t.Dispose();
            }
        }
        catch (DataFormatException e)
        {
            theta0.Dispose();
            throw new ArgumentException(e.Message, e);
        }
        catch
        {
            theta0.Dispose();
            throw;
        }
    }

    /// <summary>Builds θ0, the channel plan and the selector's starting point. Runs on the compute thread.</summary>
    public static ExperimentNetworks CreateNetworks(ExperimentSpec spec, DatasetManifest dataset, byte[]? initialWeights = null)
    {
        var (theta0Model, notes) = CreateTheta0(spec, dataset, initialWeights);
        using var theta0 = theta0Model;
        var denseSpec = theta0.Spec;
        var normalization = NormalizationOf(spec, dataset);
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
                    selector = new Network(denseSpec);
                    using (TorchSharp.torch.no_grad())
                    {
                        foreach (var (name, t) in theta0.state_dict()) selector.state_dict()[name].copy_(t);
                    }
                    break;
                case SelectorKind.Proxy:
                    selector = Network.Create(ProxySpec(spec, dataset), SeedFor(spec, "proxy"));
                    break;
                case SelectorKind.Random:
                    break;
            }
            var cx = selector is null ? new ModelComplexity(0, 0) : ModelComplexity.Of(selector.Spec, dataset.Height, dataset.Width);
            return new ExperimentNetworks(
                Checkpoint.Save(theta0, plan, new Dictionary<string, string> { ["role"] = "theta0" }, normalization),
                selector is null ? null : Checkpoint.Save(selector, plan, new Dictionary<string, string> { ["role"] = "selector-init" }, normalization),
                cx.Parameters, cx.Macs, notes);
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
