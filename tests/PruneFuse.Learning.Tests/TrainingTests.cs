using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

public class TrainingTests
{
    public TrainingTests() => TorchRuntime.EnsureLoaded();

    [Theory]
    [InlineData(0, 0.01)]
    [InlineData(1, 0.1)]
    [InlineData(10, 0.1)]
    [InlineData(11, 0.01)]
    [InlineData(15, 0.01)]
    [InlineData(16, 0.001)]
    [InlineData(20, 0.001)]
    public void Learning_rate_follows_svp_schedule(int epoch, double expected)
    {
        // 21 epochs: 1 warm-up, then 20 remaining = 10 at 0.1, 5 at 0.01, 5 at 0.001.
        Assert.Equal(expected, LearningRateSchedule.ForEpoch(epoch, 21), 12);
    }

    [Fact]
    public void Short_schedules_still_reach_the_base_rate()
    {
        Assert.Equal([0.01], Enumerable.Range(0, 1).Select(e => LearningRateSchedule.ForEpoch(e, 1)));
        Assert.Equal([0.01, 0.1], Enumerable.Range(0, 2).Select(e => LearningRateSchedule.ForEpoch(e, 2)));
        Assert.Equal([0.01, 0.1, 0.1, 0.01, 0.001], Enumerable.Range(0, 5).Select(e => Math.Round(LearningRateSchedule.ForEpoch(e, 5), 6)));
    }

    [Fact]
    public void Distillation_loss_matches_hand_computed_value()
    {
        using var student = tensor(new float[,] { { 1f, 0f } });
        using var teacher = tensor(new float[,] { { 0f, 1f } });
        using var ce = tensor(2.0f);
        var d = new DistillationOptions(Alpha: 0.5, Temperature: 2);
        // T=2: p = softmax(0, .5) = (0.37754, 0.62246), q = softmax(.5, 0) = (0.62246, 0.37754).
        var p = new[] { 1 / (1 + Math.Exp(0.5)), 1 / (1 + Math.Exp(-0.5)) };
        var q = new[] { p[1], p[0] };
        var kl = p[0] * Math.Log(p[0] / q[0]) + p[1] * Math.Log(p[1] / q[1]);
        var expected = 0.5 * 2.0 + 0.5 * 4 * kl;
        Assert.Equal(expected, Trainer.DistillationLoss(student, teacher, ce, d).item<float>(), 5);
        // Identical logits: the KL term vanishes.
        Assert.Equal(1.0, Trainer.DistillationLoss(student, student, ce, d).item<float>(), 6);
    }

