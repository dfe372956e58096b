using PruneFuse.Learning.Data;
using PruneFuse.Learning.Fusion;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

public class FusionTests
{
    private static (Network Theta0, ChannelPlan Plan, Network Selector) TrainedSelector(double p)
    {
        var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 1, 10), 21);
        var plan = ChannelPruner.Plan(theta0, p, PruningMethod.L2);
        var selector = ChannelPruner.Extract(theta0, plan);
        // A short real training run so the selector's weights and BN statistics differ from θ0.
        Trainer.Train(selector, TestData.Train.Take(512), new TrainingOptions { Epochs = 1, BatchSize = 64, Seed = 3 }, TestData.Norm);
        return (theta0, plan, selector);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.7)]
    public void Zero_background_fused_network_reproduces_selector_logits(double p)
    {
        var (theta0, plan, selector) = TrainedSelector(p);
        using var zero = new Network(plan.Dense);
        using (no_grad())
        {
            foreach (var t in zero.state_dict().Values) t.zero_();
        }
        using var fused = Fuser.Fuse(zero, selector, plan);
        var images = TestData.Test.Take(256);
        var expected = Evaluator.Logits(selector, images, TestData.Norm);
        var actual = Evaluator.Logits(fused, images, TestData.Norm);
        var maxDiff = expected.Zip(actual).Max(x => Math.Abs(x.First - x.Second));
        Assert.True(maxDiff <= 1e-4, $"max |Δlogit| = {maxDiff}");
        Assert.True(expected.Select(Math.Abs).Max() > 0.1, "selector logits are not trivially zero");
        theta0.Dispose();
        selector.Dispose();
    }

    [Fact]
    public void Theta0_background_keeps_every_non_kept_entry_and_writes_every_kept_one()
    {
        var (theta0, plan, selector) = TrainedSelector(0.5);
        using var fused = Fuser.Fuse(theta0, selector, plan);
        var f = fused.state_dict();
        var t0 = theta0.state_dict();
        var sel = selector.state_dict();
        foreach (var axes in plan.Dense.Describe().Tensors)
        {
            var fusedT = f[axes.Name];
            var mask = ones(fusedT.shape, dtype: ScalarType.Bool);
            if (axes.Kind == TensorKind.BatchNormCounter)
            {
                Assert.True(Identical(fusedT, t0[axes.Name]), axes.Name);
                continue;
            }
            // Build a mask of kept positions and compare both regions exactly.
            var outKept = axes.OutGroup is null ? null : plan.KeptOf(axes.OutGroup);
            var inKept = axes.InGroup is null ? null : plan.KeptOf(axes.InGroup);
            var keptMask = zeros(fusedT.shape, dtype: ScalarType.Bool);
            var rows = outKept ?? Enumerable.Range(0, (int)fusedT.shape[0]).ToArray();
            foreach (var r in rows)
            {
                if (fusedT.dim() >= 2)
                {
                    var cols = inKept ?? Enumerable.Range(0, (int)fusedT.shape[1]).ToArray();
                    foreach (var c in cols) keptMask[r, c] = tensor(true);
                }
                else
                {
                    keptMask[r] = tensor(true);
                }
            }
            var notKept = keptMask.logical_not();
            Assert.True(Identical(fusedT.masked_select(notKept), t0[axes.Name].masked_select(notKept)), $"{axes.Name}: a non-kept entry differs from θ0");
            Assert.True(Identical(fusedT.masked_select(keptMask), sel[axes.Name].flatten()), $"{axes.Name}: kept entries are not the selector's, in order");
            mask.Dispose();
        }
        theta0.Dispose();
        selector.Dispose();
    }

    [Fact]
    public void Fusion_refuses_mismatched_networks()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var wrongSelector = Network.Create(ChannelPruner.Plan(theta0, 0.7, PruningMethod.L2).Pruned, 1);
        var e = Assert.Throws<ArgumentException>(() => Fuser.Fuse(theta0, wrongSelector, plan));
        Assert.Contains("selector", e.Message);
    }
}
