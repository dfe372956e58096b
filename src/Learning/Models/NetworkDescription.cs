using System.Globalization;

namespace PruneFuse.Learning.Models;

/// <summary>What one layer of a <see cref="NetworkDescription"/> computes.</summary>
public enum LayerKind
{
    /// <summary>The image batch [N, C, H, W]; always layer 0.</summary>
    Input,
    /// <summary>A 2-D convolution without bias unless <see cref="Layer.Bias"/>; depthwise when <see
    /// cref="Layer.Depthwise"/>.</summary>
    Conv,
    /// <summary>BatchNorm over the channels of its input.</summary>
    BatchNorm,
    /// <summary>max(x, 0).</summary>
    Relu,
    /// <summary>min(max(x, 0), 6), as MobileNetV2 uses.</summary>
    Relu6,
    /// <summary>Element-wise sum of two inputs: the residual addition that couples channel groups.</summary>
    Add,
    /// <summary>Max pooling with <see cref="Layer.Kernel"/>, <see cref="Layer.Stride"/> and <see
    /// cref="Layer.Padding"/>.</summary>
    MaxPool,
    /// <summary>Mean over height and width: [N, C, H, W] → [N, C].</summary>
    GlobalAvgPool,
    /// <summary>Dropout with probability <see cref="Layer.Rate"/> while training; the identity in eval mode.</summary>
    Dropout,
    /// <summary>Average pooling to a fixed <see cref="Layer.Kernel"/>×<see cref="Layer.Kernel"/> output, whatever the
    /// input size (torchvision's VGG).</summary>
    AdaptiveAvgPool,
    /// <summary>[N, C, k, k] → [N, C·k·k] after an adaptive pool: each channel owns a block of k·k features.</summary>
    Flatten,
    /// <summary>A fully connected layer [out, in] with bias; the last layer is the classifier.</summary>
    Linear,
}

/// <summary>
/// One layer of a network description. Layers are listed in execution order and refer to their inputs by index,
/// so a description is a graph, not a chain: residual additions and shortcuts are ordinary inputs.
/// </summary>
public sealed record Layer
{
    /// <summary>What the layer computes.</summary>
    public required LayerKind Kind { get; init; }

    /// <summary>State-dict prefix of the layer's tensors (<c>layer2.0.downsample.0</c>); empty for layers without
    /// tensors.</summary>
    public string Name { get; init; } = "";

    /// <summary>Indices of the layers whose outputs this one reads (two for <see cref="LayerKind.Add"/>, one
    /// otherwise).</summary>
    public int[] Inputs { get; init; } = [];

    /// <summary>Output channels of a convolution or fully connected layer in the dense network (a depthwise one has its
    /// input's).</summary>
    public int Channels { get; init; }

    /// <summary>Kernel size of a convolution or pooling.</summary>
    public int Kernel { get; init; } = 1;

    /// <summary>Stride of a convolution or pooling.</summary>
    public int Stride { get; init; } = 1;

    /// <summary>Zero padding of a convolution or pooling on every side.</summary>
    public int Padding { get; init; }

    /// <summary>True for a depthwise convolution: one filter per input channel, output channels = input
    /// channels.</summary>
    public bool Depthwise { get; init; }

    /// <summary>True when a convolution has a bias (fully connected layers always have one).</summary>
    public bool Bias { get; init; }

    /// <summary>Name for the channel group this layer's output belongs to; the group's first labelled member names
    /// it.</summary>
    public string? Group { get; init; }

    /// <summary>Dropout probability.</summary>
    public double Rate { get; init; }

    /// <summary>True for layers that own tensors in the state dict.</summary>
    public bool HasTensors => Kind is LayerKind.Conv or LayerKind.BatchNorm or LayerKind.Linear;

    /// <summary>True for layers that produce new channels: a non-depthwise convolution or a fully connected
    /// layer.</summary>
    public bool Produces => Kind == LayerKind.Linear || (Kind == LayerKind.Conv && !Depthwise);
}

