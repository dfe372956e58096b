using PruneFuse.Learning.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// A CIFAR-style BasicBlock: conv3×3-BN-ReLU-conv3×3-BN, plus the shortcut, then ReLU.
/// Field names follow PyTorch so state-dict keys read <c>layer1.0.conv1.weight</c>.
/// </summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;
    // The projection's parts, also registered through downsample so state-dict keys stay downsample.0/1.
    private readonly Conv2d? projection;
    private readonly BatchNorm2d? projectionBn;
    private readonly int stride;

    /// <summary>Creates a block with <paramref name="inner"/> internal channels.</summary>
    public BasicBlock(int inChannels, int inner, int outChannels, int stride, bool projection) : base(nameof(BasicBlock))
    {
        this.stride = stride;
        conv1 = nn.Conv2d(inChannels, inner, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(inner);
        conv2 = nn.Conv2d(inner, outChannels, 3, stride: 1, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(outChannels);
        register_module(nameof(conv1), conv1);
        register_module(nameof(bn1), bn1);
        register_module(nameof(conv2), conv2);
        register_module(nameof(bn2), bn2);
        if (projection)
        {
            this.projection = nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false);
            projectionBn = nn.BatchNorm2d(outChannels);
            downsample = nn.Sequential(this.projection, projectionBn);
            register_module(nameof(downsample), downsample);
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        var h = nn.functional.relu(bn1.forward(Convolution.Apply(input, conv1.weight!, null, stride, 1)));
        var o = bn2.forward(Convolution.Apply(h, conv2.weight!, null, 1, 1));
        var shortcut = projection is null ? input : projectionBn!.forward(Convolution.Apply(input, projection.weight!, null, stride, 0));
        return nn.functional.relu(o.add_(shortcut));
    }
}

/// <summary>
/// The ResNet family of DESIGN.md §4 (depth 6n+2, stages of width 16/32/64 × multiplier). One class for dense
/// and pruned networks: widths come from the <see cref="ResNetSpec"/>, tensor names never change.
/// </summary>
public sealed class ResNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Linear fc;

    /// <summary>The widths this network was built with.</summary>
    public ResNetSpec Spec { get; }

    /// <summary>Builds the network for <paramref name="spec"/> with PyTorch's default initialisation (use <see cref="Create"/> for seeded θ0).</summary>
    public ResNet(ResNetSpec spec) : base(nameof(ResNet))
    {
        TorchRuntime.EnsureLoaded();
        spec.Validate("network spec");
        Spec = spec;
        var w = spec.StageWidths;
        conv1 = nn.Conv2d(spec.InputChannels, w[0], 3, stride: 1, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(w[0]);
        layer1 = MakeStage(spec, 1);
        layer2 = MakeStage(spec, 2);
        layer3 = MakeStage(spec, 3);
        fc = nn.Linear(w[2], spec.NumClasses);
        register_module(nameof(conv1), conv1);
        register_module(nameof(bn1), bn1);
        register_module(nameof(layer1), layer1);
        register_module(nameof(layer2), layer2);
        register_module(nameof(layer3), layer3);
        register_module(nameof(fc), fc);
    }

    /// <summary>Builds θ0 for <paramref name="spec"/>: Kaiming-normal (fan_out) convs, BN γ=1 β=0, seeded.</summary>
    public static ResNet Create(ResNetSpec spec, long seed, Device? device = null)
    {
        TorchRuntime.EnsureLoaded();
        var model = new ResNet(spec);
        model.InitializeWeights(seed);
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    private static Sequential MakeStage(ResNetSpec spec, int stage)
    {
        var blocks = new List<nn.Module<Tensor, Tensor>>();
        for (var b = 0; b < spec.BlocksPerStage; b++)
        {
            var inCh = b == 0 && stage > 1 ? spec.StageWidths[stage - 2] : spec.StageWidths[stage - 1];
            var stride = b == 0 && stage > 1 ? 2 : 1;
            blocks.Add(new BasicBlock(inCh, spec.BlockWidths[stage - 1][b], spec.StageWidths[stage - 1], stride, ResNetLayout.HasProjection(stage, b)));
        }
        return nn.Sequential(blocks.ToArray());
    }

    /// <summary>Penultimate features (global-average-pooled stage-3 output), shape [batch, stage-3 width].</summary>
    public Tensor Features(Tensor input)
    {
        var x = nn.functional.relu(bn1.forward(Convolution.Apply(input, conv1.weight!, null, 1, 1)));
        x = layer1.forward(x);
        x = layer2.forward(x);
        x = layer3.forward(x);
        return x.mean([2, 3]);
    }

    /// <summary>Logits from features computed by <see cref="Features"/>.</summary>
    public Tensor Classify(Tensor features) => fc.forward(features);

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => fc.forward(Features(input));

    /// <summary>Re-initialises every tensor from <paramref name="seed"/> in layout order (independent of torch's RNG).</summary>
    public void InitializeWeights(long seed)
    {
        var rng = SeededRandom.For(seed, "resnet-init");
        var state = state_dict();
        var shapes = ResNetLayout.Shapes(Spec);
        using var noGrad = no_grad();
        foreach (var t in ResNetLayout.Tensors(Spec))
        {
            var shape = shapes[t.Name];
            var count = (int)shape.Aggregate(1L, (a, b) => a * b);
            var target = state[t.Name];
            switch (t.Kind)
            {
                case TensorKind.ConvWeight:
                {
                    var fanOut = shape[0] * shape[2] * shape[3];
                    var std = Math.Sqrt(2.0 / fanOut);
                    var data = new float[count];
                    for (var i = 0; i < count; i++) data[i] = (float)(rng.NextNormal() * std);
                    Write(target, data, shape);
                    break;
                }
                case TensorKind.LinearWeight:
                case TensorKind.LinearBias:
                {
                    var bound = 1.0 / Math.Sqrt(Spec.StageWidths[2]);
                    var data = new float[count];
                    for (var i = 0; i < count; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
                    Write(target, data, shape);
                    break;
                }
                case TensorKind.BatchNormVector:
                {
                    var fill = t.Name.EndsWith(".weight", StringComparison.Ordinal) || t.Name.EndsWith("running_var", StringComparison.Ordinal) ? 1f : 0f;
                    target.fill_(fill);
                    break;
                }
                case TensorKind.BatchNormCounter:
                    target.zero_();
                    break;
            }
        }
    }

    private static void Write(Tensor target, float[] data, long[] shape)
    {
        using var src = tensor(data).reshape(shape);
        target.copy_(src);
    }

    /// <summary>The device the network's parameters live on.</summary>
    public Device Device => parameters().First().device;

    /// <summary>Number of trainable parameters actually allocated (for cross-checking <see cref="ModelComplexity"/>).</summary>
    public long CountParameters() => parameters().Sum(p => p.numel());
}
