using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using PruneFuse.Learning.Training;

namespace PruneFuse.Learning.Tests;

/// <summary>The pool scorer over shard streams and its k-center features, and distillation's teacher.</summary>
public class PoolScorerTests
{
    public PoolScorerTests() => TorchRuntime.EnsureLoaded();

    [Fact]
    public void A_work_unit_s_slice_of_a_shard_stream_and_of_the_set_hold_the_same_samples_and_the_checksum_is_still_verified()
    {
        var set = TestData.Train.Take(700);
        var ms = new MemoryStream();
        PoolShardFormat.Write(ms, set, 10);
        foreach (var (first, count) in new[] { (0, 700), (0, 100), (130, 300), (699, 1), (256, 128), (500, 0) })
        {
            ms.Position = 0;
            using var reader = new PoolShardReader(new MemoryStream(ms.ToArray()), "pool.pfs");
            var streamed = PoolScorer.Slice(reader.ReadBatches(128), first, count).ToList();
            var inMemory = PoolScorer.Batches(set, 128, first, count).ToList();
            Assert.Equal(set.Ids[first..(first + count)], streamed.SelectMany(b => b.Ids));
            Assert.Equal(set.Ids[first..(first + count)], inMemory.SelectMany(b => b.Ids));
            Assert.Equal(set.Pixels[(first * 784)..((first + count) * 784)], streamed.SelectMany(b => b.Pixels));
            Assert.Equal(set.Pixels[(first * 784)..((first + count) * 784)], inMemory.SelectMany(b => b.Pixels));
        }
        // The slice reads the whole stream, so a flipped pixel outside the unit still fails it.
        var corrupted = ms.ToArray();
        corrupted[^1] ^= 0xFF;
        using var bad = new PoolShardReader(new MemoryStream(corrupted), "bad.pfs");
        Assert.Throws<DataFormatException>(() => PoolScorer.Slice(bad.ReadBatches(128), 0, 100).ToList());
        Assert.Throws<ArgumentOutOfRangeException>(() => PoolScorer.Batches(set, 128, 650, 100).ToList());
    }

    [Fact]
    public void Scoring_a_shard_stream_equals_scoring_the_set()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10, 0.5), 4);
        var set = TestData.Train.Take(700);
        var ms = new MemoryStream();
        PoolShardFormat.Write(ms, set, 10);
        ms.Position = 0;
        using var reader = new PoolShardReader(ms, "pool.pfs");
        using var scorer = new PoolScorer(model, TestData.Norm);
        var fromShard = scorer.TopK(reader.ReadBatches(128), 1, 28, 28, SelectionMetric.Entropy, 50, new HashSet<long>(), 1);
        var fromSet = scorer.TopK(PoolScorer.Batches(set, 128), 1, 28, 28, SelectionMetric.Entropy, 50, new HashSet<long>(), 1);
        Assert.Equal(fromSet.TopK, fromShard.TopK);
        Assert.Equal(700, fromShard.Scored);
        Assert.True(model.training, "scoring restores the network's training mode");
    }

    [Fact]
    public void Features_are_penultimate_embeddings_split_by_labeled()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 4);
        var set = TestData.Train.Take(300);
        var labeled = new HashSet<long>(set.Ids.Take(40));
        var (unlabeled, centers) = new PoolScorer(model, TestData.Norm).Features(PoolScorer.Batches(set, 64), 1, 28, 28, labeled);
        Assert.Equal(260, unlabeled.Count);
        Assert.Equal(40, centers.Count);
        Assert.All(unlabeled, c => Assert.Equal(64, c.Features.Length));
        Assert.DoesNotContain(unlabeled, c => labeled.Contains(c.SampleId));
        // The same features computed directly from the network.
        model.eval();
        using var noGrad = TorchSharp.torch.no_grad();
        var x = new BatchPreparer(TestData.Norm).Prepare(set.Subset([45]).Pixels, 1, 1, 28, 28);
        var direct = model.Features(x).data<float>().ToArray();
        var fromScorer = unlabeled.Single(c => c.SampleId == set.Ids[45]).Features;
        // Batch of 1 vs batch of 64: equal up to floating-point batch effects.
        for (var i = 0; i < direct.Length; i++) Assert.True(Math.Abs(direct[i] - fromScorer[i]) < 1e-4, $"feature {i}: {direct[i]} vs {fromScorer[i]}");
        var picks = KCenterGreedy.Select(unlabeled, centers, 10);
        Assert.Equal(10, picks.Select(p => p.SampleId).Distinct().Count());
    }

    [Fact]
    public void Distillation_leaves_the_teacher_untouched()
    {
        var train = TestData.Train.Take(256);
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var teacher = ChannelPruner.Extract(theta0, plan);
        Trainer.Train(teacher, train, new TrainingOptions { Epochs = 1 }, TestData.Norm);
        var before = teacher.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Trainer.Train(theta0, train, new TrainingOptions { Epochs = 1, Distillation = new DistillationOptions() }, TestData.Norm, teacher: teacher);
        foreach (var (name, t) in teacher.state_dict()) Assert.True(Identical(before[name], t), $"teacher tensor {name} changed");
    }
}