/// <summary>Which channel group indexes an axis of a parameter tensor; <c>null</c> means the axis is never
/// pruned.</summary>
/// <param name="Name">PyTorch-style state-dict name, e.g. <c>layer2.0.conv1.weight</c>.</param>
/// <param name="OutGroup">Group of axis 0 (output channels, or BN channels).</param>
/// <param name="InGroup">Group of axis 1 (input channels of a conv, or input features of a fully connected
/// layer).</param>
/// <param name="Kind">What the tensor is.</param>
/// <param name="InRepeat">Input features per channel of <paramref name="InGroup"/> (k·k after a flatten; 1 otherwise):
/// channel c owns columns c·r … c·r + r − 1.</param>
public sealed record TensorAxes(string Name, string? OutGroup, string? InGroup, TensorKind Kind, int InRepeat = 1);

/// <summary>Kinds of tensors in a network's state dict.</summary>
public enum TensorKind
{
    /// <summary>A convolution kernel [out, in / groups, k, k].</summary>
    ConvWeight,
    /// <summary>A per-channel bias of a convolution or hidden fully connected layer.</summary>
    Bias,
    /// <summary>A BatchNorm vector (weight, bias, running mean or variance).</summary>
    BatchNormVector,
    /// <summary>BatchNorm's scalar batch counter.</summary>
    BatchNormCounter,
    /// <summary>A fully connected matrix [out, in].</summary>
    LinearWeight,
    /// <summary>The classifier bias [classes]: never pruned.</summary>
    LinearBias,
}

/// <summary>A prunable channel group: every layer output that must keep the same channel indices.</summary>
/// <param name="Name">The group's name (its first labelled member's label, else its first producer's layer
/// name).</param>
/// <param name="Width">Channels of the group in this description.</param>
/// <param name="Layers">Indices of the layers whose outputs are in the group, ascending.</param>
public sealed record GroupInfo(string Name, int Width, int[] Layers);

/// <summary>
/// A network as data: its layers and how they connect. Everything else derives from it: the TorchSharp module
/// (<see cref="Network"/>), the BN-folded scoring network, the channel groups pruning and fusion use, the tensor
/// table of checkpoints and exports, parameters and MACs, and the ONNX graph. Channel groups are never listed by
/// hand: an output joins its input's group through BatchNorm, activations, pooling, dropout and depthwise
/// convolutions, an addition joins the groups of both its inputs, and every other convolution or fully connected
/// layer starts a new group. The image input and the classifier's outputs belong to no group and are never pruned.
/// Widths are parameters (<see cref="WithWidths"/>): dense and pruned networks share one description and so one set
/// of state-dict keys.
/// </summary>
public sealed class NetworkDescription
{
    private const int Fixed = -1;
    private readonly int[] _groupOf;
    private readonly int[] _width;
    private readonly int[] _repeat;
    private readonly Dictionary<string, int> _groupIndex;

    /// <summary>The architecture this description was built for (for messages).</summary>
    public string Arch { get; }

    /// <summary>The layers in execution order; layer 0 is the input, the last layer the classifier.</summary>
    public IReadOnlyList<Layer> Layers { get; }

    /// <summary>Image channels.</summary>
    public int InputChannels { get; }

    /// <summary>Classifier outputs.</summary>
    public int NumClasses { get; }

    /// <summary>The prunable channel groups, ordered by their first layer.</summary>
    public IReadOnlyList<GroupInfo> Groups { get; }

    /// <summary>Index of the layer whose output is the penultimate feature vector (the classifier's input, before
    /// dropout).</summary>
    public int FeatureLayer { get; }

    /// <summary>How many later layers read each layer's output.</summary>
    public IReadOnlyList<int> Consumers { get; }

    /// <summary>Every state-dict tensor in layer order (module registration order).</summary>
    public IReadOnlyList<TensorAxes> Tensors { get; }

