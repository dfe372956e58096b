using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using static TorchSharp.torch;

namespace PruneFuse.Bench;

/// <summary>
/// Scores the same real images with the dense network θ0 and its pruned selector in one process, each at its own
/// best batch size from one sweep, after a warm-up, and reports both rates and the speedup; with
/// <c>--measure training</c> also one training epoch of each, with <c>--pytorch</c> the same networks in PyTorch, and
/// with <c>--profile</c> where the time goes, layer by layer.
/// </summary>
internal static class ScoringBenchmark
{
    /// <summary>
    /// <c>scoring-sweep</c>: dense θ0 against pruned selectors at several ratios and against SVP proxy architectures,
    /// all in one run, each at its own best batch size, with alternating passes; reports speedup and MAC ratio.
    /// </summary>
    private static readonly Option<string> SweepArch = BenchOptions.Text("--arch", "resnet20", "Target network");
    private static readonly Option<string[]> SweepPrune = BenchOptions.TextList("--prune", ["0.3", "0.5", "0.7", "0.8"], "Pruning ratios in [0, 1)");
    private static readonly Option<string[]> SweepProxies = BenchOptions.TextList("--proxies", ["resnet8", "resnet14"], "SVP proxy architectures");
    private static readonly Option<int> SweepSamples = BenchOptions.Int("--samples", 10_000, 256, 2_000_000, "Images scored per pass");
    private static readonly Option<int> SweepRepeats = BenchOptions.Int("--repeats", 3, 1, 20, "Alternating passes per network");
    private static readonly Option<int[]> SweepBatches = BenchOptions.IntList("--batch-sizes", [32, 64, 128, 256, 512], "Batch sizes tried per network");
    private static readonly Option<string?> SweepData = BenchOptions.Data();
    private static readonly Option<bool> SweepJson = BenchOptions.Json();

    /// <summary>The <c>scoring-sweep</c> command.</summary>
    public static Command SweepCommand()
    {
        var c = new Command("scoring-sweep", "Dense vs pruned at several p and vs SVP proxies, speedup against the MAC ratio")
        {
            SweepArch, SweepPrune, SweepProxies, SweepSamples, SweepRepeats, SweepBatches, SweepData, SweepJson,
        };
        c.SetAction(p => BenchOptions.Guard(() => RunSweep(p)));
        return c;
    }

