using PruneFuse.Learning.Data;
using PruneFuse.Learning.Fusion;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Onnx;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// Every family, through the one description: forward shapes, channel groups derived as described, the fusion
/// zero-background property, and BN-folded and ONNX scoring equal to the module.
/// </summary>
public class NetworkFamilyTests
{
    public NetworkFamilyTests() => TorchRuntime.EnsureLoaded();

    /// <summary>Architecture, stem, width multiplier, input channels, input size: small enough to run in
    /// seconds.</summary>
    public static TheoryData<string, string, double, int, int> Networks => new()
    {
        { "resnet20", "small", 1.0, 1, 28 },
        { "resnet18", "small", 0.25, 3, 32 },
        { "resnet18", "imagenet", 0.25, 3, 64 },
        { "resnet34", "small", 0.125, 1, 28 },
        { "resnet50", "imagenet", 0.125, 3, 64 },
        { "wrn-16-4", "small", 0.25, 3, 32 },
        { "wrn-10-1", "small", 1.0, 1, 28 },
        { "mobilenet_v2", "small", 0.5, 1, 28 },
        { "mobilenet_v2", "imagenet", 0.5, 3, 64 },
        { "vgg11_bn", "small", 0.125, 3, 32 },
        { "vgg16_bn", "imagenet", 0.125, 1, 32 },
        { "vgg11_bn", "imagenet", 0.125, 3, 64 },
    };

    [Theory]
    [InlineData("resnet18", 1000, 11_689_512)]
    [InlineData("resnet34", 1000, 21_797_672)]
    [InlineData("resnet50", 1000, 25_557_032)]
    [InlineData("mobilenet_v2", 1000, 3_504_872)]
    [InlineData("vgg11_bn", 1000, 132_868_840)]
    [InlineData("vgg16_bn", 1000, 138_365_992)]
    public void Torchvision_families_have_torchvisions_parameter_counts(string arch, int classes, long parameters)
    {
        // torchvision's documented parameter counts for its ImageNet models.
        var spec = NetworkSpec.Dense(arch, 3, classes, stem: "imagenet");
        Assert.Equal(parameters, ModelComplexity.Of(spec, 224, 224).Parameters);
    }

    [Fact]
    public void Resnet18_at_224_pixels_costs_its_published_macs()
    {
        // 1.82 GMACs is the figure usually quoted for ResNet-18 at 224×224 (convolutions and the classifier).
        var macs = ModelComplexity.Of(NetworkSpec.Dense("resnet18", 3, 1000, stem: "imagenet"), 224, 224).Macs;
        Assert.InRange(macs, 1_810_000_000, 1_830_000_000);
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void Forward_gives_logits_and_features_at_the_described_widths(string arch, string stem, double width, int channels, int size)
    {
        var spec = NetworkSpec.Dense(arch, channels, 10, width, stem);
        using var model = Network.Create(spec, 3);
        model.eval();
        using var scope = NewDisposeScope();
        var x = randn(new long[] { 2, channels, size, size });
        Assert.Equal([2L, 10L], model.forward(x).shape);
        Assert.Equal([2L, model.Description.FeatureWidth], model.Features(x).shape);
        Assert.Equal(ModelComplexity.Of(spec, size, size).Parameters, model.CountParameters());
        foreach (var (name, t) in model.state_dict()) Assert.Equal(spec.Describe().Shapes()[name], t.shape);
    }

    [Theory]
    [InlineData("resnet20", "small", new[] { 28, 32, 64 })]
    [InlineData("resnet18", "small", new[] { 28, 32, 64 })]
    [InlineData("resnet50", "imagenet", new[] { 64, 96, 224 })]
    [InlineData("wrn-16-4", "small", new[] { 28, 32, 64 })]
    [InlineData("mobilenet_v2", "small", new[] { 28, 32, 64 })]
    [InlineData("mobilenet_v2", "imagenet", new[] { 64, 224 })]
    [InlineData("vgg16_bn", "small", new[] { 32, 64 })]
    [InlineData("vgg16_bn", "imagenet", new[] { 32, 64, 224 })]
    public void Every_supported_input_size_gives_logits_and_the_described_macs(string arch, string stem, int[] sizes)
    {
        var spec = NetworkSpec.Dense(arch, 3, 7, 0.125, stem);
        using var model = Network.Create(spec, 2);
        model.eval();
        foreach (var size in sizes)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Assert.Equal([2L, 7L], model.forward(randn(new long[] { 2, 3, size, size })).shape);
            Assert.True(ModelComplexity.Of(spec, size, size).Macs > 0);
        }
    }