    /// <summary>Builds and checks a description; <paramref name="widths"/> overrides group widths by group
    /// name.</summary>
    public NetworkDescription(string arch, IReadOnlyList<Layer> layers, int numClasses, IReadOnlyDictionary<string, int>? widths = null)
    {
        Arch = arch;
        Layers = layers;
        NumClasses = numClasses;
        if (layers.Count < 2 || layers[0].Kind != LayerKind.Input) throw new ArgumentException($"{arch}: a description starts with its input layer");
        InputChannels = layers[0].Channels;
        if (InputChannels < 1) throw new ArgumentException($"{arch}: input channels must be at least 1, got {InputChannels}");
        if (numClasses < 2) throw new ArgumentException($"{arch}: a classifier needs at least 2 classes, got {numClasses}");
        var classifier = layers[^1];
        if (classifier.Kind != LayerKind.Linear) throw new ArgumentException($"{arch}: the last layer must be the classifier");
        CheckInputs();

        // Union-find over layer outputs: two outputs in one set must keep the same channel indices.
        var parent = Enumerable.Range(0, layers.Count).ToArray();
        int Root(int i) { while (parent[i] != i) i = parent[i] = parent[parent[i]]; return i; }
        void Union(int a, int b)
        {
            var (ra, rb) = (Root(a), Root(b));
            if (ra != rb) parent[Math.Max(ra, rb)] = Math.Min(ra, rb);
        }
        for (var i = 1; i < layers.Count; i++)
        {
            var l = layers[i];
            if (l.Produces) continue;
            foreach (var input in l.Inputs) Union(i, input);
        }
        var inputRoot = Root(0);
        var classesRoot = Root(layers.Count - 1);

        var members = new SortedDictionary<int, List<int>>();
        for (var i = 0; i < layers.Count; i++)
        {
            var r = Root(i);
            if (r == inputRoot || r == classesRoot) continue;
            if (!members.TryGetValue(r, out var list)) members[r] = list = [];
            list.Add(i);
        }
        _groupOf = Enumerable.Repeat(Fixed, layers.Count).ToArray();
        _groupIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var groups = new List<GroupInfo>();
        foreach (var set in members.Values)
        {
            var producers = set.Where(i => layers[i].Produces).ToArray();
            if (producers.Length == 0) throw new ArgumentException($"{arch}: layer {Describe(set[0])} has channels no layer produces");
            var name = set.Select(i => layers[i].Group).FirstOrDefault(g => g is not null) ?? layers[producers[0]].Name;
            var dense = layers[producers[0]].Channels;
            var mismatch = producers.FirstOrDefault(i => layers[i].Channels != dense, -1);
            if (mismatch >= 0)
            {
                throw new ArgumentException($"{arch}: {Describe(producers[0])} and {Describe(mismatch)} are added together but have {dense} and {layers[mismatch].Channels} channels");
            }
            var width = dense;
            if (widths is not null && widths.TryGetValue(name, out var w)) width = w;
            if (width < 1) throw new ArgumentException($"{arch}: channel group '{name}' would keep {width} channels; every group needs at least 1");
            if (!_groupIndex.TryAdd(name, groups.Count)) throw new ArgumentException($"{arch}: two channel groups are named '{name}'");
            foreach (var i in set) _groupOf[i] = groups.Count;
            groups.Add(new GroupInfo(name, width, [.. set]));
        }
        if (widths is not null && widths.Keys.FirstOrDefault(k => !_groupIndex.ContainsKey(k)) is { } unknown)
        {
            throw new ArgumentException($"{arch} has no channel group '{unknown}'; its groups are {string.Join(", ", groups.Select(g => g.Name))}");
        }
        Groups = groups;

        // A flatten gives each channel k·k features; layers after it (dropout) keep that.
        _repeat = new int[layers.Count];
        _width = new int[layers.Count];
        for (var i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            _repeat[i] = l.Produces || i == 0 ? 1
                : l.Kind == LayerKind.Flatten ? RepeatOfFlatten(i)
                : _repeat[l.Inputs[0]];
            var channels = _groupOf[i] != Fixed ? groups[_groupOf[i]].Width : Root(i) == inputRoot ? InputChannels : numClasses;
            _width[i] = channels * _repeat[i];
        }

        var feature = layers.Count - 1;
        do feature = layers[feature].Inputs[0]; while (layers[feature].Kind == LayerKind.Dropout);
        FeatureLayer = feature;
        var consumers = new int[layers.Count];
        foreach (var l in layers) foreach (var i in l.Inputs) consumers[i]++;
        Consumers = consumers;
        Tensors = BuildTensors();
    }

