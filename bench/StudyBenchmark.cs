using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Bench;

/// <summary>
/// The accuracy study: the same protocol (Fashion-MNIST 60k pool, 10k test, target resnet20, least confidence)
/// for PruneFuse at p = 0.5 and 0.7, dense active learning, SVP (resnet8 proxy), random selection and the
/// ablations (no fusion, no distillation, random-channel pruning), each over several seeds, run one after the
/// other through the coordinator of an embedded silo. Reports accuracy, selection cost, final-training cost and
/// the epochs each final network needs to reach dense-AL's final accuracy, plus the issue's targets.
/// </summary>
internal static class StudyBenchmark
{
    /// <summary>A method of the study; <paramref name="InDefault"/> false: run only when named with
    /// --methods.</summary>
    private sealed record Method(string Name, string Description, Func<ExperimentSpec, ExperimentSpec> Apply, bool InDefault = true);

    // Labels name every setting that differs between rows, distillation included: the ablations inherit the default's
    // α, warm start and fusion source.
    private static readonly ExperimentSpec Default = new();
    private static readonly double DefaultAlpha = Default.DistillationAlpha;

    private static string Kd(double alpha) => alpha > 0 ? FormattableString.Invariant($"KD α={alpha}") : "no KD";

    private static string Cheap(ExperimentSpec s) =>
        (s.SelectorWarmStart ? $", warm-started selector ({s.WarmEpochs} epochs)" : ", selector from θ0 each round") +
        $", fusion source {s.FusionSource.Name()}";