    [Fact]
    public void Vgg_with_the_small_stem_refuses_28_pixel_images_naming_the_pool()
    {
        // Five 2×2 pools take 28 px to 14, 7, 3, 1 and then below one pixel: refused with the layer, not a crash.
        var e = Assert.Throws<ArgumentException>(() => ModelComplexity.Of(NetworkSpec.Dense("vgg16_bn", 1, 10, stem: "small"), 28, 28));
        Assert.Contains("vgg16_bn cannot take 28×28 inputs: maxpool layer", e.Message);
        Assert.Contains("would get a 1×1 feature map, smaller than its 2×2 kernel", e.Message);
    }

    [Fact]
    public void Resnet18_groups_couple_every_output_added_to_a_stage_stream()
    {
        var d = NetworkSpec.Dense("resnet18", 3, 10, stem: "imagenet").Describe();
        string Group(string layer) => d.GroupOf(d.Layers.Select((l, i) => (l, i)).Single(x => x.l.Name == layer).i)!;
        // Stage 1 has no projection: the stem joins the stream.
        Assert.Equal(Group("conv1"), Group("layer1.0.conv2"));
        Assert.Equal(Group("conv1"), Group("layer1.1.conv2"));
        // Stage 2 starts a new stream at its projection.
        Assert.Equal(Group("layer2.0.downsample.0"), Group("layer2.0.conv2"));
        Assert.Equal(Group("layer2.0.downsample.0"), Group("layer2.1.conv2"));
        Assert.NotEqual(Group("conv1"), Group("layer2.0.conv2"));
        // Block insides are groups of their own.
        Assert.NotEqual(Group("layer2.0.conv1"), Group("layer2.0.conv2"));
        Assert.Equal(4 + 8, d.Groups.Count);
        // The classifier's outputs and the image channels are never a group.
        Assert.Null(d.GroupOf(0));
        Assert.Null(d.GroupOf(d.Layers.Count - 1));
    }

    [Fact]
    public void Resnet50_bottlenecks_have_two_inner_groups_and_a_projected_first_stream()
    {
        var d = NetworkSpec.Dense("resnet50", 3, 10, stem: "imagenet").Describe();
        string Group(string layer) => d.GroupOf(d.Layers.Select((l, i) => (l, i)).Single(x => x.l.Name == layer).i)!;
        // layer1.0 projects 64 → 256 channels, so the stem's channels are not the stream's.
        Assert.NotEqual(Group("conv1"), Group("layer1.0.conv3"));
        Assert.Equal(Group("layer1.0.downsample.0"), Group("layer1.2.conv3"));
        Assert.NotEqual(Group("layer1.0.conv1"), Group("layer1.0.conv2"));
        Assert.Equal(1 + 4 + 2 * 16, d.Groups.Count);
        Assert.Equal(2048, d.FeatureWidth);
    }

    [Fact]
    public void Wrn_28_10_has_the_published_36_5M_parameters()
    {
        // 36.5M in Zagoruyko and Komodakis (2016), table 1; 36,479,194 with its reference PyTorch code's 10 classes.
        Assert.Equal(36_479_194, ModelComplexity.Of(NetworkSpec.Dense("wrn-28-10", 3, 10), 32, 32).Parameters);
    }

    [Fact]
    public void Mobilenet_depthwise_channels_join_their_expansion_and_residuals_join_their_stage()
    {
        var d = NetworkSpec.Dense("mobilenet_v2", 3, 10, stem: "imagenet").Describe();
        string Group(string layer) => d.GroupOf(d.Layers.Select((l, i) => (l, i)).Single(x => x.l.Name == layer).i)!;
        Assert.Equal(Group("features.2.conv.0.0"), Group("features.2.conv.1.0"));
        Assert.Equal(Group("features.2.conv.2"), Group("features.3.conv.2"));
        Assert.NotEqual(Group("features.3.conv.2"), Group("features.4.conv.2"));
        // The first block has no expansion: its depthwise convolution filters the stem's channels.
        Assert.Equal(Group("features.0.0"), Group("features.1.conv.0.0"));
        Assert.Equal(1280, d.FeatureWidth);
        Assert.Equal(LayerKind.Dropout, d.Layers[^2].Kind);
    }

