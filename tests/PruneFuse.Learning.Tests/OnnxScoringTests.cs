using Microsoft.ML.OnnxRuntime;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Onnx;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Scoring;
using PruneFuse.Learning.Training;

namespace PruneFuse.Learning.Tests;

/// <summary>The ONNX Runtime scoring engine against the torch engine, on real Fashion-MNIST images.</summary>
public sealed class OnnxScoringTests(ITestOutputHelper output)
{
    private static readonly SelectionMetric[] Metrics = [SelectionMetric.LeastConfidence, SelectionMetric.Entropy, SelectionMetric.Margin];

    /// <summary>
    /// A network of <paramref name="arch"/> (dense when <paramref name="p"/> is 0, else pruned at ratio p),
    /// trained one short epoch so BN statistics and affine parameters are far from their initial values.
    /// </summary>
    private static Network Trained(string arch, double p, int seed)
    {
        var theta0 = Network.Create(NetworkSpec.Dense(arch, 1, 10), seed);
        var model = theta0;
        if (p > 0)
        {
            model = ChannelPruner.Extract(theta0, ChannelPruner.Plan(theta0, p, PruningMethod.L2));
            theta0.Dispose();
        }
        Trainer.Train(model, TestData.Train.Take(512), new TrainingOptions { Epochs = 1, BatchSize = 64 }, TestData.Norm);
        return model;
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b).Max(p => Math.Abs((double)p.First - p.Second));
    }

    [Theory]
    [InlineData("resnet8", 0.0)]
    [InlineData("resnet8", 0.25)]
    [InlineData("resnet20", 0.0)]
    [InlineData("resnet20", 0.5)]
    public void Onnx_engine_gives_torch_s_logits_features_and_scores(string arch, double p)
    {
        using var model = Trained(arch, p, 7);
        var images = TestData.Test.Take(300);
        using var torchNet = new TorchScoringNetwork(model, TestData.Norm);
        using var onnxNet = OnnxScoringNetwork.FromModel(model, TestData.Norm, $"{arch} p={p}", threads: 2);
        Assert.Equal("onnx-cpu", onnxNet.Engine);
        var n = images.Count;

        var logits = MaxDiff(torchNet.Logits(images.Pixels, n, 1, 28, 28, out var c1), onnxNet.Logits(images.Pixels, n, 1, 28, 28, out var c2));
        Assert.Equal(10, c1);
        Assert.Equal(10, c2);
        Assert.True(logits <= 1e-4, $"{arch} p={p}: max |Δlogit| = {logits}");
        var features = MaxDiff(torchNet.Features(images.Pixels, n, 1, 28, 28, out var d1), onnxNet.Features(images.Pixels, n, 1, 28, 28, out var d2));
        Assert.Equal(model.Description.FeatureWidth, d1);
        Assert.Equal(d1, d2);
        Assert.True(features <= 1e-4, $"{arch} p={p}: max |Δfeature| = {features}");
        foreach (var metric in Metrics)
        {
            var (ts, tp) = torchNet.Score(images.Pixels, n, 1, 28, 28, metric);
            var (os, op) = onnxNet.Score(images.Pixels, n, 1, 28, 28, metric);
            var scoreDiff = ts.Zip(os).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(scoreDiff <= 1e-4, $"{arch} p={p} {metric}: max |Δscore| = {scoreDiff}");
            Assert.True(ts.Any(s => s > 1e-3), "the scores are not all zero");
            var disagreements = tp.Zip(op).Count(p => p.First != p.Second);
            Assert.True(disagreements == 0, $"{arch} p={p}: {disagreements} predictions differ");
        }
        output.WriteLine($"{arch} p={p}: max |Δlogit| {logits:E2}, max |Δfeature| {features:E2}");
    }

    [Fact]
    public void Top_k_of_a_10000_sample_pool_matches_the_torch_engine_except_near_ties()
    {
        using var selector = Trained("resnet20", 0.5, 11);
        var pool = TestData.Train.Take(10_000);
        var labeled = new HashSet<long>(pool.Ids.Take(500));
        const int k = 1000;
        foreach (var metric in Metrics)
        {
            using var torchScorer = new PoolScorer(selector, TestData.Norm);
            using var onnxScorer = new PoolScorer(OnnxScoringNetwork.FromModel(selector, TestData.Norm, "selector", threads: 2));
            var t = torchScorer.TopK(PoolScorer.Batches(pool, 128), 1, 28, 28, metric, k, labeled, 5);
            var o = onnxScorer.TopK(PoolScorer.Batches(pool, 256), 1, 28, 28, metric, k, labeled, 5);
            Assert.Equal(9_500, t.Scored);
            Assert.Equal(t.Scored, o.Scored);
            var torchIds = t.TopK.Select(s => s.SampleId).ToHashSet();
            var onnxIds = o.TopK.Select(s => s.SampleId).ToHashSet();
            Assert.DoesNotContain(torchIds, labeled.Contains);
            // Where the selections differ, the samples swapped must sit at the k-th score within 1e-6 (a tie the
            // engines' float rounding breaks differently); anything else is a real difference.
            var boundary = t.TopK[^1].Score;
            var onlyTorch = t.TopK.Where(s => !onnxIds.Contains(s.SampleId)).ToList();
            var onlyOnnx = o.TopK.Where(s => !torchIds.Contains(s.SampleId)).ToList();
            Assert.All(onlyTorch.Concat(onlyOnnx), s => Assert.True(Math.Abs(s.Score - boundary) <= 1e-6,
                $"{metric}: sample {s.SampleId} (score {s.Score}) is in one engine's top-{k} only, k-th score {boundary}"));
            var overlap = torchIds.Intersect(onnxIds).Count() / (double)k;
            output.WriteLine($"{metric}: top-{k} overlap {overlap:P2} ({onlyTorch.Count} swapped at the boundary)");
            // The order agrees too, except among scores within 1e-6 of each other.
            var torchRank = t.TopK.Select((s, i) => (s.SampleId, i)).ToDictionary(p => p.SampleId, p => p.i);
            foreach (var (s, i) in o.TopK.Select((s, i) => (s, i)))
            {
                if (!torchRank.TryGetValue(s.SampleId, out var j) || i == j) continue;
                Assert.True(Math.Abs(t.TopK[j].Score - t.TopK[i].Score) <= 1e-6, $"{metric}: sample {s.SampleId} ranks {i} on onnx, {j} on torch");
            }
            var torchPredicted = t.TopK.ToDictionary(s => s.SampleId, s => s.Predicted);
            Assert.All(o.TopK.Where(s => torchIds.Contains(s.SampleId)), s => Assert.Equal(torchPredicted[s.SampleId], s.Predicted));
        }
    }

    [Fact]
    public void An_exported_onnx_file_loads_in_onnx_runtime_and_reproduces_the_logits()
    {
        using var model = Trained("resnet14", 0.5, 3);
        var dir = Directory.CreateTempSubdirectory("prunefuse-onnx-");
        try
        {
            var path = Path.Combine(dir.FullName, "selector.onnx");
            File.WriteAllBytes(path, OnnxExport.Build(model, TestData.Norm, new Dictionary<string, string> { ["prunefuse.note"] = "test" }));
            var images = TestData.Test.Take(64);
            // Plain ONNX Runtime from the file, as a user would load it: no PruneFuse code on this side.
            using var session = new InferenceSession(path);
            Assert.Equal(OnnxExport.Images, session.InputMetadata.Keys.Single());
            Assert.Equal(typeof(byte), session.InputMetadata[OnnxExport.Images].ElementType);
            Assert.Equal("test", session.ModelMetadata.CustomMetadataMap["prunefuse.note"]);
            Assert.Equal("resnet14", session.ModelMetadata.CustomMetadataMap["prunefuse.arch"]);
            using var input = OrtValue.CreateTensorValueFromMemory(images.Pixels, [64, 1, 28, 28]);
            using var results = session.Run(new RunOptions(), [OnnxExport.Images], [input], [OnnxExport.Logits]);
            var fromFile = results[0].GetTensorDataAsSpan<float>().ToArray();
            var expected = Evaluator.Logits(model, images, TestData.Norm);
            var diff = MaxDiff(expected, fromFile);
            Assert.True(diff <= 1e-4, $"max |Δlogit| = {diff}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Corrupted_onnx_bytes_give_an_error_naming_the_source()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10, 0.5), 1);
        var good = OnnxExport.Build(model, TestData.Norm);
        var truncated = good[..(good.Length / 2)];
        var garbage = new byte[4096];
        new Random(1).NextBytes(garbage);
        var flipped = (byte[])good.Clone();
        // Overwrite the start (the ir_version field and the graph's length prefix) so the protobuf cannot parse.
        for (var i = 0; i < 16; i++) flipped[i] ^= 0xA5;
        foreach (var (name, bytes) in new[] { ("truncated.onnx", truncated), ("garbage.onnx", garbage), ("flipped.onnx", flipped), ("empty.onnx", Array.Empty<byte>()) })
        {
            var e = Assert.Throws<DataFormatException>(() => new OnnxScoringNetwork(bytes, name));
            Assert.Equal(name, e.SourceName);
            Assert.Contains("ONNX", e.Message);
            output.WriteLine(e.Message);
        }
    }
}

/// <summary>The pool scorer with an engine that takes several batches at once: same order, errors and
/// cancellation.</summary>
public sealed class ConcurrentScoringTests
{
    /// <summary>Scores each image by its first pixel; optionally fails or cancels at a given batch, slowly at
    /// random.</summary>
    private sealed class FakeNetwork(int concurrent, int failAt = -1, CancellationTokenSource? cancelAt3 = null) : IScoringNetwork
    {
        private int _calls;
        public string Engine => "fake";
        public int ConcurrentBatches => concurrent;

        public (double[] Scores, long[] Predicted) Score(byte[] pixels, int count, int channels, int height, int width, SelectionMetric metric)
        {
            var call = Interlocked.Increment(ref _calls);
            if (call == failAt) throw new InvalidDataException($"batch {call} failed");
            if (call == 3) cancelAt3?.Cancel();
            Thread.Sleep(Random.Shared.Next(0, 4)); // batches finish out of order
            var size = channels * height * width;
            return ([.. Enumerable.Range(0, count).Select(i => pixels[i * size] / 255.0)], [.. Enumerable.Range(0, count).Select(i => (long)(pixels[i * size] % 10))]);
        }

        public float[] Features(byte[] pixels, int count, int channels, int height, int width, out int dimension)
        {
            dimension = 2;
            var size = channels * height * width;
            return [.. Enumerable.Range(0, count).SelectMany(i => new[] { pixels[i * size], (float)pixels[i * size + 1] })];
        }

        public float[] Logits(byte[] pixels, int count, int channels, int height, int width, out int classes) => throw new NotSupportedException();

        public void Dispose() { }
    }

    [Fact]
    public void Several_batches_in_flight_give_the_sequential_selection_and_features_in_order()
    {
        var set = TestData.Train.Take(2000);
        var labeled = new HashSet<long>(set.Ids.Where(id => id % 7 == 0));
        using var one = new PoolScorer(new FakeNetwork(1));
        using var four = new PoolScorer(new FakeNetwork(4));
        var a = one.TopK(PoolScorer.Batches(set, 64), 1, 28, 28, SelectionMetric.Entropy, 300, labeled, 1);
        var b = four.TopK(PoolScorer.Batches(set, 64), 1, 28, 28, SelectionMetric.Entropy, 300, labeled, 1);
        Assert.Equal(a.TopK, b.TopK);
        Assert.Equal(a.Scored, b.Scored);
        var (ua, ca) = one.Features(PoolScorer.Batches(set, 64), 1, 28, 28, labeled);
        var (ub, cb) = four.Features(PoolScorer.Batches(set, 64), 1, 28, 28, labeled);
        Assert.Equal(ua.Select(c => c.SampleId), ub.Select(c => c.SampleId));
        Assert.Equal(ua.SelectMany(c => c.Features), ub.SelectMany(c => c.Features));
        Assert.Equal(ca.SelectMany(c => c), cb.SelectMany(c => c));
    }

    [Fact]
    public void A_failing_batch_fails_the_call_and_a_cancelled_call_stops()
    {
        var set = TestData.Train.Take(2000);
        using var failing = new PoolScorer(new FakeNetwork(3, failAt: 5));
        // The engine's own exception, not an AggregateException: callers name corrupted shards by its type.
        var e = Assert.Throws<InvalidDataException>(() => failing.TopK(PoolScorer.Batches(set, 64), 1, 28, 28, SelectionMetric.Margin, 10, new HashSet<long>(), 1));
        Assert.Equal("batch 5 failed", e.Message);
        using var cts = new CancellationTokenSource();
        using var cancelled = new PoolScorer(new FakeNetwork(3, cancelAt3: cts));
        Assert.ThrowsAny<OperationCanceledException>(() => cancelled.TopK(PoolScorer.Batches(set, 64), 1, 28, 28, SelectionMetric.Margin, 10, new HashSet<long>(), 1, cts.Token));
    }
}
