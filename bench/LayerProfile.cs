using System.Text.Json.Nodes;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Bench;

/// <summary>
/// Where a network's inference time goes (<c>scoring --profile</c>): TorchSharp eval-mode forward passes timed layer by
/// layer (BatchNorm unfolded, so its own cost shows), grouped by kind of layer with each group's MACs and GMAC/s, plus
/// the slowest layers. Depthwise convolutions are their own group: CPUs run them at a small fraction of a dense
/// convolution's rate per MAC.
/// </summary>
internal static class LayerProfile
{
    /// <summary>Profiles <paramref name="model"/> on <paramref name="images"/> in batches of <paramref
    /// name="batch"/>.</summary>
    public static JsonObject Measure(string label, Network model, ImageSet images, int batch, Action<string> log)
    {
        var d = model.Description;
        var macs = ModelComplexity.LayerMacs(d, images.Height, images.Width);
        var seconds = new double[d.Layers.Count];
        var prep = new BatchPreparer(ImageNormalization.FashionMnist, model.Device);
        model.eval();
        using (no_grad())
        {
            using var all = tensor(images.Pixels, dtype: ScalarType.Byte).reshape(images.Count, images.Channels,
                images.Height, images.Width);
            // One untimed pass picks kernels; the timed pass follows.
            for (var pass = 0; pass < 2; pass++)
            {
                if (pass == 1) Array.Clear(seconds);
                for (var start = 0; start < images.Count; start += batch)
                {
                    using var scope = NewDisposeScope();
                    var n = Math.Min(batch, images.Count - start);
                    var x = prep.Normalize(all.narrow(0, start, n));
                    model.ForwardProfiled(x, seconds);
                }
            }
        }
        var total = seconds.Sum();
        var groups = new JsonObject();
        var byKind = Enumerable.Range(1, d.Layers.Count - 1).GroupBy(i => Group(d.Layers[i]));
        foreach (var g in byKind.OrderByDescending(g => g.Sum(i => seconds[i])))
        {
            var s = g.Sum(i => seconds[i]);
            var m = g.Sum(i => macs[i]);
            groups[g.Key] = new JsonObject
            {
                ["layers"] = g.Count(), ["share"] = Math.Round(s / total, 3),
                    ["msPerSample"] = Math.Round(1000 * s / images.Count, 4),
                ["macsPerSample"] = m, ["gmacPerSecond"] = m == 0 ? null
                    : Math.Round(m * (double)images.Count / s / 1e9, 2),
            };
            log($"  profile {label}: {g.Key,-22} {g.Count(),3} layers {100 * s / total,5:F1}% of the time, " +
                $"{m / 1e6,8:F1} M MACs" +
                (m == 0 ? "" : $", {m * (double)images.Count / s / 1e9,6:F1} GMAC/s"));
        }
        var slowest = new JsonArray();
        foreach (var i in Enumerable.Range(1, d.Layers.Count - 1).OrderByDescending(i => seconds[i]).Take(8))
        {
            slowest.Add(new JsonObject
            {
                ["layer"] = d.Layers[i].Name, ["kind"] = Group(d.Layers[i]), ["channels"] = d.WidthOf(i),
                    ["share"] = Math.Round(seconds[i] / total, 3),
                ["gmacPerSecond"] = macs[i] == 0 ? null
                    : Math.Round(macs[i] * (double)images.Count / seconds[i] / 1e9, 2),
            });
        }
        return new JsonObject
        {
            ["samplesPerSecond"] = Math.Round(images.Count / total, 1), ["batchSize"] = batch, ["groups"] = groups,
                ["slowestLayers"] = slowest,
        };
    }

    /// <summary>
    /// One training step split into its phases (forward with the loss, backward, optimizer step), median over the
    /// batches of <paramref name="images"/> after one untimed step: the same split <c>torch_rates.py</c> reports for
    /// PyTorch, so a slower training step shows which phase loses the time.
    /// </summary>
    public static JsonObject TrainingPhases(string label, Network model, ImageSet images, int batch, Action<string> log)
    {
        var prep = new BatchPreparer(ImageNormalization.FashionMnist, model.Device);
        using var all = tensor(images.Pixels, dtype: ScalarType.Byte).reshape(images.Count, images.Channels,
            images.Height, images.Width);
        using var labels = tensor(images.Labels.Select(l => (long)l).ToArray());
        using var optimizer = optim.SGD(model.parameters(), 0.01, 0.9, 0, 5e-4, false, false);
        model.train();
        var forward = new List<double>();
        var backward = new List<double>();
        var step = new List<double>();
        var clock = new System.Diagnostics.Stopwatch();
        for (var start = -batch; start + batch <= images.Count; start += batch)
        {
            using var scope = NewDisposeScope();
            var from = Math.Max(0, start);
            var x = prep.Normalize(all.narrow(0, from, batch));
            var y = labels.narrow(0, from, batch);
            clock.Restart();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            var f = clock.Elapsed.TotalSeconds;
            clock.Restart();
            loss.backward();
            var b = clock.Elapsed.TotalSeconds;
            clock.Restart();
            optimizer.step();
            var st = clock.Elapsed.TotalSeconds;
            if (start < 0) continue; // the untimed first step
            forward.Add(f);
            backward.Add(b);
            step.Add(st);
        }
        model.eval();
        if (forward.Count == 0) throw new BenchUsageException($"--profile needs at least {2 * batch} training images");
        double Ms(List<double> xs) => Math.Round(1000 * ScoringBenchmark.Median(xs) / batch, 3);
        log($"  profile {label} training step, ms per sample: forward {Ms(forward)}, backward {Ms(backward)}, " +
            $"optimizer step {Ms(step)}");
        return new JsonObject { ["batchSize"] = batch, ["forwardMsPerSample"] = Ms(forward),
            ["backwardMsPerSample"] = Ms(backward), ["stepMsPerSample"] = Ms(step) };
    }

    private static string Group(Layer l) => l.Kind switch
    {
        LayerKind.Conv when l.Depthwise => "depthwise conv",
        LayerKind.Conv when l.Kernel == 1 => "1×1 conv",
        LayerKind.Conv => $"{l.Kernel}×{l.Kernel} conv",
        LayerKind.BatchNorm => "batch norm",
        LayerKind.Linear => "linear",
        _ => "other (relu, add, pool)",
    };
}