    private static readonly Method[] Methods =
    [
        new("prunefuse-p0.5", $"PruneFuse p=0.5 (the default: L2, fusion, {Kd(DefaultAlpha)}{Cheap(Default)})", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5 }),
        new("prunefuse-p0.7", $"PruneFuse p=0.7 (L2, fusion, {Kd(DefaultAlpha)}{Cheap(Default)})", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.7 }),
        new("dense-al", "dense active learning (the target network selects, from θ0 each round)", s
            => s with { Selector = SelectorKind.Dense, SelectorWarmStart = false }),
        new("svp-resnet8", "selection via proxy (resnet8, from its init each round)", s => s with { Selector = SelectorKind.Proxy, ProxyArch = "resnet8", SelectorWarmStart = false }),
        new("random", "random selection", s => s with { Selector = SelectorKind.Random }),
        new("ablation-no-fusion", $"PruneFuse p=0.5, target trained from θ0 ({Kd(DefaultAlpha)}{Cheap(Default)})", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, Fusion = false }),
        new("ablation-no-fusion-kd-0.5", "PruneFuse p=0.5, target trained from θ0 with KD α=0.5 (the ablation of the old default)",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, Fusion = false, DistillationAlpha = 0.5, SelectorWarmStart = false, FusionSource = FusionSource.Retrain }, InDefault: false),
        new("ablation-no-kd", "PruneFuse p=0.5, fusion, no KD (the default while its α is 0)", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0 }, InDefault: false),
        new("ablation-random-channels", $"PruneFuse p=0.5, random-channel pruning ({Kd(DefaultAlpha)}{Cheap(Default)})", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, PruningMethod = PruningMethod.Random }),
        // The distillation study (run with --methods): α at T = 4, fusion on.
        new("kd-alpha-0.1", "PruneFuse p=0.5, fusion, KD α=0.1", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0.1 }, InDefault: false),
        new("kd-alpha-0.25", "PruneFuse p=0.5, fusion, KD α=0.25", s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0.25 }, InDefault: false),
        new("kd-alpha-0.5", "PruneFuse p=0.5, fusion, KD α=0.5, selector from θ0 each round, fusion source retrain (the default until 2026-12-01)",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0.5, SelectorWarmStart = false, FusionSource = FusionSource.Retrain }),
        // The schedule of the distillation study: the old default's α = 0.5 guides the first third of the final
        // training only.
        new("kd-alpha-0.5-decay", "PruneFuse p=0.5, fusion, KD α=0.5 decaying linearly to 0 over the first third of final training",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0.5, DistillationDecay = 1.0 / 3 }, InDefault: false),
        // Cheaper selection (run with --methods): warm-started selectors and the fusion source, α = 0.
        new("cold-fuse-last-round", "PruneFuse p=0.5, selector from θ0 each round, fusion source last-round, no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = false, FusionSource = FusionSource.LastRound }, InDefault: false),
        new("cold-fuse-retrain", "PruneFuse p=0.5, selector from θ0 each round, fusion source retrain, no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = false, FusionSource = FusionSource.Retrain }, InDefault: false),
        new("warm-fuse-retrain", "PruneFuse p=0.5, warm-started selector, fusion source retrain, no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = true, FusionSource = FusionSource.Retrain }, InDefault: false),
        new("warm-fuse-warm", "PruneFuse p=0.5, warm-started selector, fusion source warm, no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = true, FusionSource = FusionSource.Warm }, InDefault: false),
        new("warm-fuse-last-round", "PruneFuse p=0.5, warm-started selector, fusion source last-round, no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = true, FusionSource = FusionSource.LastRound }, InDefault: false),
        // Middle points between the cold default and warm-fuse-warm (full preset: 15 cold epochs, 3 warm).
        new("warm6-fuse-warm", "PruneFuse p=0.5, warm-started selector (6 epochs), fusion source warm (6 epochs), no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = true, WarmEpochs = 6, FusionSource = FusionSource.Warm }, InDefault: false),
        new("cold-fuse-warm", "PruneFuse p=0.5, selector from θ0 each round, fusion source warm, no KD",
            s => s with { Selector = SelectorKind.Pruned, PruneRatio = 0.5, DistillationAlpha = 0, SelectorWarmStart = false, FusionSource = FusionSource.Warm }, InDefault: false),
    ];

    /// <summary>The wide preset's pool: the first images of Fashion-MNIST's training set (its test set stays
    /// whole).</summary>
    internal const int WidePool = 8_000;

    /// <summary>The wide preset's methods: the issue's comparison and the cheapest selector the method study
    /// kept.</summary>
    private static readonly string[] WideMethods = ["prunefuse-p0.5", "dense-al", "random", "warm-fuse-warm"];

    /// <summary>The wide preset's test set: the first images of Fashion-MNIST's test split (evaluating 10,000 images
    /// with a dense resnet18 costs 43 s here, every epoch of every final training).</summary>
    internal const int WideTest = 2_000;

    /// <summary>The wide preset (issue 27's study): resnet18 with the small stem at full width, four rounds on a pool
    /// cut to <see cref="WidePool"/>, a budget of 2,000 and shorter training. A dense resnet18 trains at about 50
    /// samples/s on this 2-core machine, so one seed of the four methods takes about 55 minutes. (5 selector and 6
    /// final epochs on a 1,500 budget, tried first, left every network from θ0 near chance: too few SGD
    /// steps.)</summary>
    internal static ExperimentSpec Wide(ExperimentSpec s) => s with
    {
        DatasetId = "fashion-mnist-wide", Arch = "resnet18", Stem = "small", InitialLabeled = 400, RoundSize = 400,
            Rounds = 4,
        SelectorEpochs = 8, FinalEpochs = 10, BatchSize = 128,
    };

    private static readonly Option<string> Preset = BenchOptions.Text("--preset", "quick",
        "quick (2 rounds, short training), full (the paper-like protocol at this machine's scale) " +
        "or wide (resnet18 small stem, 8,000 pool, 2,000 test)");
    private static readonly Option<int> Seeds = BenchOptions.Int("--seeds", 0, 0, 20, "Seeds per method (default: quick 1, full 3)");
    private static readonly Option<string?> MethodNames = BenchOptions.OptionalText("--methods", "Only these methods (comma-separated names)");
    private static readonly Option<string> Out = BenchOptions.Text("--out", "bench/results", "Folder for the JSON, the log of finished runs and the plots");
    private static readonly Option<string?> Data = BenchOptions.Data();
    private static readonly Option<bool> Resume = new("--resume") { Description = "Reuse the finished experiments in <out>/study-<preset>.runs.jsonl (else start over)" };
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>study</c> command.</summary>
    public static Command Command()
    {
        Preset.AcceptOnlyFromAmong("quick", "full", "wide");
        var c = new Command("study",
            "The accuracy study: PruneFuse p=0.5/0.7, dense AL, SVP, random and the ablations through the cluster " +
            "(wide: resnet18)")
        {
            Preset, Seeds, MethodNames, Out, Data, Resume, Json,
        };
        c.SetAction(p => BenchOptions.Guard(() => RunAsync(p)));
        return c;
    }

    public static async Task<int> RunAsync(ParseResult a)
    {
        var preset = a.GetValue(Preset)!;
        var seeds = a.GetValue(Seeds) is > 0 and var n ? n : preset == "quick" ? 1 : 3;
        var only = a.GetValue(MethodNames)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var outDir = a.GetValue(Out)!;
        var dataDir = a.GetValue(Data);
        var resume = a.GetValue(Resume);
        var json = a.GetValue(Json);
        // The wide preset's default is the issue's comparison; its other methods are named with --methods.
        string[] wideDefault = WideMethods;
        var methods = only is null ? [.. Methods.Where(m => preset == "wide" ? wideDefault.Contains(m.Name)
            : m.InDefault)] : Methods.Where(m => only.Contains(m.Name)).ToArray();
        if (only is not null && methods.Length != only.Length) throw new BenchUsageException($"unknown method in --methods; known: {string.Join(", ", Methods.Select(m => m.Name))}");
        TorchRuntime.EnsureLoaded();

        // quick: 2 rounds, short training; full: the paper-like protocol at this machine's scale.
        var baseSpec = new ExperimentSpec
        {
            DatasetId = "fashion-mnist", Arch = "resnet20", Metric = Metric.LeastConfidence, InitialLabeled = 1000, RoundSize = 1000,
            Rounds = preset == "quick" ? 2 : 4, SelectorEpochs = preset == "quick" ? 6 : 15, FinalEpochs = preset == "quick" ? 10 : 30,
            BatchSize = 128, DistillationTemperature = 4,
        };
        if (preset == "wide") baseSpec = Wide(baseSpec);

        // Every finished experiment is appended to the runs file at once, so with --resume an interrupted study (or
        // one run in slices with --methods) goes on where it stopped: a recorded method/seed with the same spec is not
        // re-run. Without --resume the file starts over, so the documented command measures this machine, not the
        // runs committed from another.
        Directory.CreateDirectory(outDir);
        var runsPath = Path.Combine(outDir, $"study-{preset}.runs.jsonl");
        if (!resume && File.Exists(runsPath)) File.Delete(runsPath);
        var recorded = StudyRuns.Load(runsPath, Log);
        var plan = Enumerable.Range(0, seeds).SelectMany(seed => methods.Select(m => (Method: m, Seed: (long)seed, Spec: m.Apply(baseSpec with { Seed = seed })))).ToList();
        // One slot per planned experiment, filled from the runs file or by running it.
        var results = plan.Select(p => recorded.Find(p.Method.Name, p.Seed, p.Spec)).ToArray();
        var todo = Enumerable.Range(0, plan.Count).Where(i => results[i] is null).ToList();

        var root = Directory.CreateTempSubdirectory("prunefuse-study-").FullName;
        var started = DateTime.UtcNow;
        try
        {
            Log($"study '{preset}': {methods.Length} methods × {seeds} seeds = {plan.Count} experiments; {plan.Count - todo.Count} already in {runsPath}, {todo.Count} to run" +
                $" ({baseSpec.InitialLabeled} initial + {baseSpec.Rounds} × {baseSpec.RoundSize}, selector {baseSpec.SelectorEpochs} epochs, final {baseSpec.FinalEpochs} epochs)");
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(siloPort: FreePort(), gatewayPort: FreePort());
                silo.AddPruneFuseEmbedded(root, "cpu");
                silo.UseInMemoryReminderService();
            });
            using var host = builder.Build();
            await host.StartAsync();
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            // Ctrl+C or SIGTERM stops the host (and its silo): the wait below must end then, not poll a stopped silo
            // forever.
            var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
            if (todo.Count > 0)
            {
                var source = preset == "wide" ? CutTestSplit(dataDir, Path.Combine(root, "wide-data"), WideTest)
                    : dataDir ?? "";
                var dataset = await grains.GetGrain<IDatasetGrain>(baseSpec.DatasetId).ImportFashionMnist(source, 4,
                    preset == "wide" ? WidePool : 0).WaitAsync(stopping);
                Log($"  dataset: {dataset.PoolSize:N0} pool / {dataset.TestSize:N0} test images");
                await WarmUpAsync(grains, baseSpec, stopping);
            }

            var done = 0;
            foreach (var i in todo)
            {
                var (m, seed, spec) = plan[i];
                var id = $"study-{preset}-{m.Name.Replace('.', '-')}-s{seed}";
                var t0 = DateTime.UtcNow;
                await grains.GetGrain<ICoordinatorGrain>(id).Start(spec);
                ExperimentStatus st;
                try
                {
                    st = await WaitAsync(grains.GetGrain<ICoordinatorGrain>(id), stopping);
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    Log($"interrupted during {m.Name} seed {seed}: {done} experiment(s) of this run are in {runsPath}; the same command with --resume goes on from there");
                    return 130;
                }
                if (st.State != ExperimentState.Completed) throw new InvalidOperationException($"{id} ended {st.State}: {st.Error}");
                var wall = (DateTime.UtcNow - t0).TotalSeconds;
                results[i] = new StudyRun(m.Name, seed, wall, st);
                StudyRuns.Append(runsPath, results[i]!);
                done++;
                var left = (DateTime.UtcNow - started).TotalSeconds / done * (todo.Count - done);
                Log($"  [{done}/{todo.Count}] {m.Name} seed {seed}: final {st.Final!.Accuracy:P2} (best {st.Final.BestAccuracy:P2}), selection {SelectionSeconds(st):F0} s, " +
                    $"final training {st.Final.TrainSeconds:F0} s, wall {wall:F0} s; about {left / 60:F0} min left");
            }
            await host.StopAsync();

            var runs = plan.Select((p, i) => (p.Method, p.Seed, results[i]!.Status)).ToList();
            var report = Summarize(preset, seeds, baseSpec, methods, runs, results.Sum(r => r!.WallSeconds) / 60, (DateTime.UtcNow - started).TotalMinutes);
            var rawPath = Path.Combine(outDir, $"study-{preset}.json");
            File.WriteAllText(rawPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            var plots = Plot(preset, methods, runs, outDir);
            Log($"wrote {rawPath}, {string.Join(", ", plots)}");
            if (json) Console.WriteLine(report.ToJsonString());
            return 0;
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Selection cost: selector training and pool scoring of every round, plus PruneFuse's final selector (the
    /// fusion source).</summary>
    private static double SelectionSeconds(ExperimentStatus st)
    {
        var spec = st.Spec!;
        // FinalSelectorSeconds is 0 when the last round's selector is fused as it is.
        var finalSelector = spec.Selector == SelectorKind.Pruned && (spec.Fusion || spec.DistillationAlpha > 0) ? st.FinalSelectorSeconds : 0;
        return st.Rounds.Sum(r => r.SelectionSeconds) + finalSelector;
    }

    private static JsonObject Stats(IEnumerable<double> values)
    {
        var v = values.ToArray();
        var mean = v.Average();
        var std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return new JsonObject { ["mean"] = Math.Round(mean, 4), ["std"] = Math.Round(std, 4), ["min"] = Math.Round(v.Min(), 4), ["max"] = Math.Round(v.Max(), 4), ["n"] = v.Length };
    }

    private static int? EpochsToReach(ExperimentStatus st, double target)
    {
        var curve = st.Final!.EpochAccuracies;
        for (var e = 0; e < curve.Length; e++)
        {
            if (curve[e] >= target) return e + 1;
        }
        return null;
    }

    private static JsonObject Summarize(string preset, int seeds, ExperimentSpec baseSpec, Method[] methods, List<(Method Method, long Seed, ExperimentStatus Status)> runs, double minutes, double invocationMinutes)
    {
        var byMethod = methods.ToDictionary(m => m.Name, m => runs.Where(r => r.Method == m).Select(r => r.Status).ToList());
        double? Mean(string name, Func<ExperimentStatus, double> f) => byMethod.TryGetValue(name, out var l) && l.Count > 0 ? l.Average(f) : null;
        var denseFinal = Mean("dense-al", s => s.Final!.Accuracy);
        var rows = new JsonArray();
        foreach (var m in methods)
        {
            var l = byMethod[m.Name];
            var reach = denseFinal is { } target ? l.Select(s => EpochsToReach(s, target)).ToList() : [];
            rows.Add(new JsonObject
            {
                ["method"] = m.Name,
                ["description"] = m.Description,
                ["finalAccuracy"] = Stats(l.Select(s => s.Final!.Accuracy)),
                ["bestAccuracy"] = Stats(l.Select(s => s.Final!.BestAccuracy)),
                ["selectionSeconds"] = Stats(l.Select(SelectionSeconds)),
                ["selectorTrainSeconds"] = Stats(l.Select(s => s.Rounds.Sum(r => r.SelectorTrainSeconds))),
                ["scoringSeconds"] = Stats(l.Select(s => s.Rounds.Sum(r => r.ScoringSeconds))),
                ["finalTrainSeconds"] = Stats(l.Select(s => s.Final!.TrainSeconds)),
                ["fused"] = l.All(s => s.Final!.Fused),
                ["epochsToDenseFinalAccuracy"] = new JsonArray([.. reach.Select(e => (JsonNode?)(e is null ? null : JsonValue.Create(e.Value)))]),
                ["epochAccuracyMean"] = new JsonArray([.. Enumerable.Range(0, l.Min(s => s.Final!.EpochAccuracies.Length)).Select(e => (JsonNode)Math.Round(l.Average(s => s.Final!.EpochAccuracies[e]), 4))]),
                ["experiments"] = new JsonArray([.. l.Select(s => (JsonNode)s.ExperimentId)]),
            });
        }

        var targets = new JsonArray();
        void Target(string name, double? value, double limit, bool lowerIsBetter, string detail)
        {
            targets.Add(new JsonObject
            {
                ["target"] = name, ["value"] = value is { } v ? Math.Round(v, 4) : null, ["limit"] = limit,
                ["met"] = value is { } x && (lowerIsBetter ? x <= limit : x >= limit), ["detail"] = detail,
            });
        }
        var dense = Mean("dense-al", SelectionSeconds);
        Target("selection cost p=0.5 / dense-AL", Mean("prunefuse-p0.5", SelectionSeconds) / dense, 0.40, true, "mean selection seconds (selector training + scoring, all rounds, incl. the final selector)");
        Target("selection cost p=0.7 / dense-AL", Mean("prunefuse-p0.7", SelectionSeconds) / dense, 0.25, true, "as above");
        Target("PruneFuse p=0.5 final accuracy - dense-AL", Mean("prunefuse-p0.5", s => s.Final!.Accuracy) - denseFinal, 0, false, "mean final (last-epoch) test accuracy difference");
        Target("PruneFuse p=0.5 final accuracy - random", Mean("prunefuse-p0.5", s => s.Final!.Accuracy) - Mean("random", s => s.Final!.Accuracy), 0, false, "must be positive");
        var fusedEpochs = denseFinal is { } dt && byMethod.TryGetValue("prunefuse-p0.5", out var pf) ? pf.Select(s => EpochsToReach(s, dt)).ToList() : [];
        var scratchEpochs = denseFinal is { } dt2 && byMethod.TryGetValue("dense-al", out var da) ? da.Select(s => EpochsToReach(s, dt2)).ToList() : [];
        double? MeanEpochs(List<int?> e) => e.Count > 0 && e.All(x => x.HasValue) ? e.Average(x => x!.Value) : null;
        var fe = MeanEpochs(fusedEpochs);
        var se = MeanEpochs(scratchEpochs);
        targets.Add(new JsonObject
        {
            ["target"] = "epochs to dense-AL's final accuracy: fused p=0.5 < dense-AL from scratch",
            ["value"] = fe, ["limit"] = se, ["met"] = fe is not null && se is not null && fe < se,
            ["detail"] = "mean first epoch whose test accuracy reaches dense-AL's mean final accuracy (null = never reached in some seed)",
        });
        // The time budget is for the whole preset: with a subset of methods it is not measured.
        var budgetMinutes = preset switch { "quick" => 20.0 * seeds, "wide" => 120.0, _ => 180.0 };
        Target(preset == "quick" ? $"quick preset minutes ({seeds} seed(s), 20 min each)"
            : $"{preset} preset minutes ({seeds} seeds)", methods.Length == (preset == "wide" ? WideMethods.Length
            : Methods.Count(m => m.InDefault)) ? minutes : null, budgetMinutes, true,
            "sum of the experiments' wall times on this machine, run one after the other (null when --methods leaves some out)");
        return new JsonObject
        {
            ["preset"] = preset, ["seeds"] = seeds, ["minutes"] = Math.Round(minutes, 1), ["invocationMinutes"] = Math.Round(invocationMinutes, 1), ["threads"] = Environment.ProcessorCount,
            ["protocol"] = JsonNode.Parse(JsonSerializer.Serialize(baseSpec)),
            ["denseFinalAccuracy"] = denseFinal is { } d ? Math.Round(d, 4) : null,
            ["methods"] = rows,
            ["targets"] = targets,
        };
    }

    private static List<string> Plot(string preset, Method[] methods, List<(Method Method, long Seed, ExperimentStatus Status)> runs, string outDir)
    {
        var files = new List<string>();
        // Learning curves: mean test accuracy against labeled samples (selectors per round, then the final network).
        var curves = new ScottPlot.Plot();
        var epochs = new ScottPlot.Plot();
        foreach (var m in methods)
        {
            var l = runs.Where(r => r.Method == m).Select(r => r.Status).ToList();
            if (l.Count == 0) continue;
            var spec = l[0].Spec!;
            var xs = new List<double>();
            var ys = new List<double>();
            for (var i = 0; i < l[0].Rounds.Length; i++)
            {
                if (l.Any(s => s.Rounds[i].SelectorAccuracy is null)) continue;
                xs.Add(l[0].Rounds[i].Labeled - spec.RoundSize);
                ys.Add(100 * l.Average(s => s.Rounds[i].SelectorAccuracy!.Value));
            }
            xs.Add(spec.Budget);
            ys.Add(100 * l.Average(s => s.Final!.Accuracy));
            var line = curves.Add.Scatter(xs.ToArray(), ys.ToArray());
            line.LegendText = m.Name;
            var n = l.Min(s => s.Final!.EpochAccuracies.Length);
            var e = epochs.Add.Scatter(Enumerable.Range(1, n).Select(x => (double)x).ToArray(), Enumerable.Range(0, n).Select(i => 100 * l.Average(s => s.Final!.EpochAccuracies[i])).ToArray());
            e.LegendText = m.Name;
        }
        curves.Title($"study ({preset}): test accuracy vs labeled samples (selectors per round, final network at the budget)");
        curves.XLabel("labeled samples");
        curves.YLabel("test accuracy (%)");
        curves.ShowLegend(ScottPlot.Alignment.LowerRight);
        var c = Path.Combine(outDir, $"study-{preset}-learning-curves.png");
        curves.SavePng(c, 1000, 600);
        files.Add(c);
        epochs.Title($"study ({preset}): final network test accuracy per epoch");
        epochs.XLabel("epoch");
        epochs.YLabel("test accuracy (%)");
        epochs.ShowLegend(ScottPlot.Alignment.LowerRight);
        var ep = Path.Combine(outDir, $"study-{preset}-final-training.png");
        epochs.SavePng(ep, 1000, 600);
        files.Add(ep);
        return files;
    }

    // The first torch work of a process pays for oneDNN's kernel generation and the shard cache's first reads (one
    // quick run measured round 1 of the first experiment at 15 s against 6 s for the same work later). A short untimed
    // pruned and dense run first keeps that off whichever method happens to come first.
    private static async Task WarmUpAsync(IGrainFactory grains, ExperimentSpec baseSpec, CancellationToken stopping)
    {
        var started = DateTime.UtcNow;
        foreach (var kind in new[] { SelectorKind.Pruned, SelectorKind.Dense })
        {
            var id = $"warm-up-{kind.Name()}";
            await grains.GetGrain<ICoordinatorGrain>(id).Start(baseSpec with
            {
                Selector = kind, InitialLabeled = 500, RoundSize = 500, Rounds = 1, SelectorEpochs = 1, FinalEpochs = 1, Seed = 1000,
            });
            var st = await WaitAsync(grains.GetGrain<ICoordinatorGrain>(id), stopping);
            if (st.State != ExperimentState.Completed) throw new InvalidOperationException($"warm-up {id} ended {st.State}: {st.Error}");
        }
        Log($"  warm-up (untimed): {(DateTime.UtcNow - started).TotalSeconds:F0} s");
    }

    /// <summary>A Fashion-MNIST folder in <paramref name="folder"/> with the training split linked and the test split
    /// cut
    /// to its first <paramref name="count"/> images (IDX files written as the format defines them).</summary>
    private static string CutTestSplit(string? dataDir, string folder, int count)
    {
        var source = PruneFuse.Learning.Data.FashionMnist.Locate(dataDir);
        Directory.CreateDirectory(folder);
        foreach (var name in Directory.GetFiles(source, "train-*"))
        {
            File.CreateSymbolicLink(Path.Combine(folder, Path.GetFileName(name)), name);
        }
        var test = PruneFuse.Learning.Data.FashionMnist.Load(source, "t10k", 0).Take(count);
        static byte[] Header(params int[] dims)
        {
            var h = new byte[4 + 4 * dims.Length];
            h[2] = 0x08; // unsigned bytes
            h[3] = (byte)dims.Length;
            for (var i = 0; i < dims.Length; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * i), dims[i]);
            }
            return h;
        }
        File.WriteAllBytes(Path.Combine(folder, "t10k-images-idx3-ubyte"), [.. Header(test.Count, test.Height,
            test.Width), .. test.Pixels]);
        File.WriteAllBytes(Path.Combine(folder, "t10k-labels-idx1-ubyte"), [.. Header(test.Count),
            .. test.Labels.Select(l => (byte)l)]);
        return folder;
    }

    private static async Task<ExperimentStatus> WaitAsync(ICoordinatorGrain grain, CancellationToken stopping)
    {
        var last = "";
        while (true)
        {
            stopping.ThrowIfCancellationRequested();
            var st = await grain.GetStatus().WaitAsync(stopping);
            if (st.State != ExperimentState.Running) return st;
            var line = $"    round {st.Round}: {st.Stage}";
            if (line != last && !st.Stage.StartsWith("scoring pool (", StringComparison.Ordinal)) Log(line);
            last = line;
            await Task.Delay(1000, stopping);
        }
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void Log(string message) => Console.Error.WriteLine(message);
}
