using Google.Protobuf;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Onnx.Format;
using PruneFuse.Learning.Scoring;
using static PruneFuse.Learning.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;
using DataType = PruneFuse.Learning.Onnx.Format.TensorProto.Types.DataType;

namespace PruneFuse.Learning.Onnx;

/// <summary>
/// The ONNX graph of a trained network, built in memory from its BN-folded weights: uint8 images in (normalised
/// inside the graph, so a caller hands over pool bytes as they are stored), and out the logits, the penultimate
/// features, the predicted class and every uncertainty metric, computed in float64 as <see cref="UncertaintyScores"/>
/// does. ONNX opset 17, IR version 8: ONNX Runtime 1.14 and later read it.
/// </summary>
public static class OnnxExport
{
    /// <summary>Graph input: uint8 images [batch, channels, height, width].</summary>
    public const string Images = "images";
    /// <summary>Output: float32 logits [batch, classes].</summary>
    public const string Logits = "logits";
    /// <summary>Output: float32 penultimate features [batch, width] (k-center's space).</summary>
    public const string Features = "features";
    /// <summary>Output: int64 predicted class [batch].</summary>
    public const string Predicted = "predicted";

    /// <summary>The opset the graph is written against.</summary>
    public const int Opset = 17;

    /// <summary>Output name of a metric's float64 scores [batch] (higher = more uncertain).</summary>
    public static string ScoreOutput(SelectionMetric metric) => metric switch
    {
        SelectionMetric.LeastConfidence => "least_confidence",
        SelectionMetric.Entropy => "entropy",
        SelectionMetric.Margin => "margin",
        _ => throw new ArgumentException($"{metric} is not computed from logits"),
    };

    /// <summary>
    /// The serialized ONNX model of <paramref name="model"/>'s current weights (eval mode: BN running statistics),
    /// with <paramref name="normalization"/> applied to the uint8 input inside the graph.
    /// </summary>
    /// <remarks>
    /// <paramref name="inputSize"/> fixes the image height and width; only a network with an adaptive pool needs it
    /// (its pooling bins depend on the size), every other graph takes any size.
    /// </remarks>
    public static byte[] Build(Network model, ImageNormalization normalization, IReadOnlyDictionary<string, string>? metadata = null,
        (int Height, int Width)? inputSize = null)
    {
        using var folded = new FoldedNetwork(model);
        return Build(folded, normalization, metadata, inputSize);
    }