    [Fact]
    public void Vgg_flatten_ties_each_channel_to_its_block_of_first_layer_columns()
    {
        var spec = NetworkSpec.Dense("vgg16_bn", 3, 10, stem: "imagenet");
        var d = spec.Describe();
        var fc0 = d.Tensors.Single(t => t.Name == "classifier.0.weight");
        Assert.Equal(d.GroupOf(d.Layers.Select((l, i) => (l, i)).Single(x => x.l.Name == "features.40").i), fc0.InGroup);
        Assert.Equal(49, fc0.InRepeat);
        Assert.Equal([4096L, 512L * 49], d.Shapes()["classifier.0.weight"]);
        Assert.Equal("classifier.0", fc0.OutGroup);
        Assert.Equal(4096, d.FeatureWidth);
        // 13 convolution groups and the two hidden layers; pruning keeps each channel's 49 columns together.
        Assert.Equal(15, d.Groups.Count);
        using var theta0 = Network.Create(NetworkSpec.Dense("vgg11_bn", 3, 10, 0.125, "imagenet"), 2);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        var last = theta0.Description.Tensors.Single(t => t.Name == "classifier.0.weight").InGroup!;
        var kept = plan.KeptOf(last);
        using var selector = ChannelPruner.Extract(theta0, plan);
        Assert.Equal(kept.Length * 49, selector.state_dict()["classifier.0.weight"].shape[1]);
        Assert.Equal(kept.SelectMany(c => Enumerable.Range(c * 49, 49)).Select(i => (long)i), plan.KeptIndices(last, 49));
        Assert.True(Identical(selector.state_dict()["classifier.0.weight"],
            theta0.state_dict()["classifier.0.weight"].index_select(0, tensor(plan.KeptIndices("classifier.0"))).index_select(1, tensor(plan.KeptIndices(last, 49)))));
    }

