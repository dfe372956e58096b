using PruneFuse.Learning.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// The TorchSharp module of a <see cref="NetworkSpec"/>, built from its <see cref="NetworkDescription"/>. Tensors are
/// registered under their PyTorch state-dict names (<c>layer1.0.conv1.weight</c>) in layer order; the forward pass
/// walks the description's layers. One class for every family, dense and pruned alike.
/// </summary>
public sealed class Network : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module?[] _modules;
    private readonly Layer[] _layers;
    private Generator? _dropoutRng;

    /// <summary>The network this module was built for.</summary>
    public NetworkSpec Spec { get; }

    /// <summary>Its description at its widths.</summary>
    public NetworkDescription Description { get; }

    /// <summary>Builds the network for <paramref name="spec"/> with PyTorch's default initialisation (use <see
    /// cref="Create"/> for seeded θ0).</summary>
    public Network(NetworkSpec spec) : base(nameof(Network))
    {
        TorchRuntime.EnsureLoaded();
        spec.Validate("network spec");
        Spec = spec;
        Description = spec.Describe();
        _layers = [.. Description.Layers];
        _modules = new nn.Module?[_layers.Length];
        var containers = new Dictionary<string, Container>(StringComparer.Ordinal);
        for (var i = 0; i < _layers.Length; i++)
        {
            var l = _layers[i];
            var width = Description.WidthOf(i);
            nn.Module? m = l.Kind switch
            {
                LayerKind.Conv => nn.Conv2d(Description.WidthOf(l.Inputs[0]), width, l.Kernel, stride: l.Stride, padding: l.Padding,
                    groups: l.Depthwise ? width : 1, bias: l.Bias),
                LayerKind.BatchNorm => nn.BatchNorm2d(width),
                LayerKind.Linear => nn.Linear(Description.WidthOf(l.Inputs[0]), width),
                _ => null,
            };
            if (m is null) continue;
            _modules[i] = m;
            Register(l.Name, m, containers);
        }
    }

    /// <summary>Builds θ0 for <paramref name="spec"/>: Kaiming-normal (fan_out) convs, BN γ=1 β=0, seeded.</summary>
    public static Network Create(NetworkSpec spec, long seed, Device? device = null)
    {
        TorchRuntime.EnsureLoaded();
        var model = new Network(spec);
        model.InitializeWeights(seed);
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    // Registers a module under a dotted name, creating the parent modules (layer1, layer1.0, ...) on first use.
    private void Register(string name, nn.Module module, Dictionary<string, Container> containers)
    {
        var parts = name.Split('.');
        nn.Module parent = this;
        var path = "";
        for (var i = 0; i < parts.Length - 1; i++)
        {
            path = i == 0 ? parts[0] : path + "." + parts[i];
            if (!containers.TryGetValue(path, out var c))
            {
                c = new Container(path);
                containers[path] = c;
                parent.register_module(parts[i], c);
            }
            parent = c;
        }
        parent.register_module(parts[^1], module);
    }

    /// <summary>Penultimate features [batch, feature width]: the classifier's input.</summary>
    public Tensor Features(Tensor input) => Run(input, 0, Description.FeatureLayer);

    /// <summary>Logits from features computed by <see cref="Features"/>.</summary>
    public Tensor Classify(Tensor features) => Run(features, Description.FeatureLayer, _layers.Length - 1);

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => Run(input, 0, _layers.Length - 1);

    /// <summary>
    /// The forward pass with each layer's wall time added to <paramref name="layerSeconds"/> (one slot per layer of
    /// <see cref="Description"/>): where a network's time goes, for the bench's profile. CPU only (CPU kernels return
    /// when done; a GPU's would not).
    /// </summary>
    public Tensor ForwardProfiled(Tensor input, double[] layerSeconds)
    {
        if (layerSeconds.Length != _layers.Length)
        {
            throw new ArgumentException($"layerSeconds has {layerSeconds.Length} slots for {_layers.Length} layers");
        }
        return Run(input, 0, _layers.Length - 1, layerSeconds);
    }

    // Runs layers (from, to], the output of layer `from` being `start`. Only layers after `from` are computed, so the
    // head (dropout, classifier) can run on features computed once.
    private Tensor Run(Tensor start, int from, int to, double[]? layerSeconds = null)
    {
        var outputs = new Tensor?[to + 1];
        outputs[from] = start;
        var clock = layerSeconds is null ? null : System.Diagnostics.Stopwatch.StartNew();
        for (var i = from + 1; i <= to; i++)
        {
            clock?.Restart();
            var l = _layers[i];
            var x = outputs[l.Inputs[0]] ?? throw new InvalidOperationException($"{Description.Describe(i)} reads a layer before the features");
            outputs[i] = l.Kind switch
            {
                LayerKind.Conv => Conv(x, (Conv2d)_modules[i]!, l),
                LayerKind.BatchNorm => ((BatchNorm2d)_modules[i]!).forward(x),
                LayerKind.Relu => nn.functional.relu(x),
                LayerKind.Relu6 => nn.functional.relu6(x),
                // In place on the main branch when nothing else reads it (it is a fresh BN or conv output), as
                // torchvision does.
                LayerKind.Add => Description.Consumers[l.Inputs[0]] == 1 && _layers[l.Inputs[0]].Kind is LayerKind.BatchNorm or LayerKind.Conv
                    ? x.add_(outputs[l.Inputs[1]]!)
                    : x.add(outputs[l.Inputs[1]]!),
                LayerKind.MaxPool => nn.functional.max_pool2d(x, l.Kernel, l.Stride, l.Padding),
                LayerKind.GlobalAvgPool => x.mean([2, 3]),
                LayerKind.AdaptiveAvgPool => nn.functional.adaptive_avg_pool2d(x, [l.Kernel, l.Kernel]),
                LayerKind.Flatten => x.flatten(1),
                LayerKind.Dropout => Dropout(x, l.Rate),
                LayerKind.Linear => ((Linear)_modules[i]!).forward(x),
                _ => throw new InvalidOperationException($"{l.Kind} cannot follow the input"),
            };
            if (clock is not null) layerSeconds![i] += clock.Elapsed.TotalSeconds;
        }
        return outputs[to]!;
    }

    // Inverted dropout with masks from this network's own seeded generator, so a training run is a function of its
    // seed on one silo or many. The identity in eval mode.
    private Tensor Dropout(Tensor x, double rate)
    {
        if (!training || rate <= 0) return x;
        _dropoutRng ??= new Generator(0);
        var keep = rand(x.shape, generator: _dropoutRng).to(x.device).ge_(rate);
        return x * keep / (1 - rate);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _dropoutRng?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Restarts the dropout masks' generator from <paramref name="seed"/> (the trainer does, every
    /// epoch).</summary>
    public void SeedDropout(ulong seed)
    {
        _dropoutRng?.Dispose();
        _dropoutRng = new Generator(seed);
    }

    private static Tensor Conv(Tensor x, Conv2d conv, Layer l) =>
        Convolution.Apply(x, conv.weight!, conv.bias, l.Stride, l.Padding, l.Depthwise);

    /// <summary>Re-initialises every tensor from <paramref name="seed"/> in layer order (independent of torch's
    /// RNG).</summary>
    public void InitializeWeights(long seed)
    {
        var rng = SeededRandom.For(seed, "resnet-init");
        var state = state_dict();
        var shapes = Description.Shapes();
        using var noGrad = no_grad();
        var linearFanIn = 1L;
        foreach (var t in Description.Tensors)
        {
            var shape = shapes[t.Name];
            var count = (int)shape.Aggregate(1L, (a, b) => a * b);
            var target = state[t.Name];
            switch (t.Kind)
            {
                case TensorKind.ConvWeight:
                {
                    // Kaiming normal, fan_out mode, gain √2: std = √(2 / (out · k · k)).
                    var std = Math.Sqrt(2.0 / (shape[0] * shape[2] * shape[3]));
                    var data = new float[count];
                    for (var i = 0; i < count; i++) data[i] = (float)(rng.NextNormal() * std);
                    Write(target, data, shape);
                    break;
                }
                case TensorKind.LinearWeight:
                    linearFanIn = shape[1];
                    Uniform(target, shape, count, linearFanIn);
                    break;
                case TensorKind.LinearBias:
                    Uniform(target, shape, count, linearFanIn);
                    break;
                case TensorKind.Bias when IsLinearBias(t.Name):
                    Uniform(target, shape, count, linearFanIn);
                    break;
                case TensorKind.Bias:
                    target.zero_();
                    break;
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

        // PyTorch's nn.Linear default: U(−1/√fan_in, 1/√fan_in) for weight and bias, drawn from the one seeded stream.
        void Uniform(Tensor target, long[] shape, int count, long fanIn)
        {
            var bound = 1.0 / Math.Sqrt(fanIn);
            var data = new float[count];
            for (var i = 0; i < count; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
            Write(target, data, shape);
        }
    }

    private bool IsLinearBias(string tensorName)
    {
        var layer = tensorName[..^".bias".Length];
        return _layers.Any(l => l.Kind == LayerKind.Linear && l.Name == layer);
    }

    private static void Write(Tensor target, float[] data, long[] shape)
    {
        using var src = tensor(data).reshape(shape);
        target.copy_(src);
    }

    /// <summary>The device the network's parameters live on.</summary>
    public Device Device => parameters().First().device;

    /// <summary>Number of trainable parameters actually allocated (for cross-checking <see
    /// cref="ModelComplexity"/>).</summary>
    public long CountParameters() => parameters().Sum(p => p.numel());

    // A named level of the module tree (layer1, layer1.0, layer1.0.downsample) that only holds children.
    private sealed class Container(string name) : nn.Module(name);
}