    private int RepeatOfFlatten(int i)
    {
        var input = Layers[Layers[i].Inputs[0]];
        return input.Kind switch
        {
            LayerKind.AdaptiveAvgPool => input.Kernel * input.Kernel,
            LayerKind.GlobalAvgPool => 1,
            _ => throw new ArgumentException($"{Arch}: {Describe(i)} must follow an adaptive or global pool, so its feature count does not depend on the image size"),
        };
    }

    /// <summary>The same network with the named groups at other widths (a pruned network, or a dense one from stored
    /// widths).</summary>
    public NetworkDescription WithWidths(IReadOnlyDictionary<string, int> widths) => new(Arch, Layers, NumClasses, widths);

    /// <summary>Output channels of layer <paramref name="layer"/> (features for pooled and fully connected
    /// layers).</summary>
    public int WidthOf(int layer) => _width[layer];

    /// <summary>The group of layer <paramref name="layer"/>'s output, or null for the input's and the classifier's
    /// channels.</summary>
    public string? GroupOf(int layer) => _groupOf[layer] == Fixed ? null : Groups[_groupOf[layer]].Name;

    /// <summary>Widths of every group by name, in group order.</summary>
    public Dictionary<string, int> GroupWidths() => Groups.ToDictionary(g => g.Name, g => g.Width, StringComparer.Ordinal);

    /// <summary>The dimension of the penultimate features.</summary>
    public int FeatureWidth => _width[FeatureLayer];