    /// <inheritdoc cref="Build(Network, ImageNormalization, IReadOnlyDictionary{string, string}?, ValueTuple{int,
    /// int}?)"/>
    public static byte[] Build(FoldedNetwork folded, ImageNormalization normalization, IReadOnlyDictionary<string, string>? metadata = null,
        (int Height, int Width)? inputSize = null)
    {
        var spec = folded.Spec;
        var c = spec.InputChannels;
        if (normalization.Mean.Length != c || normalization.Std.Length != c)
        {
            throw new ArgumentException($"normalisation has {normalization.Mean.Length} channels, the network takes {c}");
        }
        var g = new OnnxGraphBuilder("prunefuse_network");
        g.Input(Images, DataType.Uint8, "batch", c, "height", "width");

        // Normalise as BatchPreparer does: x / 255, − mean, / std (per channel).
        var x = g.Node("Cast", [Images], null, Int("to", (long)DataType.Float));
        x = g.Node("Div", [x, g.Floats("input_255", [255f])]);
        x = g.Node("Sub", [x, g.Floats("input_mean", normalization.Mean, 1, c, 1, 1)]);
        x = g.Node("Div", [x, g.Floats("input_std", normalization.Std, 1, c, 1, 1)]);

        var logits = Layers(g, folded, x, inputSize);
        g.Node("ArgMax", [logits], Predicted, Int("axis", 1), Int("keepdims", 0));

        // Scores in float64 from float32 logits, like UncertaintyScores.FromLogits.
        var l64 = g.Node("Cast", [logits], null, Int("to", (long)DataType.Double));
        var p = g.Node("Softmax", [l64], null, Int("axis", 1));
        var one = g.Doubles("one", [1.0]);
        var pMax = g.Node("ReduceMax", [p], null, Ints("axes", 1), Int("keepdims", 0));
        g.Node("Sub", [one, pMax], ScoreOutput(SelectionMetric.LeastConfidence));
        var logp = g.Node("LogSoftmax", [l64], null, Int("axis", 1));
        var plogp = g.Node("ReduceSum", [g.Node("Mul", [p, logp]), g.Longs("axis_1", [1L], 1)], null, Int("keepdims", 0));
        g.Node("Neg", [plogp], ScoreOutput(SelectionMetric.Entropy));
        var (top2, _) = g.Node2("TopK", [p, g.Longs("k_2", [2L], 1)], Int("axis", 1));
        var first = g.Node("ReduceMax", [top2], null, Ints("axes", 1), Int("keepdims", 0));
        var second = g.Node("ReduceMin", [top2], null, Ints("axes", 1), Int("keepdims", 0));
        g.Node("Sub", [one, g.Node("Sub", [first, second])], ScoreOutput(SelectionMetric.Margin));

        g.Output(Logits, DataType.Float, "batch", spec.NumClasses);
        g.Output(Features, DataType.Float, "batch", folded.Description.FeatureWidth);
        g.Output(Predicted, DataType.Int64, "batch");
        foreach (var m in new[] { SelectionMetric.LeastConfidence, SelectionMetric.Entropy, SelectionMetric.Margin })
        {
            g.Output(ScoreOutput(m), DataType.Double, "batch");
        }

        var meta = new Dictionary<string, string>
        {
            ["prunefuse.arch"] = spec.Arch,
            ["prunefuse.input_channels"] = c.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["prunefuse.classes"] = spec.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        var version = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0";
        return g.Model(irVersion: 8, Opset, version, meta).ToByteArray();
    }

    // The folded network's steps as ONNX nodes; names the feature layer's value Features and returns the logits.
    private static string Layers(OnnxGraphBuilder g, FoldedNetwork folded, string input, (int Height, int Width)? inputSize)
    {
        var d = folded.Description;
        var sizes = inputSize is { } size ? d.SpatialSizes(size.Height, size.Width) : null;
        var names = new string[d.Layers.Count];
        names[0] = input;
        for (var i = 1; i < d.Layers.Count; i++)
        {
            var step = folded.Steps[i]!;
            if (step is FoldedNetwork.AliasStep)
            {
                names[i] = names[folded.Source(i)];
                continue;
            }
            var x = names[folded.Source(step.Input)];
            var name = d.Layers[i].Name is { Length: > 0 } n ? n : $"layer{i}";
            var output = i == d.Layers.Count - 1 ? Logits : null;
            names[i] = step switch
            {
                FoldedNetwork.ConvStep c => Conv(g, name, c, x, output),
                FoldedNetwork.ScaleShiftStep s => g.Node("Add", [g.Node("Mul", [x, Weights(g, name + ".scale", s.Scale, 1, -1, 1, 1)]), Weights(g, name + ".shift", s.Shift, 1, -1, 1, 1)], output),
                FoldedNetwork.LinearStep f => g.Node("Gemm", [x, Weights(g, name + ".weight", f.Weight), Weights(g, name + ".bias", f.Bias)], output, Int("transB", 1)),
                FoldedNetwork.PlainStep p => p.Layer.Kind switch
                {
                    LayerKind.Relu => g.Node("Relu", [x], output),
                    LayerKind.Relu6 => g.Node("Clip", [x, g.Floats(name + ".min", [0f]), g.Floats(name + ".max", [6f])], output),
                    LayerKind.Add => g.Node("Add", [x, names[folded.Source(d.Layers[i].Inputs[1])]], output),
                    LayerKind.MaxPool => g.Node("MaxPool", [x], output, Ints("kernel_shape", p.Layer.Kernel, p.Layer.Kernel),
                        Ints("strides", p.Layer.Stride, p.Layer.Stride), Ints("pads", p.Layer.Padding, p.Layer.Padding, p.Layer.Padding, p.Layer.Padding)),
                    LayerKind.GlobalAvgPool => g.Node("Flatten", [g.Node("GlobalAveragePool", [x])], null, Int("axis", 1)),
                    LayerKind.AdaptiveAvgPool => AdaptivePool(g, name, x, p.Layer.Kernel,
                        sizes?[d.Layers[i].Inputs[0]] ?? throw new ArgumentException($"{d.Arch}'s ONNX graph needs the image size: its {d.Describe(i)} pools adaptively")),
                    LayerKind.Flatten => g.Node("Flatten", [x], null, Int("axis", 1)),
                    _ => throw new InvalidOperationException($"{p.Layer.Kind} has no ONNX form"),
                },
                _ => throw new InvalidOperationException(step.GetType().Name),
            };
        }
        g.Node("Identity", [names[folded.Source(d.FeatureLayer)]], Features);
        return names[^1];
    }

    // Adaptive average pooling as two matrix products with the bins of torch's adaptive_avg_pool2d: bin i of n
    // averages positions floor(i·n/k) … ceil((i+1)·n/k) − 1.
    private static string AdaptivePool(OnnxGraphBuilder g, string name, string x, int k, (int Height, int Width) input)
    {
        float[] Bins(int n, bool transpose)
        {
            var m = new float[k * n];
            for (var i = 0; i < k; i++)
            {
                var (start, end) = (i * n / k, ((i + 1) * n + k - 1) / k);
                for (var j = start; j < end; j++) m[transpose ? j * k + i : i * n + j] = 1f / (end - start);
            }
            return m;
        }
        var rows = g.Floats(name + ".rows", Bins(input.Height, transpose: false), k, input.Height);
        var cols = g.Floats(name + ".cols", Bins(input.Width, transpose: true), input.Width, k);
        return g.Node("MatMul", [g.Node("MatMul", [rows, x]), cols]);
    }

    private static string Conv(OnnxGraphBuilder g, string name, FoldedNetwork.ConvStep conv, string input, string? output)
    {
        var k = conv.Weight.shape[2];
        var inputs = conv.Bias is null
            ? new[] { input, Weights(g, name + ".weight", conv.Weight) }
            : [input, Weights(g, name + ".weight", conv.Weight), Weights(g, name + ".bias", conv.Bias)];
        return g.Node("Conv", inputs, output,
            Ints("kernel_shape", k, k), Ints("strides", conv.Stride, conv.Stride),
            Ints("pads", conv.Padding, conv.Padding, conv.Padding, conv.Padding), Int("group", conv.Depthwise ? conv.Weight.shape[0] : 1));
    }

    private static string Weights(OnnxGraphBuilder g, string name, Tensor t, params long[] shape)
    {
        using var cpu = t.detach().cpu().to_type(ScalarType.Float32).contiguous();
        var values = cpu.data<float>().ToArray();
        return g.Floats(name, values, shape.Length == 0 ? cpu.shape : [.. shape.Select(d => d == -1 ? cpu.numel() : d)]);
    }
}