    [Fact]
    public void Wide_resnet_preactivation_batchnorms_stay_unfolded_as_scale_and_shift()
    {
        using var model = Network.Create(NetworkSpec.Dense("wrn-16-4", 3, 10, 0.25), 1);
        using var folded = new FoldedNetwork(model);
        var scaleShifts = folded.Steps.Count(s => s is FoldedNetwork.ScaleShiftStep);
        // Every block input after an addition (all but the first block's, which follows the stem convolution alone)
        // and the final BN: 3 · n − 1 + 1 with n = 2.
        Assert.Equal(6, scaleShifts);
        Assert.Equal(ModelComplexity.Of(model.Spec, 32, 32).Parameters, model.CountParameters());
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void Zero_background_fusion_reproduces_the_selector(string arch, string stem, double width, int channels, int size)
    {
        using var theta0 = Network.Create(NetworkSpec.Dense(arch, channels, 10, width, stem), 8);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        Perturb(selector, 4);
        selector.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(new long[] { 4, channels, size, size }, generator: new Generator(1));
        ScaleLogits(selector, x);
        using var zero = new Network(plan.Dense);
        foreach (var t in zero.state_dict().Values) t.zero_();
        using var fused = Fuser.Fuse(zero, selector, plan);
        fused.eval();
        var expected = selector.forward(x);
        var diff = (fused.forward(x) - expected).abs().max().item<float>();
        Assert.True(diff <= 1e-4, $"{arch}/{stem}: max |Δlogit| = {diff}");
        Assert.True(expected.abs().max().item<float>() > 0.1, "selector logits are not trivially small");
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void Folded_and_onnx_scoring_compute_the_modules_logits(string arch, string stem, double width, int channels, int size)
    {
        using var model = Network.Create(NetworkSpec.Dense(arch, channels, 10, width, stem), 9);
        Perturb(model, 5);
        model.eval();
        var norm = new ImageNormalization([.. Enumerable.Repeat(0.5f, channels)], [.. Enumerable.Repeat(0.25f, channels)]);
        var count = 6;
        var pixels = new byte[count * channels * size * size];
        new Random(3).NextBytes(pixels);
        float[] expected;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var x = new Training.BatchPreparer(norm).Prepare(pixels, count, channels, size, size);
            ScaleLogits(model, x);
            expected = model.forward(x).data<float>().ToArray();
            using var folded = new FoldedNetwork(model);
            var f = folded.Forward(x).data<float>().ToArray();
            Assert.True(MaxDiff(expected, f) <= 1e-4, $"{arch}/{stem}: folded max |Δlogit| = {MaxDiff(expected, f)}");
        }
        using var onnx = OnnxScoringNetwork.FromModel(model, norm, "test", inputSize: (size, size));
        var o = onnx.Logits(pixels, count, channels, size, size, out var classes);
        Assert.Equal(10, classes);
        Assert.True(MaxDiff(expected, o) <= 1e-4, $"{arch}/{stem}: ONNX max |Δlogit| = {MaxDiff(expected, o)}");
        Assert.True(expected.Max(Math.Abs) > 0.1, "logits are not trivially small");
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void Padded_and_default_convolutions_compute_the_float64_network(string arch, string stem, double width, int channels, int size)
    {
        // The oneDNN workaround pads channel counts on hosts whose kernels are wrong; here the padded path is forced
        // on whatever host runs the test, pruned widths included, and both paths are held to a float64 forward pass.
        using var dense = Network.Create(NetworkSpec.Dense(arch, channels, 10, width, stem), 4);
        var plan = ChannelPruner.Plan(dense, 0.3, PruningMethod.L2);
        using var model = ChannelPruner.Extract(dense, plan);
        Perturb(model, 3);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(new long[] { 3, channels, size, size }, generator: new Generator(5));
        ScaleLogits(model, x);
        using var wide = new Network(model.Spec);
        foreach (var (name, t) in model.state_dict()) wide.state_dict()[name].copy_(t);
        wide.to(ScalarType.Float64).eval();
        var reference = wide.forward(x.to_type(ScalarType.Float64));
        double Error(Tensor y) => (y.to_type(ScalarType.Float64) - reference).abs().max().item<double>();
        var unforced = Error(model.forward(x));
        double padded;
        using (Convolution.ForcePadding()) padded = Error(model.forward(x));
        Assert.True(unforced <= 1e-4, $"{arch}/{stem} p=0.3: float32 on this host's path off by {unforced:G3} ({TorchRuntime.OneDnnWorkaround ?? "no workaround"})");
        Assert.True(padded <= 1e-4, $"{arch}/{stem} p=0.3: padded float32 off by {padded:G3}");
    }

    [Fact]
    public void The_depthwise_oneDNN_check_holds_on_this_host()
    {
        // The start-up check measures both kernels; whatever it chose must leave depthwise convolutions right.
        using (Convolution.ForcePadding()) Assert.True(Runtime.OneDnnCheck.DepthwiseError(padded: true) <= 1e-3);
        if (!TorchRuntime.PadConvolutionChannels && TorchRuntime.OneDnnWorkaround is null)
        {
            Assert.True(Runtime.OneDnnCheck.DepthwiseError(padded: false) <= 1e-3);
        }
    }

    [Fact]
    public void Dropout_is_a_wide_resnet_option_and_its_masks_come_from_the_training_seed()
    {
        var spec = NetworkSpec.Dense("wrn-16-4", 1, 10, 0.25, dropout: 0.3);
        Assert.Equal(6, spec.Describe().Layers.Count(l => l.Kind == LayerKind.Dropout));
        Assert.Equal(0, NetworkSpec.Dense("wrn-16-4", 1, 10, 0.25).Describe().Layers.Count(l => l.Kind == LayerKind.Dropout));
        var e = Assert.Throws<ArgumentException>(() => NetworkSpec.Dense("resnet18", 1, 10, dropout: 0.3));
        Assert.Contains("resnet18 has no dropout option; of the families only wrn-D-K", e.Message);
        Assert.Throws<ArgumentException>(() => NetworkSpec.Dense("wrn-16-4", 1, 10, dropout: 1.0));
        // Same seed, same masks: two trainings with dropout end with identical weights; another seed does not.
        string Trained(long seed)
        {
            using var model = Network.Create(spec, 1);
            Training.Trainer.Train(model, TestData.Train.Take(128), new Training.TrainingOptions { Epochs = 1, BatchSize = 32, Seed = seed }, TestData.Norm);
            return NetworkFixtureTests.StateHash(model);
        }
        Assert.Equal(Trained(4), Trained(4));
        Assert.NotEqual(Trained(4), Trained(5));
    }

    [Fact]
    public void An_unknown_family_or_stem_is_refused_naming_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => NetworkSpec.Dense("resnet19", 3, 10));
        Assert.Contains("unknown architecture 'resnet19'", e.Message);
        Assert.Contains("resnet18, resnet34, resnet50", e.Message);
        var s = Assert.Throws<ArgumentException>(() => NetworkSpec.Dense("resnet18", 3, 10, stem: "tiny"));
        Assert.Contains("resnet18 has no stem 'tiny'; it takes imagenet or small", s.Message);
    }

