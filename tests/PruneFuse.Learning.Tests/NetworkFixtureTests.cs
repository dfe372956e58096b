using System.Security.Cryptography;
using System.Text;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// Today's networks must not change when the network description changes: the values below were captured from the
/// hand-written CIFAR Network before it became a network family (θ0 tensors, state-dict keys, channel plans and a
/// stored checkpoint). θ0 is drawn by our own seeded generator, so these hashes hold on every host.
/// </summary>
public class NetworkFixtureTests
{
    public static TheoryData<string, int, int, double, long, string> Networks => new()
    {
        { "resnet8", 1, 10, 1.0, 11, "5306B8054DCA90E0" },
        { "resnet14", 1, 10, 0.5, 3, "2B88853D80774E15" },
        { "resnet20", 3, 10, 1.0, 7, "8302EE12A241EF80" },
        { "resnet110", 3, 100, 1.0, 1, "7E8EE4D79F906826" },
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void Theta0_and_state_dict_keys_are_unchanged(string arch, int channels, int classes, double width, long seed, string expected)
    {
        using var model = Network.Create(NetworkSpec.Dense(arch, channels, classes, width), seed);
        Assert.Equal(expected, StateHash(model));
    }

    public static TheoryData<string, double, string, string> Plans => new()
    {
        { "resnet20", 0.5, "L2", "CAC350173A6BD4A3" },
        { "resnet20", 0.3, "Random", "D8FBDFF212AE2A81" },
        { "resnet32", 0.7, "L2", "177424D0D1F51021" },
    };

    [Theory]
    [MemberData(nameof(Plans))]
    public void Channel_plans_are_unchanged(string arch, double ratio, string method, string expected)
    {
        using var model = Network.Create(NetworkSpec.Dense(arch, 1, 10), 21);
        var plan = ChannelPruner.Plan(model, ratio, Enum.Parse<PruningMethod>(method), seed: 5);
        Assert.Equal(expected, PlanHash(plan));
    }

    [Fact]
    public void A_checkpoint_stored_before_network_families_loads_with_its_plan()
    {
        // Written by the hand-written ResNet: a resnet8 × 0.25 selector (p = 0.5) with its channel plan, in the JSON
        // form of that time (stageWidths/blockWidths, no stem, groups listed stages first).
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "legacy-resnet8-selector.ckpt");
        var (model, meta) = Checkpoint.LoadFile(path);
        using (model)
        {
            Assert.Equal("6AD0F3C4B5CEBEC8", StateHash(model));
            Assert.Equal("EABEF940A6C6CFBF", PlanHash(meta.Plan!));
            Assert.Equal("small", meta.Network.Stem);
            Assert.True(meta.Plan!.Pruned.SameShapeAs(meta.Network));
            Assert.Equal("selector", meta.Tags["role"]);
        }
    }

    [Theory]
    [InlineData("resnet8", 0.5)]
    [InlineData("resnet20", 1.0)]
    public void Forward_pass_computes_the_hand_written_resnet_exactly(string arch, double width)
    {
        // The basic-block ResNet written out with torch's functional ops, as the module computed it before it was
        // derived from a description: the same operations in the same order, so logits are bit-identical.
        using var model = Network.Create(NetworkSpec.Dense(arch, 1, 10, width), 5);
        Trainer.Train(model, TestData.Train.Take(256), new TrainingOptions { Epochs = 1, BatchSize = 64, Seed = 2 }, TestData.Norm);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = new BatchPreparer(TestData.Norm, model.Device).Prepare(TestData.Test.Take(64).Pixels, 64, 1, 28, 28);
        var expected = HandWrittenResNet(model.state_dict(), x, (int.Parse(arch[6..]) - 2) / 6);
        var actual = model.forward(x);
        Assert.True(expected.eq(actual).all().item<bool>(), $"max |Δ| = {(expected - actual).abs().max().item<float>()}");
    }

    private static Tensor HandWrittenResNet(Dictionary<string, Tensor> sd, Tensor x, int blocks)
    {
        Tensor Bn(Tensor t, string p) => nn.functional.batch_norm(t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"], false, 0.1, 1e-5);
        Tensor Conv(Tensor t, string p, long stride, long padding) => Convolution.Apply(t, sd[p + ".weight"], null, stride, padding);
        x = nn.functional.relu(Bn(Conv(x, "conv1", 1, 1), "bn1"));
        for (var s = 1; s <= 3; s++)
        {
            for (var b = 0; b < blocks; b++)
            {
                var p = $"layer{s}.{b}";
                var stride = s > 1 && b == 0 ? 2 : 1;
                var h = nn.functional.relu(Bn(Conv(x, p + ".conv1", stride, 1), p + ".bn1"));
                var o = Bn(Conv(h, p + ".conv2", 1, 1), p + ".bn2");
                var shortcut = s > 1 && b == 0 ? Bn(Conv(x, p + ".downsample.0", stride, 0), p + ".downsample.1") : x;
                x = nn.functional.relu(o.add_(shortcut));
            }
        }
        return nn.functional.linear(x.mean([2, 3]), sd["fc.weight"], sd["fc.bias"]);
    }

    /// <summary>SHA-256 over every state-dict entry in key order: name, shape and raw little-endian values.</summary>
    internal static string StateHash(nn.Module model)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, t) in model.state_dict())
        {
            sha.AppendData(Encoding.UTF8.GetBytes(name + ":" + string.Join(",", t.shape) + ";"));
            using var cpu = t.detach().cpu().contiguous();
            if (cpu.dtype == ScalarType.Int64) sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()));
            else sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()));
        }
        return Convert.ToHexString(sha.GetHashAndReset())[..16];
    }

    /// <summary>SHA-256 over the groups sorted by name: name, dense width and kept indices.</summary>
    internal static string PlanHash(ChannelPlan plan)
    {
        var text = string.Join("|", plan.Groups.OrderBy(g => g.Name, StringComparer.Ordinal)
            .Select(g => $"{g.Name}:{g.DenseWidth}:{string.Join(",", g.Kept)}"));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }
}