    public static int RunSweep(ParseResult a)
    {
        var arch = a.GetValue(SweepArch)!;
        var ratios = a.GetValue(SweepPrune)!
            .Select(x => double.TryParse(x, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= 0 && v < 1
                ? v : throw new BenchUsageException($"--prune must list ratios in [0, 1), got '{x}'")).ToArray();
        var proxies = a.GetValue(SweepProxies)!;
        var samples = a.GetValue(SweepSamples);
        var repeats = a.GetValue(SweepRepeats);
        var batchSizes = a.GetValue(SweepBatches)!;
        var dataDir = a.GetValue(SweepData);
        var json = a.GetValue(SweepJson);
        TorchRuntime.EnsureLoaded();
        var pool = Cycle(FashionMnist.LoadTrain(dataDir), samples);
        var spec = NetworkSpec.Dense(arch, pool.Channels, 10);
        using var dense = Network.Create(spec, 0);
        var candidates = new List<(string Name, Network Model, ModelComplexity Cx)>();
        foreach (var p in ratios)
        {
            var plan = ChannelPruner.Plan(dense, p, PruningMethod.L2);
            candidates.Add(($"pruned p={p}", ChannelPruner.Extract(dense, plan), ModelComplexity.Of(plan.Pruned, pool.Height, pool.Width)));
        }
        foreach (var proxy in proxies)
        {
            var proxySpec = NetworkSpec.Dense(proxy, pool.Channels, 10);
            candidates.Add(($"proxy {proxySpec.Arch}", Network.Create(proxySpec, 0), ModelComplexity.Of(proxySpec, pool.Height, pool.Width)));
        }
        var denseCx = ModelComplexity.Of(spec, pool.Height, pool.Width);
        var denseSweep = Sweep("dense", dense, pool, batchSizes);
        var rows = new List<object>();
        foreach (var (name, model, cx) in candidates)
        {
            var sweep = Sweep(name, model, pool, batchSizes);
            var ratiosMeasured = new List<double>();
            var rates = new List<double>();
            var denseRates = new List<double>();
            for (var r = 0; r < repeats; r++)
            {
                denseRates.Add(Score(denseSweep.Scorer, pool, denseSweep.Batch));
                rates.Add(Score(sweep.Scorer, pool, sweep.Batch));
                ratiosMeasured.Add(rates[^1] / denseRates[^1]);
            }
            var speedup = Median(ratiosMeasured);
            var macRatio = (double)denseCx.Macs / cx.Macs;
            Log($"{name,-16} {Median(rates),8:F0}/s vs dense {Median(denseRates),6:F0}/s: speedup {speedup:F2}x, MAC ratio {macRatio:F2}x ({100 * speedup / macRatio:F0}% of it)");
            rows.Add(new
            {
                selector = name, @params = cx.Parameters, macs = cx.Macs, batchSize = sweep.Batch, samplesPerSecond = Math.Round(Median(rates), 1),
                denseSamplesPerSecond = Math.Round(Median(denseRates), 1), speedup = Math.Round(speedup, 3), macRatio = Math.Round(macRatio, 3),
                fractionOfMacRatio = Math.Round(speedup / macRatio, 3),
            });
            model.Dispose();
        }
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { arch = spec.Arch, samples, repeats, threads = get_num_threads(), dense = new { @params = denseCx.Parameters, macs = denseCx.Macs, batchSize = denseSweep.Batch }, selectors = rows }));
        }
        return 0;
    }

    private static readonly Option<string> Arch = BenchOptions.Text("--arch", "resnet20", "Target network");
    private static readonly Option<double> Prune = BenchOptions.Double("--prune", 0.5, 0, 1, "Pruning ratio p");
    private static readonly Option<int> Samples = BenchOptions.Int("--samples", 20_000, 256, 2_000_000, "Images scored per pass");
    private static readonly Option<int> Repeats = BenchOptions.Int("--repeats", 3, 1, 20, "Alternating passes per network");
    private static readonly Option<int[]> Batches = BenchOptions.IntList("--batch-sizes", [32, 64, 128, 256, 512], "Batch sizes tried per network");
    private static readonly Option<int> Threads = BenchOptions.Int("--threads", 0, 0, 1024, "Torch threads (0 = torch's default)");
    private static readonly Option<int[]> ThreadSweep = BenchOptions.IntList("--thread-sweep", [], "Also measure at these thread counts");
    private static readonly Option<int[]> WorkerSweep = BenchOptions.IntList("--worker-sweep", [1], "Parallel scoring workers to measure");
    private static readonly Option<string> Method = BenchOptions.Text("--method", "l2", "Channel importance: l2 or random");
    private static readonly Option<int> Seed = BenchOptions.Int("--seed", 0, 0, int.MaxValue, "Seed of θ0 and the plan");
    private static readonly Option<string[]> Engines = BenchOptions.TextList("--engine", ["torch"], "Scoring engines, measured side by side: torch, onnx, onnx-cuda");
    private static readonly Option<string> OnnxThreads = BenchOptions.Text("--onnx-threads", "batch-per-thread", "ONNX CPU threads: batch-per-thread (default) or split-ops (one call at a time over all threads)");
    private static readonly Option<string> OnnxRewrite = BenchOptions.Text("--onnx-optimization", "all", "ONNX graph optimisation: all (with the NCHWc layout rewrite, default) or extended");
    private static readonly Option<string?> StemOption = BenchOptions.OptionalText("--stem",
        "The family's stem (e.g. small, imagenet; default: the family's)");
    private static readonly Option<int> Size = BenchOptions.Int("--size", 0, 0, 1024,
        "Resize the images to N×N (nearest neighbour; 0 = Fashion-MNIST's 28×28)");
    private static readonly Option<string[]> Measure = BenchOptions.TextList("--measure", ["scoring"],
        "What to measure side by side: scoring, training (one epoch per pass)");
    private static readonly Option<int> TrainSamples = BenchOptions.Int("--train-samples", 1024, 64, 1_000_000,
        "Images per training epoch (--measure training)");
    private static readonly Option<int> TrainBatch = BenchOptions.Int("--train-batch", 128, 2, 4096,
        "Training batch size (the study's is 128)");
    private static readonly Option<bool> NoAugment = new("--no-augment")
    {
        Description = "Train without the recipe's random crop and flip (to see what augmentation costs)",
    };
    private static readonly Option<bool> Profile = new("--profile")
    {
        Description = "Also time every layer of the TorchSharp forward pass (which layers lose the time)",
    };
    private static readonly Option<bool> PyTorch = new("--pytorch")
    {
        Description = "Also measure the same networks in PyTorch (Debian's python3-torch) as the reference",
    };
    private static readonly Option<string?> Data = BenchOptions.Data();
    private static readonly Option<bool> Json = BenchOptions.Json();

    private static readonly string[] KnownEngines = ["torch", "onnx", "onnx-cuda"];

    /// <summary>The <c>scoring</c> command.</summary>
    public static Command Command()
    {
        Method.AcceptOnlyFromAmong("l2", "random");
        var c = new Command("scoring",
            "Score (and train) real Fashion-MNIST images with a dense network and its pruned selector, side by side")
        {
            Arch, Prune, Samples, Repeats, Batches, Threads, ThreadSweep, WorkerSweep, Method, Seed, Engines,
                OnnxThreads, OnnxRewrite, StemOption, Size,
            Measure, TrainSamples, TrainBatch, NoAugment, Profile, PyTorch, Data, Json,
        };
        OnnxThreads.AcceptOnlyFromAmong("batch-per-thread", "split-ops");
        OnnxRewrite.AcceptOnlyFromAmong("all", "extended");
        c.SetAction(p => BenchOptions.Guard(() => Run(p)));
        return c;
    }

    public static int Run(ParseResult a)
    {
        var arch = a.GetValue(Arch)!;
        var prune = a.GetValue(Prune);
        var samples = a.GetValue(Samples);
        var repeats = a.GetValue(Repeats);
        var batchSizes = a.GetValue(Batches)!;
        var threads = a.GetValue(Threads);
        var threadSweep = a.GetValue(ThreadSweep)!;
        var workerSweep = a.GetValue(WorkerSweep)!;
        var method = a.GetValue(Method) == "random" ? PruningMethod.Random : PruningMethod.L2;
        var seed = a.GetValue(Seed);
        var engines = a.GetValue(Engines)!.SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(e => e.ToLowerInvariant()).Distinct().ToArray();
        var dataDir = a.GetValue(Data);
        var json = a.GetValue(Json);
        var stem = a.GetValue(StemOption);
        var size = a.GetValue(Size);
        var measure = a.GetValue(Measure)!.SelectMany(e => e.Split(',',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(e => e.ToLowerInvariant()).Distinct().ToArray();
        if (measure.Length == 0 || measure.Any(m => m is not ("scoring" or "training")))
        {
            throw new BenchUsageException($"--measure must list scoring, training; got '{string.Join(",", measure)}'");
        }
        var scoring = measure.Contains("scoring");
        var training = measure.Contains("training");
        var trainSamples = a.GetValue(TrainSamples);
        var trainBatch = a.GetValue(TrainBatch);
        var pytorch = a.GetValue(PyTorch);
        s_tuning = new OnnxTuning(a.GetValue(OnnxThreads) == "batch-per-thread", a.GetValue(OnnxRewrite) == "all");
        foreach (var e in engines)
        {
            if (!KnownEngines.Contains(e)) throw new BenchUsageException($"--engine must list {string.Join(", ", KnownEngines)}; got '{e}'");
        }
        if (engines.Length == 0) throw new BenchUsageException("--engine lists no engine");
        // A CUDA run without a GPU fails here, in one line, before any data is loaded.
        if (engines.Contains("onnx-cuda") && OnnxScoringNetwork.CudaUnavailableReason() is { } noCuda) throw new BenchUsageException($"--engine onnx-cuda: {noCuda}");

        TorchRuntime.EnsureLoaded();
        if (threads > 0) set_num_threads(threads);
        threads = get_num_threads();
        var train = FashionMnist.LoadTrain(dataDir);
        var pool = Resize(Cycle(train, scoring ? samples : trainSamples), size);
        NetworkSpec spec;
        try
        {
            spec = NetworkSpec.Dense(arch, pool.Channels, 10, stem: stem);
            spec.Describe().SpatialSizes(pool.Height, pool.Width);
        }
        catch (ArgumentException e)
        {
            var stemText = stem is null ? "" : $" --stem {stem}";
            throw new BenchUsageException($"--arch {arch}{stemText} at {pool.Height}×{pool.Width}: {e.Message}");
        }
        using var dense = Network.Create(spec, seed);
        var plan = ChannelPruner.Plan(dense, prune, method, seed);
        using var pruned = ChannelPruner.Extract(dense, plan);
        var denseCx = ModelComplexity.Of(spec, pool.Height, pool.Width);
        var prunedCx = ModelComplexity.Of(plan.Pruned, pool.Height, pool.Width);

        Log($"{spec.Arch} (stem {spec.Stem}) p={prune} at {pool.Height}×{pool.Width}, " +
            $"measuring {string.Join(" and ", measure)}, {threads} threads, engines {string.Join(", ", engines)}, " +
            $"torch device {TorchRuntime.Device.type}; " +
            $"MACs/sample dense {denseCx.Macs / 1e6:F1} M, pruned {prunedCx.Macs / 1e6:F1} M");
        if (!scoring) engines = [];
        // Optionally the sweep also covers thread counts (speed on small hosts depends strongly on batch size and
        // threads: sweep both).
        var threadOptions = threadSweep.Length > 0 ? threadSweep : [threads];
        // And, for torch, scoring workers: W threads each scoring its own slice with threads/W torch threads. (The
        // ONNX engine runs one single-threaded session call per thread itself: that measured fastest here.)
        var sweeps = new List<(string Engine, string Network, SweepResult Sweep)>();
        foreach (var engine in engines)
        {
            sweeps.Add((engine, "dense", SweepThreads(engine, "dense", dense, pool, batchSizes, threadOptions, engine == "torch" ? workerSweep : [1])));
            sweeps.Add((engine, "pruned", SweepThreads(engine, "pruned", pruned, pool, batchSizes, threadOptions, engine == "torch" ? workerSweep : [1])));
        }
        // Full passes alternate over every engine and network so machine noise hits all alike; medians are reported.
        var runs = sweeps.ToDictionary(x => (x.Engine, x.Network), _ => new List<double>());
        for (var r = 0; r < repeats; r++)
        {
            foreach (var (engine, network, sweep) in sweeps)
            {
                set_num_threads(sweep.Threads);
                runs[(engine, network)].Add(Score(sweep.Scorer, pool, sweep.Batch, sweep.Workers));
            }
            Log($"  pass {r + 1}: " + string.Join(", ", sweeps.Select(x => $"{x.Engine} {x.Network} {runs[(x.Engine, x.Network)][^1]:F0}/s")));
        }
        object Row(string engine, string network, ModelComplexity cx)
        {
            var sweep = sweeps.Single(x => x.Engine == engine && x.Network == network).Sweep;
            var passes = runs[(engine, network)];
            return new
            {
                @params = cx.Parameters, macs = cx.Macs, samplesPerSecond = Math.Round(Median(passes), 1), batchSize = sweep.Batch, threads = sweep.Threads,
                workers = sweep.Workers, passes = passes.Select(x => Math.Round(x, 1)), sweep = sweep.Rates,
            };
        }
        double Rate(string engine, string network) => Median(runs[(engine, network)]);
        var perEngine = new Dictionary<string, object>();
        foreach (var engine in engines)
        {
            var speedup = Rate(engine, "pruned") / Rate(engine, "dense");
            Log($"{engine,-9} dense {Rate(engine, "dense"),8:F0}/s, pruned {Rate(engine, "pruned"),8:F0}/s: pruned/dense {speedup:F2}x (MAC ratio {(double)denseCx.Macs / prunedCx.Macs:F2}x)");
            perEngine[engine] = new { dense = Row(engine, "dense", denseCx), pruned = Row(engine, "pruned", prunedCx), speedup = Math.Round(speedup, 3) };
        }
        var versusTorch = new Dictionary<string, object>();
        if (engines.Contains("torch"))
        {
            foreach (var engine in engines.Where(e => e != "torch"))
            {
                var d = Rate(engine, "dense") / Rate("torch", "dense");
                var p = Rate(engine, "pruned") / Rate("torch", "pruned");
                Log($"{engine} vs torch: dense {d:F2}x, pruned {p:F2}x");
                versusTorch[engine] = new { dense = Math.Round(d, 3), pruned = Math.Round(p, 3) };
            }
        }
        var macRatio = (double)denseCx.Macs / prunedCx.Macs;
        var result = new JsonObject
        {
            ["arch"] = spec.Arch, ["stem"] = spec.Stem, ["prune"] = prune, ["size"] = pool.Height,
                ["samples"] = samples, ["threads"] = threads,
            ["repeats"] = repeats, ["host"] = HostName(), ["macRatio"] = Math.Round(macRatio, 3),
            ["denseMacs"] = denseCx.Macs, ["prunedMacs"] = prunedCx.Macs, ["denseParams"] = denseCx.Parameters,
                ["prunedParams"] = prunedCx.Parameters,
        };
        string? fastest = null;
        if (scoring)
        {
            var first = engines[0];
            fastest = engines.OrderByDescending(e => Rate(e, "pruned")).First();
            // The first engine's figures stay at the top level, as before engines were compared.
            result["engine"] = first;
            result["onnxThreads"] = a.GetValue(OnnxThreads);
            result["onnxOptimization"] = a.GetValue(OnnxRewrite);
            result["dense"] = ToNode(Row(first, "dense", denseCx));
            result["pruned"] = ToNode(Row(first, "pruned", prunedCx));
            result["speedup"] = Math.Round(Rate(first, "pruned") / Rate(first, "dense"), 3);
            result["engines"] = ToNode(perEngine);
            result["versusTorch"] = ToNode(versusTorch);
            result["fastestEngine"] = fastest;
            result["fastestSpeedup"] = Math.Round(Rate(fastest, "pruned") / Rate(fastest, "dense"), 3);
            // Per-MAC throughput says which network leaves the CPU idle (depthwise and thin layers do).
            result["gmacPerSecond"] = ToNode(engines.ToDictionary(e => e, e => new
            {
                dense = Math.Round(Rate(e, "dense") * denseCx.Macs / 1e9, 2),
                pruned = Math.Round(Rate(e, "pruned") * prunedCx.Macs / 1e9, 2),
            }));
        }
        (double Dense, double Pruned)? trainingRates = null;
        var trainSet = pool.Take(trainSamples);
        if (training)
        {
            var t = TrainingRates(dense, pruned, trainSet, trainBatch, repeats, seed, !a.GetValue(NoAugment));
            trainingRates = (t.Dense, t.Pruned);
            Log($"training dense {t.Dense,8:F1}/s, pruned {t.Pruned,8:F1}/s: " +
                $"pruned/dense {t.Pruned / t.Dense:F2}x (MAC ratio {macRatio:F2}x)");
            result["training"] = new JsonObject
            {
                ["samples"] = trainSet.Count, ["batchSize"] = trainBatch, ["augment"] = !a.GetValue(NoAugment),
                ["dense"] = Math.Round(t.Dense, 2), ["pruned"] = Math.Round(t.Pruned, 2),
                    ["speedup"] = Math.Round(t.Pruned / t.Dense, 3),
                ["densePasses"] = ToNode(t.DensePasses.Select(x => Math.Round(x, 2))),
                    ["prunedPasses"] = ToNode(t.PrunedPasses.Select(x => Math.Round(x, 2))),
            };
        }
        if (a.GetValue(Profile))
        {
            var profileSet = pool.Take(Math.Min(pool.Count, 1024));
            result["profile"] = new JsonObject
            {
                ["dense"] = LayerProfile.Measure("dense", dense, profileSet, 128, Log),
                ["pruned"] = LayerProfile.Measure("pruned", pruned, profileSet, 128, Log),
                ["denseTraining"] = LayerProfile.TrainingPhases("dense", dense, trainSet, trainBatch, Log),
                ["prunedTraining"] = LayerProfile.TrainingPhases("pruned", pruned, trainSet, trainBatch, Log),
            };
        }
        if (pytorch)
        {
            var refImages = pool.Take(Math.Min(pool.Count, 4096));
            var reference = new JsonObject();
            foreach (var (name, model) in new[] { ("dense", dense), ("pruned", pruned) })
            {
                Log($"  PyTorch {name}: measuring in {PyTorchReference.Describe()}");
                var r = PyTorchReference.Measure(model, refImages, ImageNormalization.FashionMnist,
                    scoring ? batchSizes : [], training ? Math.Min(trainSamples, refImages.Count) : 0,
                    trainBatch, repeats, threads);
                Log($"  PyTorch {name}: {r.ToJsonString()}");
                reference[name] = r;
            }
            result["pytorch"] = reference;
            if (scoring)
            {
                result["versusPyTorch"] = ToNode(engines.ToDictionary(e => e, e => new
                {
                    dense = Math.Round(Rate(e, "dense") / PyTorchRate(reference, "dense", "scoring"), 3),
                    pruned = Math.Round(Rate(e, "pruned") / PyTorchRate(reference, "pruned", "scoring"), 3),
                }));
            }
            if (trainingRates is { } tr)
            {
                result["trainingVersusPyTorch"] = new JsonObject
                {
                    ["dense"] = Math.Round(tr.Dense / PyTorchRate(reference, "dense", "training"), 3),
                    ["pruned"] = Math.Round(tr.Pruned / PyTorchRate(reference, "pruned", "training"), 3),
                };
            }
        }
        if (fastest is not null && training)
        {
            Log("selection cost of a protocol with these rates: " +
                "prunefuse-bench cost-model --rates <this run's --json output>");
        }
        if (json) Console.WriteLine(result.ToJsonString());
        return 0;
    }

    private static JsonNode? ToNode(object value) => JsonSerializer.SerializeToNode(value);

    // PyTorch's samples/s for one network and measurement, from torch_rates.py's JSON.
    private static double PyTorchRate(JsonObject reference, string network, string measurement) =>
        (double)reference[network]![measurement]!["samplesPerSecond"]!;

    /// <summary>One epoch of the study's training recipe per pass, dense and pruned alternating (medians), after an
    /// untimed warm-up epoch each.</summary>
    private static (double Dense, double Pruned, List<double> DensePasses,
        List<double> PrunedPasses) TrainingRates(Network dense, Network pruned, ImageSet set, int batch,
        int repeats, int seed, bool augment)
    {
        var options = new PruneFuse.Learning.Training.TrainingOptions
        {
            Epochs = 1, BatchSize = batch, Seed = seed, EvaluateEveryEpoch = false, CropPadding = augment ? 4 : 0,
                HorizontalFlip = augment,
        };
        var warm = set.Take(Math.Min(set.Count, 2 * batch));
        PruneFuse.Learning.Training.Trainer.Train(dense, warm, options, ImageNormalization.FashionMnist);
        PruneFuse.Learning.Training.Trainer.Train(pruned, warm, options, ImageNormalization.FashionMnist);
        var d = new List<double>();
        var p = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            d.Add(set.Count / PruneFuse.Learning.Training.Trainer.Train(dense, set, options with { Seed = seed + r },
                ImageNormalization.FashionMnist).TrainSeconds);
            p.Add(set.Count / PruneFuse.Learning.Training.Trainer.Train(pruned, set, options with { Seed = seed + r },
                ImageNormalization.FashionMnist).TrainSeconds);
            Log($"  training pass {r + 1}: dense {d[^1]:F1}/s, pruned {p[^1]:F1}/s");
        }
        return (Median(d), Median(p), d, p);
    }

    /// <summary>Nearest-neighbour resize to <paramref name="size"/>×<paramref name="size"/> (0 keeps the images):
    /// larger
    /// inputs for the networks whose stems need them.</summary>
    private static ImageSet Resize(ImageSet set, int size)
    {
        if (size == 0 || (size == set.Height && size == set.Width)) return set;
        var c = set.Channels;
        var pixels = new byte[(long)set.Count * c * size * size];
        var srcImage = set.ImageBytes;
        var dstImage = c * size * size;
        for (var i = 0; i < set.Count; i++)
        {
            for (var ch = 0; ch < c; ch++)
            {
                for (var y = 0; y < size; y++)
                {
                    var sy = y * set.Height / size;
                    for (var x = 0; x < size; x++)
                    {
                        var sx = x * set.Width / size;
                        pixels[(long)i * dstImage + ch * size * size + y * size + x] = set.Pixels[(long)i * srcImage
                            + ch * set.Height * set.Width + sy * set.Width + sx];
                    }
                }
            }
        }
        return new ImageSet(set.Ids, set.Labels, pixels, c, size, size);
    }

    /// <summary>The CPU model this ran on (from /proc/cpuinfo), with its widest vector extension.</summary>
    internal static string HostName()
    {
        try
        {
            var info = File.ReadAllText("/proc/cpuinfo");
            var model = info.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
            var simd = info.Contains(" avx512f", StringComparison.Ordinal) ? "AVX-512" : info.Contains(" avx2", StringComparison.Ordinal) ? "AVX2" : "no AVX2";
            return $"{model}, {simd}, {Environment.ProcessorCount} cores";
        }
        catch (IOException)
        {
            return $"{Environment.ProcessorCount} cores";
        }
    }

    private sealed record Measurement(int Batch, double Rate, Dictionary<string, double> Sweep, List<double> Passes);

    private sealed record SweepResult(PoolScorer Scorer, int Batch, Dictionary<string, double> Rates, int Threads = 0, int Workers = 1);

    private static SweepResult SweepThreads(string engine, string label, Network model, ImageSet pool, int[] batchSizes, int[] threadOptions, int[] workerOptions)
    {
        SweepResult? best = null;
        var all = new Dictionary<string, double>();
        foreach (var w in workerOptions)
        {
            foreach (var t in threadOptions)
            {
                // W workers share the thread count.
                if (t > 0) set_num_threads(Math.Max(1, t / w));
                var actual = get_num_threads();
                var r = Sweep($"{engine} {label} ×{actual}thr ×{w}w", NewScorer(engine, model, actual), pool, batchSizes, w);
                var tag = (threadOptions.Length > 1 ? $"x{actual}" : "") + (workerOptions.Length > 1 ? $"w{w}" : "");
                foreach (var (b, rate) in r.Rates) all[b + tag] = rate;
                var top = r.Rates[r.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture)];
                if (best is null || top > best.Rates[best.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture)]) best = r with { Threads = actual, Workers = w };
            }
        }
        return best! with { Rates = all };
    }

    /// <summary>Median of a list of measurements (shared by the bench commands).</summary>
    internal static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>A scorer on <paramref name="engine"/> with <paramref name="threads"/> compute threads (ONNX sessions
    /// take theirs at creation).</summary>
    private static OnnxTuning s_tuning = OnnxTuning.Default;

    private static PoolScorer NewScorer(string engine, Network model, int threads) => engine switch
    {
        "torch" => new PoolScorer(model, ImageNormalization.FashionMnist),
        "onnx" => new PoolScorer(OnnxScoringNetwork.FromModel(model, ImageNormalization.FashionMnist, "bench network", threads, OnnxDevice.Cpu, s_tuning)),
        "onnx-cuda" => new PoolScorer(OnnxScoringNetwork.FromModel(model, ImageNormalization.FashionMnist, "bench network", threads, OnnxDevice.Cuda, s_tuning)),
        _ => throw new BenchUsageException($"unknown engine '{engine}'"),
    };

    private static SweepResult Sweep(string label, Network model, ImageSet pool, int[] batchSizes, int workers = 1) =>
        Sweep(label, new PoolScorer(model, ImageNormalization.FashionMnist), pool, batchSizes, workers);

    private static SweepResult Sweep(string label, PoolScorer scorer, ImageSet pool, int[] batchSizes, int workers = 1)
    {
        var sweepSet = pool.Take(Math.Min(pool.Count, 4096));
        // Warm-up: first calls allocate and pick kernels.
        Score(scorer, sweepSet.Take(Math.Min(1024, sweepSet.Count)), batchSizes[0], workers);
        var rates = new Dictionary<string, double>();
        foreach (var b in batchSizes)
        {
            Score(scorer, sweepSet.Take(Math.Min(2 * b * workers, sweepSet.Count)), b, workers);
            var rate = Score(scorer, sweepSet, b, workers);
            rates[b.ToString(System.Globalization.CultureInfo.InvariantCulture)] = Math.Round(rate, 1);
            Log($"  {label} batch {b,5}: {rate,9:F0} samples/s");
        }
        var best = batchSizes.OrderByDescending(b => rates[b.ToString(System.Globalization.CultureInfo.InvariantCulture)]).First();
        return new SweepResult(scorer, best, rates);
    }

    private static double Score(PoolScorer scorer, ImageSet set, int batch, int workers = 1)
    {
        var labeled = new HashSet<long>();
        if (workers <= 1)
        {
            var sw = Stopwatch.StartNew();
            var r = scorer.TopK(PoolScorer.Batches(set, batch), set.Channels, set.Height, set.Width, SelectionMetric.LeastConfidence, 1000, labeled, 0);
            sw.Stop();
            if (r.Scored != set.Count) throw new InvalidOperationException($"scored {r.Scored} of {set.Count}");
            return set.Count / sw.Elapsed.TotalSeconds;
        }
        // Contiguous slices, one per worker thread, each streaming its own batches through the same scorer.
        var per = (set.Count + workers - 1) / workers;
        var slices = Enumerable.Range(0, workers).Select(w => set.Subset([.. Enumerable.Range(w * per, Math.Max(0, Math.Min(per, set.Count - w * per)))])).ToArray();
        var watch = Stopwatch.StartNew();
        var threads = slices.Select(slice => new Thread(() =>
        {
            var r = scorer.TopK(PoolScorer.Batches(slice, batch), slice.Channels, slice.Height, slice.Width, SelectionMetric.LeastConfidence, 1000, labeled, 0);
            if (r.Scored != slice.Count) throw new InvalidOperationException($"scored {r.Scored} of {slice.Count}");
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        watch.Stop();
        return set.Count / watch.Elapsed.TotalSeconds;
    }

    private static ImageSet Cycle(ImageSet source, int count)
    {
        if (count <= source.Count) return source.Take(count);
        var idx = Enumerable.Range(0, count).Select(i => i % source.Count).ToArray();
        var set = source.Subset(idx);
        // Repeated images get fresh ids so top-k sees distinct samples.
        return new ImageSet(Enumerable.Range(0, count).Select(i => (long)i).ToArray(), set.Labels, set.Pixels, set.Channels, set.Height, set.Width);
    }

    private static void Log(string message) => Console.Error.WriteLine(message);
}
