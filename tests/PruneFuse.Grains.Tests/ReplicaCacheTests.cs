using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Compute;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Grains.Tests;

/// <summary>The silo's scoring engine choice: ONNX sessions per checkpoint, torch on request, CUDA or the reason why
/// not.</summary>
public sealed class ReplicaCacheTests
{
    private sealed class CapturingLogger<T> : ILogger<T>
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }

    private static byte[] SelectorCheckpoint()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        return Checkpoint.Save(selector, plan);
    }

    [Fact]
    public void A_gpu_silo_scores_on_cuda_or_on_the_cpu_saying_why_once()
    {
        var bytes = SelectorCheckpoint();
        var log = new CapturingLogger<ReplicaCache>();
        var cache = new ReplicaCache(new ComputeOptions { OnnxDevice = OnnxDevice.Auto }, log);
        var noCuda = OnnxScoringNetwork.CudaUnavailableReason();
        foreach (var etag in new[] { "e1", "e2", "e1" })
        {
            using var scorer = cache.Scorer("selector-round-001", etag, bytes, ImageNormalization.FashionMnist);
            Assert.Equal(noCuda is null ? "onnx-cuda" : "onnx-cpu", scorer.Engine);
        }
        var line = Assert.Single(log.Lines);
        if (noCuda is null)
        {
            Assert.Equal(LogLevel.Information, line.Level);
        }
        else
        {
            // This (CPU) build: one warning with the reason, however many sessions the silo opens.
            Assert.Equal(LogLevel.Warning, line.Level);
            Assert.Contains("Pool scoring engine: onnx-cpu", line.Text);
            Assert.Contains($"not CUDA: {noCuda}", line.Text);
        }
    }

    [Fact]
    public void The_engine_setting_picks_torch_or_onnx_on_a_cpu_silo()
    {
        var bytes = SelectorCheckpoint();
        var torchLog = new CapturingLogger<ReplicaCache>();
        using (var torch = new ReplicaCache(new ComputeOptions { ScoringEngine = ScoringEngine.Torch }, torchLog).Scorer("s", "e", bytes, ImageNormalization.FashionMnist))
        {
            Assert.Equal("torch", torch.Engine);
        }
        Assert.Equal((LogLevel.Information, "Pool scoring engine: torch"), Assert.Single(torchLog.Lines));
        var onnxLog = new CapturingLogger<ReplicaCache>();
        using (var onnx = new ReplicaCache(new ComputeOptions { ScoringThreads = 1 }, onnxLog).Scorer("s", "e", bytes, ImageNormalization.FashionMnist))
        {
            Assert.Equal("onnx-cpu", onnx.Engine);
        }
        Assert.Equal((LogLevel.Information, "Pool scoring engine: onnx-cpu, 1 threads"), Assert.Single(onnxLog.Lines));
    }

    [Fact]
    public void An_onnx_scorer_in_use_keeps_its_session_after_the_cache_evicts_it()
    {
        var bytes = SelectorCheckpoint();
        var cache = new ReplicaCache(new ComputeOptions { ScoringThreads = 1 }, new CapturingLogger<ReplicaCache>());
        var images = new byte[16 * 784];
        new Random(3).NextBytes(images);
        using var first = cache.Scorer("s", "v0", bytes, ImageNormalization.FashionMnist);
        var batch = new ShardBatch([.. Enumerable.Range(0, 16).Select(i => (long)i)], new int[16], images);
        var before = first.TopK([batch], 1, 28, 28, SelectionMetric.Entropy, 16, new HashSet<long>(), 0).TopK;
        // Newer checkpoints push v0 out of the cache (it keeps 4) while `first` is still scoring with it, as a compute
        // slot on another thread may be.
        for (var v = 1; v <= 5; v++)
        {
            using var other = cache.Scorer("s", $"v{v}", bytes, ImageNormalization.FashionMnist);
        }
        Assert.Equal(before, first.TopK([batch], 1, 28, 28, SelectionMetric.Entropy, 16, new HashSet<long>(), 0).TopK);
    }
}
