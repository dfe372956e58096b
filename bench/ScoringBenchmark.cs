using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using static TorchSharp.torch;

namespace PruneFuse.Bench;

/// <summary>
/// Scores the same real images with the dense network θ0 and its pruned selector in one process, each at its own
/// best batch size from one sweep, after a warm-up, and reports both rates and the speedup.
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
        var spec = ResNetSpec.Dense(arch, pool.Channels, 10);
        using var dense = ResNet.Create(spec, 0);
        var candidates = new List<(string Name, ResNet Model, ModelComplexity Cx)>();
        foreach (var p in ratios)
        {
            var plan = ChannelPruner.Plan(dense, p, PruningMethod.L2);
            candidates.Add(($"pruned p={p}", ChannelPruner.Extract(dense, plan), ModelComplexity.Of(plan.Pruned, pool.Height, pool.Width)));
        }
        foreach (var proxy in proxies)
        {
            var proxySpec = ResNetSpec.Dense(proxy, pool.Channels, 10);
            candidates.Add(($"proxy {proxySpec.Arch}", ResNet.Create(proxySpec, 0), ModelComplexity.Of(proxySpec, pool.Height, pool.Width)));
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
    private static readonly Option<string?> Data = BenchOptions.Data();
    private static readonly Option<bool> Json = BenchOptions.Json();

    /// <summary>The <c>scoring</c> command.</summary>
    public static Command Command()
    {
        Method.AcceptOnlyFromAmong("l2", "random");
        var c = new Command("scoring", "Score real Fashion-MNIST images with a dense network and its pruned selector, side by side")
        {
            Arch, Prune, Samples, Repeats, Batches, Threads, ThreadSweep, WorkerSweep, Method, Seed, Data, Json,
        };
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
        var dataDir = a.GetValue(Data);
        var json = a.GetValue(Json);

        TorchRuntime.EnsureLoaded();
        if (threads > 0) set_num_threads(threads);
        threads = get_num_threads();
        var train = FashionMnist.LoadTrain(dataDir);
        var pool = Cycle(train, samples);
        var spec = ResNetSpec.Dense(arch, pool.Channels, 10);
        using var dense = ResNet.Create(spec, seed);
        var plan = ChannelPruner.Plan(dense, prune, method, seed);
        using var pruned = ChannelPruner.Extract(dense, plan);

        Log($"{arch} p={prune} on {samples} real Fashion-MNIST images, {threads} torch threads, device {TorchRuntime.Device.type}");
        // Optionally the sweep also covers torch thread counts (DESIGN.md §5: sweep batch sizes and thread settings).
        var threadOptions = threadSweep.Length > 0 ? threadSweep : [threads];
        // And, optionally, scoring workers: W threads each scoring its own slice with threads/W torch threads.
        var denseSweep = SweepThreads("dense", dense, pool, batchSizes, threadOptions, workerSweep);
        var prunedSweep = SweepThreads("pruned", pruned, pool, batchSizes, threadOptions, workerSweep);
        // Full passes alternate dense / pruned so machine noise hits both alike; medians are reported.
        var denseRuns = new List<double>();
        var prunedRuns = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            set_num_threads(denseSweep.Threads);
            denseRuns.Add(Score(denseSweep.Scorer, pool, denseSweep.Batch, denseSweep.Workers));
            set_num_threads(prunedSweep.Threads);
            prunedRuns.Add(Score(prunedSweep.Scorer, pool, prunedSweep.Batch, prunedSweep.Workers));
            Log($"  pass {r + 1}: dense {denseRuns[^1]:F0}/s, pruned {prunedRuns[^1]:F0}/s, ratio {prunedRuns[^1] / denseRuns[^1]:F2}x");
        }
        var denseResult = new Measurement(denseSweep.Batch, Median(denseRuns), denseSweep.Rates, denseRuns);
        var prunedResult = new Measurement(prunedSweep.Batch, Median(prunedRuns), prunedSweep.Rates, prunedRuns);
        Log($"best settings: dense batch {denseSweep.Batch} × {denseSweep.Threads} threads × {denseSweep.Workers} workers, pruned batch {prunedSweep.Batch} × {prunedSweep.Threads} threads × {prunedSweep.Workers} workers");
        var denseCx = ModelComplexity.Of(spec, pool.Height, pool.Width);
        var prunedCx = ModelComplexity.Of(plan.Pruned, pool.Height, pool.Width);
        var speedup = prunedResult.Rate / denseResult.Rate;
        Log($"dense  {denseResult.Rate,9:F0} samples/s (batch {denseResult.Batch}), {denseCx.Macs / 1e6:F2} MMACs");
        Log($"pruned {prunedResult.Rate,9:F0} samples/s (batch {prunedResult.Batch}), {prunedCx.Macs / 1e6:F2} MMACs");
        Log($"speedup {speedup:F2}x (MAC ratio {(double)denseCx.Macs / prunedCx.Macs:F2}x)");

        var result = new
        {
            arch = spec.Arch,
            prune,
            samples,
            threads,
            repeats,
            dense = new { @params = denseCx.Parameters, macs = denseCx.Macs, samplesPerSecond = Math.Round(denseResult.Rate, 1), batchSize = denseResult.Batch, torchThreads = denseSweep.Threads, workers = denseSweep.Workers, passes = denseResult.Passes.Select(x => Math.Round(x, 1)), sweep = denseResult.Sweep },
            pruned = new { @params = prunedCx.Parameters, macs = prunedCx.Macs, samplesPerSecond = Math.Round(prunedResult.Rate, 1), batchSize = prunedResult.Batch, torchThreads = prunedSweep.Threads, workers = prunedSweep.Workers, passes = prunedResult.Passes.Select(x => Math.Round(x, 1)), sweep = prunedResult.Sweep },
            speedup = Math.Round(speedup, 3),
            macRatio = Math.Round((double)denseCx.Macs / prunedCx.Macs, 3),
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    private sealed record Measurement(int Batch, double Rate, Dictionary<string, double> Sweep, List<double> Passes);

    private sealed record SweepResult(PoolScorer Scorer, int Batch, Dictionary<string, double> Rates, int Threads = 0, int Workers = 1);

    private static SweepResult SweepThreads(string label, ResNet model, ImageSet pool, int[] batchSizes, int[] threadOptions, int[] workerOptions)
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
                var r = Sweep($"{label} ×{actual}thr ×{w}w", model, pool, batchSizes, w);
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

    private static SweepResult Sweep(string label, ResNet model, ImageSet pool, int[] batchSizes, int workers = 1)
    {
        var scorer = new PoolScorer(model, ImageNormalization.FashionMnist);
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