    /// <summary>Expected shape of every state-dict tensor, keyed by name.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes()
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        for (var i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            long w = _width[i];
            switch (l.Kind)
            {
                case LayerKind.Conv:
                    shapes[l.Name + ".weight"] = [w, l.Depthwise ? 1 : _width[l.Inputs[0]], l.Kernel, l.Kernel];
                    if (l.Bias) shapes[l.Name + ".bias"] = [w];
                    break;
                case LayerKind.BatchNorm:
                    foreach (var n in BatchNormVectors) shapes[$"{l.Name}.{n}"] = [w];
                    shapes[l.Name + ".num_batches_tracked"] = [];
                    break;
                case LayerKind.Linear:
                    shapes[l.Name + ".weight"] = [w, _width[l.Inputs[0]]];
                    shapes[l.Name + ".bias"] = [w];
                    break;
            }
        }
        return shapes;
    }

    /// <summary>
    /// Height and width of every layer's output for <paramref name="height"/>×<paramref name="width"/> inputs (1×1
    /// after
    /// global pooling). Throws naming the layer when an input is too small for the network.
    /// </summary>
    public (int Height, int Width)[] SpatialSizes(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        var sizes = new (int, int)[Layers.Count];
        sizes[0] = (height, width);
        for (var i = 1; i < Layers.Count; i++)
        {
            var l = Layers[i];
            var (h, w) = sizes[l.Inputs[0]];
            switch (l.Kind)
            {
                case LayerKind.Conv or LayerKind.MaxPool:
                    var oh = (h + 2 * l.Padding - l.Kernel) / l.Stride + 1;
                    var ow = (w + 2 * l.Padding - l.Kernel) / l.Stride + 1;
                    if (h + 2 * l.Padding < l.Kernel || w + 2 * l.Padding < l.Kernel || oh < 1 || ow < 1)
                    {
                        throw new ArgumentException(
                            $"{Arch} cannot take {height}×{width} inputs: {Describe(i)} would get a {h}×{w} feature map, smaller than its {l.Kernel}×{l.Kernel} kernel; use larger images or a stem that downsamples less");
                    }
                    sizes[i] = (oh, ow);
                    break;
                case LayerKind.Add:
                    if (sizes[l.Inputs[1]] != (h, w))
                    {
                        throw new ArgumentException($"{Arch} cannot take {height}×{width} inputs: {Describe(i)} adds a {h}×{w} and a {sizes[l.Inputs[1]].Item1}×{sizes[l.Inputs[1]].Item2} map");
                    }
                    sizes[i] = (h, w);
                    break;
                case LayerKind.GlobalAvgPool or LayerKind.Linear or LayerKind.Flatten:
                    sizes[i] = (1, 1);
                    break;
                case LayerKind.AdaptiveAvgPool:
                    sizes[i] = (l.Kernel, l.Kernel);
                    break;
                default:
                    sizes[i] = (h, w);
                    break;
            }
        }
        return sizes;
    }

    /// <summary>A layer for messages: its name, or its kind and index.</summary>
    public string Describe(int layer) =>
        Layers[layer].Name is { Length: > 0 } n ? $"layer '{n}'" : $"{Layers[layer].Kind.ToString().ToLowerInvariant()} layer {layer.ToString(CultureInfo.InvariantCulture)}";

    internal static readonly string[] BatchNormVectors = ["weight", "bias", "running_mean", "running_var"];

    private void CheckInputs()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 1; i < Layers.Count; i++)
        {
            var l = Layers[i];
            var arity = l.Kind == LayerKind.Add ? 2 : 1;
            if (l.Kind == LayerKind.Input) throw new ArgumentException($"{Arch}: only layer 0 is an input");
            if (l.Inputs.Length != arity || l.Inputs.Any(x => x < 0 || x >= i))
            {
                throw new ArgumentException($"{Arch}: {Describe(i)} must read {arity} earlier layer(s)");
            }
            if (l.HasTensors && (l.Name.Length == 0 || !names.Add(l.Name))) throw new ArgumentException($"{Arch}: {Describe(i)} needs a unique name");
            if (l.Produces && i < Layers.Count - 1 && l.Channels < 1) throw new ArgumentException($"{Arch}: {Describe(i)} needs at least 1 output channel");
            if (l.Kind is LayerKind.Conv or LayerKind.MaxPool or LayerKind.AdaptiveAvgPool && (l.Kernel < 1 || l.Stride < 1 || l.Padding < 0))
            {
                throw new ArgumentException($"{Arch}: {Describe(i)} has kernel {l.Kernel}, stride {l.Stride}, padding {l.Padding}");
            }
        }
    }

    private List<TensorAxes> BuildTensors()
    {
        var list = new List<TensorAxes>();
        for (var i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            switch (l.Kind)
            {
                case LayerKind.Conv:
                    list.Add(new TensorAxes(l.Name + ".weight", GroupOf(i), l.Depthwise ? null : GroupOf(l.Inputs[0]), TensorKind.ConvWeight));
                    if (l.Bias) list.Add(new TensorAxes(l.Name + ".bias", GroupOf(i), null, TensorKind.Bias));
                    break;
                case LayerKind.BatchNorm:
                    foreach (var n in BatchNormVectors) list.Add(new TensorAxes($"{l.Name}.{n}", GroupOf(i), null, TensorKind.BatchNormVector));
                    list.Add(new TensorAxes(l.Name + ".num_batches_tracked", null, null, TensorKind.BatchNormCounter));
                    break;
                case LayerKind.Linear:
                    list.Add(new TensorAxes(l.Name + ".weight", GroupOf(i), GroupOf(l.Inputs[0]), TensorKind.LinearWeight, _repeat[l.Inputs[0]]));
                    list.Add(GroupOf(i) is { } g
                        ? new TensorAxes(l.Name + ".bias", g, null, TensorKind.Bias)
                        : new TensorAxes(l.Name + ".bias", null, null, TensorKind.LinearBias));
                    break;
            }
        }
        return list;
    }
}