    [Fact]
    public void Invalid_options_are_refused_by_name()
    {
        Assert.Contains("epochs", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingOptions { Epochs = 0 }.Validate()).Message);
        Assert.Contains("alpha", Assert.Throws<ArgumentOutOfRangeException>(() => new DistillationOptions(1.5).Validate()).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => new DistillationOptions(0.5, 0).Validate()).Message);
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var unlabeled = new ImageSet([1, 2], [0, -1], new byte[2 * 784], 1, 28, 28);
        Assert.Contains("sample 2 has label -1", Assert.Throws<ArgumentException>(() => Trainer.Train(model, unlabeled, new TrainingOptions { Epochs = 1 }, TestData.Norm)).Message);
    }

    [Fact]
    public void Small_resnet_learns_real_fashion_mnist()
    {
        // A behaviour check, not a timing: resnet8 on 4,000 real images, tested on 2,000 held-out images.
        var rng = new SeededRandom(17);
        var train = TestData.Train.Subset(rng.Permutation(TestData.Train.Count).Take(4000).ToArray());
        var test = TestData.Test.Take(2000);
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 17);
        var result = Trainer.Train(model, train, new TrainingOptions { Epochs = 10, Seed = 17 }, TestData.Norm, test);
        Assert.True(result.LastAccuracy > 0.75, $"test accuracy {result.LastAccuracy:P1}");
        Assert.True(result.BestAccuracy >= result.LastAccuracy);
        Assert.Equal(10, result.Epochs.Count);
    }

    [Fact]
    public void Same_seed_gives_same_weights_and_same_selection()
    {
        var train = TestData.Train.Take(600);
        var pool = TestData.Train.Subset(Enumerable.Range(1000, 1500).ToArray());
        (float[] Weights, long[] Selection) Run(long seed)
        {
            using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), seed);
            var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
            using var selector = ChannelPruner.Extract(theta0, plan);
            Trainer.Train(selector, train, new TrainingOptions { Epochs = 2, Seed = seed, BatchSize = 64 }, TestData.Norm);
            var weights = selector.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();
            using var scorer = new PoolScorer(selector, TestData.Norm);
            var top = scorer.TopK(PoolScorer.Batches(pool, 100), 1, 28, 28, SelectionMetric.LeastConfidence, 50, new HashSet<long>(), seed);
            return (weights, top.TopK.Select(s => s.SampleId).ToArray());
        }
        var a = Run(5);
        var b = Run(5);
        var c = Run(6);
        Assert.Equal(a.Weights, b.Weights);
        Assert.Equal(a.Selection, b.Selection);
        Assert.NotEqual(a.Selection, c.Selection);
    }

    [Fact]
    public void Sharded_scoring_equals_single_pass_and_skips_labeled()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10, widthMultiplier: 0.5), 2);
        var pool = TestData.Train.Subset(Enumerable.Range(0, 1200).ToArray());
        var labeled = new HashSet<long>(pool.Ids.Where(id => id % 5 == 0));
        using var scorer = new PoolScorer(model, TestData.Norm);
        foreach (var metric in new[] { SelectionMetric.LeastConfidence, SelectionMetric.Entropy, SelectionMetric.Margin, SelectionMetric.Random })
        {
            // Same batch boundaries in both forms: libtorch does not promise bit-identical results across batch shapes.
            var whole = scorer.TopK(PoolScorer.Batches(pool, 100), 1, 28, 28, metric, 100, labeled, 9);
            var shards = Enumerable.Range(0, 4).Select(s => pool.Subset(Enumerable.Range(s * 300, 300).ToArray()))
                .Select(shard => (IReadOnlyList<ScoredSample>)scorer.TopK(PoolScorer.Batches(shard, 100), 1, 28, 28, metric, 100, labeled, 9).TopK).ToList();
            Assert.Equal(whole.TopK, TopKMerge.Merge(shards, 100));
            Assert.DoesNotContain(whole.TopK, s => labeled.Contains(s.SampleId));
            Assert.Equal(1200 - labeled.Count, whole.Scored);
        }
    }

    [Fact]
    public void Distillation_training_runs_with_a_teacher()
    {
        var train = TestData.Train.Take(256);
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var teacher = ChannelPruner.Extract(theta0, plan);
        var result = Trainer.Train(theta0, train, new TrainingOptions { Epochs = 1, Distillation = new DistillationOptions() }, TestData.Norm, teacher: teacher);
        Assert.True(double.IsFinite(result.Epochs[0].TrainLoss));
        Assert.Throws<ArgumentException>(() => Trainer.Train(theta0, train, new TrainingOptions { Epochs = 1, Distillation = new DistillationOptions() }, TestData.Norm));
    }

    [Fact]
    public void Distillation_alpha_decays_linearly_to_zero_over_its_fraction_of_training()
    {
        var third = new DistillationOptions(Alpha: 0.6, Temperature: 4, Decay: 1.0 / 3);
        // 30 epochs, a third = 10: α falls by 0.06 an epoch and is 0 from epoch 10 on.
        Assert.Equal([0.6, 0.54, 0.3, 0.06, 0, 0, 0], new[] { 0, 1, 5, 9, 10, 11, 29 }.Select(e => Math.Round(third.AlphaAt(e, 30), 9)));
        // 10 epochs: a third is 3.33 epochs.
        Assert.Equal([0.6, 0.42, 0.24, 0.06, 0], Enumerable.Range(0, 5).Select(e => Math.Round(third.AlphaAt(e, 10), 9)));
        Assert.All(Enumerable.Range(0, 30), e => Assert.Equal(0.6, new DistillationOptions(0.6, 4).AlphaAt(e, 30)));
        Assert.Contains("decay", Assert.Throws<ArgumentOutOfRangeException>(() => new DistillationOptions(0.5, 4, 1.5).Validate()).Message);
        Assert.Contains("decay", Assert.Throws<ArgumentOutOfRangeException>(() => new DistillationOptions(0.5, 4, double.NaN).Validate()).Message);
    }

    [Fact]
    public void A_decayed_alpha_stops_consulting_the_teacher()
    {
        // α = 1 over the first third of 3 epochs: epoch 0 distils only, epochs 1 and 2 learn from the labels alone.
        // The teacher is poisoned with NaN after epoch 0: consulting it again would make the loss NaN ("diverged").
        var train = TestData.Train.Take(256);
        TrainingResult Run(double decay)
        {
            using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
            var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
            using var teacher = ChannelPruner.Extract(theta0, plan);
            var options = new TrainingOptions { Epochs = 3, Distillation = new DistillationOptions(1, 4, decay) };
            return Trainer.Train(theta0, train, options, TestData.Norm, teacher: teacher, progress: e =>
            {
                if (e.Epoch != 0) return;
                using var _ = no_grad();
                foreach (var p in teacher.parameters()) p.fill_(double.NaN);
            });
        }
        var decayed = Run(1.0 / 3);
        Assert.All(decayed.Epochs, e => Assert.True(double.IsFinite(e.TrainLoss)));
        Assert.Contains("NaN", Assert.Throws<InvalidOperationException>(() => Run(0)).Message);
    }
}
