using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

public class PruningTests
{
    public PruningTests() => TorchRuntime.EnsureLoaded();

    // Hand-computed (CIFAR input 3×32×32, 10 classes, projection shortcuts): keep = round((1-p)·C) for C = 16/32/64,
    // params = stem + BN + blocks + shortcuts + classifier, MACs = conv and classifier multiply-accumulates.
    [Theory]
    [InlineData("resnet20", 0.3, 11, 22, 45, 133_608, 19_656_194)]
    [InlineData("resnet20", 0.5, 8, 16, 32, 68_786, 10_314_048)]
    [InlineData("resnet20", 0.7, 5, 10, 19, 25_306, 3_962_110)]
    [InlineData("resnet20", 0.8, 3, 6, 13, 11_200, 1_578_178)]
    [InlineData("resnet56", 0.3, 11, 22, 45, 419_520, 60_416_258)]
    [InlineData("resnet56", 0.5, 8, 16, 32, 215_282, 31_547_712)]
    [InlineData("resnet56", 0.7, 5, 10, 19, 78_610, 11_986_942)]
    [InlineData("resnet56", 0.8, 3, 6, 13, 34_840, 4_736_962)]
    public void Pruned_shapes_params_and_macs_match_hand_computed(string arch, double p, int w1, int w2, int w3, long parameters, long macs)
    {
        var dense = NetworkSpec.Dense(arch, 3, 10);
        using var theta0 = Network.Create(dense, 11);
        var plan = ChannelPruner.Plan(theta0, p, PruningMethod.L2);
        var pruned = plan.Pruned;
        Assert.Equal([w1, w2, w3], [pruned.Widths["stage1"], pruned.Widths["stage2"], pruned.Widths["stage3"]]);
        foreach (var (group, width) in pruned.Widths.Where(g => g.Key.StartsWith("layer", StringComparison.Ordinal)))
        {
            Assert.Equal(pruned.Widths["stage" + group[5]], width);
        }
        var complexity = ModelComplexity.Of(pruned, 32, 32);
        Assert.Equal(parameters, complexity.Parameters);
        Assert.Equal(macs, complexity.Macs);

        using var selector = ChannelPruner.Extract(theta0, plan);
        Assert.Equal(parameters, selector.CountParameters());
        Assert.Equal(10, selector.state_dict()["fc.weight"].shape[0]);
        Assert.Equal([10L], selector.state_dict()["fc.bias"].shape);
        using var x = randn(2, 3, 32, 32);
        selector.eval();
        Assert.Equal([2L, 10L], selector.forward(x).shape);
    }

    [Theory]
    [InlineData(16, 0.0, 16)]
    [InlineData(16, 0.3, 11)]
    [InlineData(16, 0.5, 8)]
    [InlineData(16, 0.7, 5)]
    [InlineData(16, 0.8, 3)]
    [InlineData(64, 0.8, 13)]
    [InlineData(5, 0.5, 3)]     // 2.5 rounds away from zero
    [InlineData(4, 0.99, 1)]    // at least one channel
    public void Keep_count_is_rounded_and_at_least_one(int width, double p, int expected) =>
        Assert.Equal(expected, ChannelPlan.KeepCount(width, p));