/// <summary>Writes a <see cref="NetworkDescription"/> layer by layer; each method returns the new layer's
/// index.</summary>
public sealed class NetworkBuilder(string arch, int inputChannels, int numClasses)
{
    private readonly List<Layer> _layers = [new Layer { Kind = LayerKind.Input, Channels = inputChannels }];

    /// <summary>The input layer's index.</summary>
    public int Input => 0;

    /// <summary>A convolution of <paramref name="input"/> with <paramref name="channels"/> outputs.</summary>
    public int Conv(string name, int input, int channels, int kernel, int stride, int padding, string? group = null, bool bias = false) =>
        Add(new Layer { Kind = LayerKind.Conv, Name = name, Inputs = [input], Channels = channels, Kernel = kernel, Stride = stride, Padding = padding, Group = group, Bias = bias });

    /// <summary>A depthwise convolution: one <paramref name="kernel"/>×<paramref name="kernel"/> filter per input
    /// channel.</summary>
    public int DepthwiseConv(string name, int input, int kernel, int stride, int padding) =>
        Add(new Layer { Kind = LayerKind.Conv, Name = name, Inputs = [input], Kernel = kernel, Stride = stride, Padding = padding, Depthwise = true });

    /// <summary>BatchNorm over <paramref name="input"/>'s channels.</summary>
    public int BatchNorm(string name, int input) => Add(new Layer { Kind = LayerKind.BatchNorm, Name = name, Inputs = [input] });

    /// <summary>ReLU of <paramref name="input"/>.</summary>
    public int Relu(int input) => Add(new Layer { Kind = LayerKind.Relu, Inputs = [input] });

    /// <summary>ReLU6 of <paramref name="input"/>.</summary>
    public int Relu6(int input) => Add(new Layer { Kind = LayerKind.Relu6, Inputs = [input] });

    /// <summary><paramref name="main"/> + <paramref name="shortcut"/> (their channels become one group).</summary>
    public int Sum(int main, int shortcut) => Add(new Layer { Kind = LayerKind.Add, Inputs = [main, shortcut] });

    /// <summary>Max pooling.</summary>
    public int MaxPool(int input, int kernel, int stride, int padding) =>
        Add(new Layer { Kind = LayerKind.MaxPool, Inputs = [input], Kernel = kernel, Stride = stride, Padding = padding });

    /// <summary>Global average pooling to a feature vector.</summary>
    public int GlobalAvgPool(int input) => Add(new Layer { Kind = LayerKind.GlobalAvgPool, Inputs = [input] });

    /// <summary>Average pooling to <paramref name="size"/>×<paramref name="size"/> whatever the input size.</summary>
    public int AdaptiveAvgPool(int input, int size) => Add(new Layer { Kind = LayerKind.AdaptiveAvgPool, Inputs = [input], Kernel = size });

    /// <summary>Flattens an adaptive pool's output to features.</summary>
    public int Flatten(int input) => Add(new Layer { Kind = LayerKind.Flatten, Inputs = [input] });

    /// <summary>Dropout with probability <paramref name="rate"/>.</summary>
    public int Dropout(int input, double rate) => Add(new Layer { Kind = LayerKind.Dropout, Inputs = [input], Rate = rate });

    /// <summary>A hidden fully connected layer (its outputs are a prunable group).</summary>
    public int Linear(string name, int input, int channels) =>
        Add(new Layer { Kind = LayerKind.Linear, Name = name, Inputs = [input], Channels = channels, Bias = true });

    /// <summary>The classifier: the last layer, <c>numClasses</c> outputs, never pruned. Returns the finished
    /// description.</summary>
    public NetworkDescription Classifier(string name, int input)
    {
        Add(new Layer { Kind = LayerKind.Linear, Name = name, Inputs = [input], Channels = numClasses, Bias = true });
        return new NetworkDescription(arch, _layers, numClasses);
    }

    private int Add(Layer layer)
    {
        _layers.Add(layer);
        return _layers.Count - 1;
    }
}