    [Fact]
    public void An_input_too_small_for_a_kernel_is_refused_naming_the_layer()
    {
        var b = new NetworkBuilder("toy", 1, 2);
        var d = b.Classifier("fc", b.GlobalAvgPool(b.MaxPool(b.Conv("conv1", b.Input, 4, 3, 1, 0), 3, 3, 0)));
        var e = Assert.Throws<ArgumentException>(() => ModelComplexity.Of(d, 4, 4));
        Assert.Contains("toy cannot take 4×4 inputs", e.Message);
        Assert.Contains("maxpool layer 2 would get a 2×2 feature map", e.Message);
        Assert.Equal(4 * 9 + 2 * 4 + 2, ModelComplexity.Of(d, 5, 5).Parameters);
    }

    [Fact]
    public void Added_outputs_of_different_widths_are_refused_naming_both_layers()
    {
        var b = new NetworkBuilder("toy", 1, 2);
        var a = b.Conv("a", b.Input, 4, 3, 1, 1);
        var c = b.Conv("c", b.Input, 5, 3, 1, 1);
        var e = Assert.Throws<ArgumentException>(() => b.Classifier("fc", b.GlobalAvgPool(b.Sum(a, c))));
        Assert.Contains("layer 'a' and layer 'c' are added together but have 4 and 5 channels", e.Message);
    }

    // Moves every tensor away from its initial value (BN statistics included) so equalities are not trivial.
    [Theory]
    [MemberData(nameof(Networks))]
    public void Per_layer_macs_add_up_to_the_network_and_a_depthwise_layer_costs_one_input_channel(string arch,
        string stem, double width, int channels, int size)
    {
        var d = NetworkSpec.Dense(arch, channels, 10, width, stem).Describe();
        var macs = ModelComplexity.LayerMacs(d, size, size);
        Assert.Equal(d.Layers.Count, macs.Length);
        Assert.Equal(ModelComplexity.Of(d, size, size).Macs, macs.Sum());
        var sizes = d.SpatialSizes(size, size);
        for (var i = 1; i < d.Layers.Count; i++)
        {
            var l = d.Layers[i];
            if (l.Kind is not (LayerKind.Conv or LayerKind.Linear)) Assert.Equal(0, macs[i]);
            else if (l.Kind == LayerKind.Conv && l.Depthwise)
            {
                Assert.Equal((long)d.WidthOf(i) * l.Kernel * l.Kernel * sizes[i].Height * sizes[i].Width, macs[i]);
            }
        }
    }

    [Fact]
    public void Profiled_forward_gives_the_same_logits_and_times_every_layer()
    {
        var spec = NetworkSpec.Dense("mobilenet_v2", 1, 10, 0.5, "small");
        using var model = Network.Create(spec, 5);
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(new long[] { 4, 1, 28, 28 });
        var seconds = new double[model.Description.Layers.Count];
        var profiled = model.ForwardProfiled(x, seconds);
        Assert.True(profiled.eq(model.forward(x)).all().item<bool>());
        Assert.Equal(0, seconds[0]); // the input layer computes nothing
        Assert.All(seconds.Skip(1), s => Assert.True(s > 0));
        var e = Assert.Throws<ArgumentException>(() => model.ForwardProfiled(x, new double[3]));
        Assert.Contains("3 slots", e.Message);
    }

    internal static void Perturb(Network model, int seed)
    {
        using var noGrad = no_grad();
        var g = new Generator((ulong)seed);
        foreach (var (name, t) in model.state_dict())
        {
            if (t.dtype != ScalarType.Float32) continue;
            if (name.EndsWith("running_var", StringComparison.Ordinal)) t.copy_(rand(t.shape, generator: g) + 0.5);
            else if (name.EndsWith("running_mean", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal)) t.copy_(randn(t.shape, generator: g) * 0.1);
            else if (name.EndsWith("bn1.weight", StringComparison.Ordinal) || name.Contains(".bn", StringComparison.Ordinal)) t.copy_(rand(t.shape, generator: g) + 0.5);
            else t.mul_(1 + (randn(t.shape, generator: g) * 0.1));
        }
    }

    // Scales the classifier so the largest logit on x is 10 (a trained network's order): a deep perturbed network's
    // logits can reach thousands, where float32 rounding alone exceeds any absolute tolerance.
    internal static void ScaleLogits(Network model, Tensor x)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var max = model.forward(x).abs().max().item<float>();
        var fc = model.Description.Layers[^1].Name;
        var state = model.state_dict();
        var factor = 10.0 / max;
        state[fc + ".weight"].mul_(factor);
        state[fc + ".bias"].mul_(factor);
    }

    private static double MaxDiff(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
}