    [Theory]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void Ratio_outside_zero_one_is_refused(double p)
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ChannelPruner.Plan(theta0, p, PruningMethod.L2));
        Assert.Contains("pruning ratio p must be in [0, 1)", e.Message);
    }

    [Fact]
    public void Residual_groups_share_indices_across_the_stage()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 3, 10), 5);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        var dense = theta0.state_dict();
        var sel = selector.state_dict();
        // Every tensor that writes into stage 2's residual stream is sliced with the same kept output indices.
        Tensor Idx(string group) => tensor(plan.KeptOf(group).Select(i => (long)i).ToArray());
        var kept = Idx("stage2");
        foreach (var b in new[] { 0, 1, 2 })
        {
            var name = $"layer2.{b}.conv2.weight";
            Assert.True(Identical(dense[name].index_select(0, kept).index_select(1, Idx($"layer2.{b}")), sel[name]), name);
            foreach (var v in new[] { "weight", "bias", "running_mean", "running_var" })
            {
                Assert.True(Identical(dense[$"layer2.{b}.bn2.{v}"].index_select(0, kept), sel[$"layer2.{b}.bn2.{v}"]), $"layer2.{b}.bn2.{v}");
            }
        }
        Assert.True(Identical(dense["layer2.0.downsample.0.weight"].index_select(0, kept).index_select(1, Idx("stage1")), sel["layer2.0.downsample.0.weight"]));
        Assert.True(Identical(dense["layer2.0.downsample.1.weight"].index_select(0, kept), sel["layer2.0.downsample.1.weight"]));
        // The classifier reads stage 3's kept channels and keeps every class.
        Assert.True(Identical(dense["fc.weight"].index_select(1, Idx("stage3")), sel["fc.weight"]));
        Assert.True(Identical(dense["fc.bias"], sel["fc.bias"]));
        // Next stage's first block reads stage 2's kept channels on its input axis.
        var inputSlice = dense["layer3.0.conv1.weight"]
            .index_select(0, tensor(plan.KeptOf("layer3.0").Select(i => (long)i).ToArray()))
            .index_select(1, kept);
        Assert.True(Identical(inputSlice, sel["layer3.0.conv1.weight"]));
        // The stem belongs to stage 1's group.
        var stem = dense["conv1.weight"].index_select(0, tensor(plan.KeptOf("stage1").Select(i => (long)i).ToArray()));
        Assert.True(Identical(stem, sel["conv1.weight"]));
        // One stage group per stage, one inner group per block: nothing else.
        Assert.Equal(3 + 9, plan.Groups.Length);
    }

    [Fact]
    public void L2_keeps_the_channels_with_the_largest_producing_weights()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 9);
        var state = theta0.state_dict();
        using (no_grad())
        {
            // Make channel 3 of stage 1 dominant through one of its producers, and channel 5 of block 1.0 negligible.
            state["layer1.0.conv2.weight"][3].mul_(100);
            state["layer1.0.conv1.weight"][5].mul_(0);
        }
        var plan = ChannelPruner.Plan(theta0, 0.8, PruningMethod.L2);
        Assert.Contains(3, plan.KeptOf("stage1"));
        Assert.DoesNotContain(5, plan.KeptOf("layer1.0"));

        // Independent check of the importance definition for one coupled group.
        var importance = ChannelPruner.ComputeL2Importance(theta0)["stage2"];
        for (var c = 0; c < 32; c++)
        {
            double sq = 0;
            foreach (var n in new[] { "layer2.0.conv2.weight", "layer2.0.downsample.0.weight" })
            {
                sq += state[n][c].pow(2).sum().to_type(ScalarType.Float64).item<double>();
            }
            Assert.Equal(Math.Sqrt(sq), importance[c], 5);
        }
        var expectedKept = Enumerable.Range(0, 32).OrderByDescending(c => importance[c]).ThenBy(c => c).Take(6).Order();
        Assert.Equal(expectedKept, plan.KeptOf("stage2"));
    }

    [Fact]
    public void Random_channels_are_seeded_and_differ_from_l2()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 1, 10), 2);
        var a = ChannelPruner.Plan(theta0, 0.5, PruningMethod.Random, seed: 100);
        var b = ChannelPruner.Plan(theta0, 0.5, PruningMethod.Random, seed: 100);
        var c = ChannelPruner.Plan(theta0, 0.5, PruningMethod.Random, seed: 101);
        var l2 = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        Assert.Equal(a.Groups.Select(g => g.Kept), b.Groups.Select(g => g.Kept));
        Assert.NotEqual(a.Groups.Select(g => string.Join(",", g.Kept)), c.Groups.Select(g => string.Join(",", g.Kept)));
        Assert.NotEqual(a.Groups.Select(g => string.Join(",", g.Kept)), l2.Groups.Select(g => string.Join(",", g.Kept)));
        Assert.True(a.Pruned.SameShapeAs(l2.Pruned));
    }

    [Fact]
    public void Zero_ratio_keeps_everything_and_extracts_theta0()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 4);
        var plan = ChannelPruner.Plan(theta0, 0.0, PruningMethod.L2);
        using var copy = ChannelPruner.Extract(theta0, plan);
        foreach (var (name, t) in theta0.state_dict()) Assert.True(Identical(t, copy.state_dict()[name]), name);
    }

    [Fact]
    public void Width_multiplier_scales_and_params_match_module()
    {
        var spec = NetworkSpec.Dense("resnet14", 1, 10, widthMultiplier: 1.5);
        Assert.Equal([24, 48, 96], [spec.Widths["stage1"], spec.Widths["stage2"], spec.Widths["stage3"]]);
        using var model = Network.Create(spec, 1);
        Assert.Equal(ModelComplexity.Of(spec, 28, 28).Parameters, model.CountParameters());
    }
}
