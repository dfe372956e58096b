using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

public class ResNetTests
{
    public ResNetTests() => TorchRuntime.EnsureLoaded();

    [Theory]
    [InlineData("resnet8", 1)]
    [InlineData("resnet14", 2)]
    [InlineData("resnet20", 3)]
    [InlineData("resnet32", 5)]
    [InlineData("resnet56", 9)]
    [InlineData("resnet110", 18)]
    public void Family_has_6n_plus_2_depth(string arch, int blocks)
    {
        var spec = NetworkSpec.Dense(arch, 3, 10);
        Assert.Equal(blocks, spec.Widths.Keys.Count(g => g.StartsWith("layer1.", StringComparison.Ordinal)));
        Assert.Equal(3 + 3 * blocks, spec.Widths.Count);
        Assert.Equal([16, 32, 64], [spec.Widths["stage1"], spec.Widths["stage2"], spec.Widths["stage3"]]);
    }

    [Theory]
    [InlineData("resnet19")]
    [InlineData("vgg16")]
    [InlineData("")]
    [InlineData("resnet-20")]
    public void Unknown_architecture_is_refused_by_name(string arch)
    {
        var e = Assert.Throws<ArgumentException>(() => NetworkSpec.Dense(arch, 3, 10));
        Assert.Contains($"unknown architecture '{arch}'", e.Message);
        Assert.Contains("resnet20", e.Message);
    }

    [Fact]
    public void Dense_resnet20_matches_published_parameter_count()
    {
        // 272,474 = the CIFAR-10 resnet20 with projection shortcuts (269,722 with parameter-free shortcuts + 2,752).
        var spec = NetworkSpec.Dense("resnet20", 3, 10);
        Assert.Equal(272_474, ModelComplexity.Of(spec, 32, 32).Parameters);
        Assert.Equal(40_813_184, ModelComplexity.Of(spec, 32, 32).Macs);
        using var model = Network.Create(spec, 1);
        Assert.Equal(272_474, model.CountParameters());
    }

    [Fact]
    public void State_dict_uses_pytorch_names_and_layout_table()
    {
        var spec = NetworkSpec.Dense("resnet20", 1, 10);
        using var model = Network.Create(spec, 1);
        var keys = model.state_dict().Keys.ToHashSet();
        var expected = spec.Describe().Tensors.Select(t => t.Name).ToHashSet();
        Assert.Equal(expected, keys);
        Assert.Contains("layer2.0.downsample.0.weight", keys);
        Assert.Contains("layer3.2.bn2.running_var", keys);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", keys);
        var shapes = spec.Describe().Shapes();
        foreach (var (name, t) in model.state_dict()) Assert.Equal(shapes[name], t.shape);
    }

    [Fact]
    public void Forward_gives_logits_and_features()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10, widthMultiplier: 0.5), 3);
        model.eval();
        using var x = randn(4, 1, 28, 28);
        using var logits = model.forward(x);
        using var features = model.Features(x);
        Assert.Equal([4L, 10L], logits.shape);
        Assert.Equal([4L, 32L], features.shape);
    }

    [Fact]
    public void Initialisation_is_a_function_of_the_seed()
    {
        var spec = NetworkSpec.Dense("resnet14", 3, 10);
        using var a = Network.Create(spec, 42);
        using var b = Network.Create(spec, 42);
        using var c = Network.Create(spec, 43);
        foreach (var (name, t) in a.state_dict())
        {
            Assert.True(Identical(t, b.state_dict()[name]), name);
        }
        Assert.False(Identical(a.state_dict()["layer1.0.conv1.weight"], c.state_dict()["layer1.0.conv1.weight"]));
    }

    [Fact]
    public void Init_follows_kaiming_fan_out_and_bn_identity()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet56", 3, 10), 7);
        var w = model.state_dict()["layer3.4.conv1.weight"]; // fan_out = 64*9
        var std = w.std().item<float>();
        Assert.InRange(std, Math.Sqrt(2.0 / 576) * 0.97, Math.Sqrt(2.0 / 576) * 1.03);
        Assert.True(model.state_dict()["layer3.4.bn1.weight"].eq(1).all().item<bool>());
        Assert.True(model.state_dict()["layer3.4.bn1.bias"].eq(0).all().item<bool>());
    }
}
