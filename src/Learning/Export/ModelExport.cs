using System.Text.Json;
using System.Text.Json.Nodes;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using TorchSharp.PyBridge;

namespace PruneFuse.Learning.Export;

/// <summary>File formats a trained network can be exported to for use outside .NET.</summary>
public enum ModelFormat
{
    /// <summary>A <c>torch.save</c>-compatible state dict (zip + pickle), loaded with <c>torch.load</c>.</summary>
    PyTorch,

    /// <summary>A safetensors file (JSON header + raw little-endian tensors).</summary>
    Safetensors,

    /// <summary>
    /// An ONNX model (opset 17) of the BN-folded network: uint8 images in (normalised inside the graph), logits,
    /// features, predicted class and the uncertainty scores out; runs in ONNX Runtime with no PyTorch.
    /// </summary>
    Onnx,
}

/// <summary>
/// Writes a network's state dict in PyTorch-readable formats plus a JSON description of its architecture, widths
/// and every layer with its connections, so that <c>tools/python/prunefuse_model.py</c> rebuilds any family from the
/// JSON alone (no per-family Python), and torchvision's own classes load the state dicts of the families that mirror
/// them. Tensor names are PyTorch's own (<c>layer1.0.conv1.weight</c>), BatchNorm is exported
/// unfolded with its running statistics, so the network behaves in PyTorch's eval mode exactly as here.
/// </summary>
public static class ModelExport
{
    /// <summary>Description format written into every model JSON.</summary>
    public const string DescriptionFormat = "prunefuse-network/2";

    /// <summary>Parses a format name: <c>pytorch</c> (alias <c>pt</c>), <c>safetensors</c> or <c>onnx</c>.</summary>
    public static ModelFormat ParseFormat(string name) => name.Trim().ToLowerInvariant() switch
    {
        "pytorch" or "pt" or "torch" => ModelFormat.PyTorch,
        "safetensors" => ModelFormat.Safetensors,
        "onnx" => ModelFormat.Onnx,
        _ => throw new ArgumentException($"unknown model format '{name}': use pytorch, safetensors or onnx"),
    };

    /// <summary>The format's name as <see cref="ParseFormat"/> reads it.</summary>
    public static string Name(ModelFormat format) => format switch
    {
        ModelFormat.PyTorch => "pytorch",
        ModelFormat.Safetensors => "safetensors",
        _ => "onnx",
    };

    /// <summary>The weights file's extension for <paramref name="format"/> (<c>.pt</c>, <c>.safetensors</c> or
    /// <c>.onnx</c>).</summary>
    public static string Extension(ModelFormat format) => format switch
    {
        ModelFormat.PyTorch => ".pt",
        ModelFormat.Safetensors => ".safetensors",
        _ => ".onnx",
    };

    /// <summary>
    /// Serialises <paramref name="model"/>: its state dict (parameters and BatchNorm buffers, on the CPU), or for
    /// ONNX the whole graph with <paramref name="normalization"/> inside it and <paramref name="tags"/> as metadata.
    /// </summary>
    public static byte[] Weights(Network model, ModelFormat format, ImageNormalization? normalization = null, IReadOnlyDictionary<string, string>? tags = null,
        (int Height, int Width)? inputSize = null)
    {
        if (format == ModelFormat.Onnx)
        {
            if (normalization is null) throw new ArgumentException("an ONNX export needs the dataset's normalisation (it is part of the graph)");
            return Onnx.OnnxExport.Build(model, normalization, tags, inputSize);
        }
        using var ms = new MemoryStream();
        // PyBridge reads tensors through state_dict(); a CPU copy keeps a GPU model's export independent of the device.
        using var cpu = CpuCopy(model);
        if (format == ModelFormat.PyTorch) cpu.save_py(ms, leaveOpen: true);
        else cpu.save_safetensors(ms, leaveOpen: true);
        return ms.ToArray();
    }

    /// <summary>
    /// The JSON description: architecture, stem, input channels, classes, every group width, every layer (kind,
    /// state-dict name, inputs, channels, kernel, stride, padding), the input normalisation, class names, the weights
    /// file name and free-form <paramref name="tags"/> (experiment, role).
    /// </summary>
    public static string Describe(NetworkSpec spec, ImageNormalization normalization, string weightsFile, ModelFormat format,
        IReadOnlyList<string>? classNames = null, IReadOnlyDictionary<string, string>? tags = null)
    {
        var description = spec.Describe();
        var o = new JsonObject
        {
            ["format"] = DescriptionFormat,
            ["arch"] = spec.Arch,
            ["stem"] = spec.Stem,
            ["inputChannels"] = spec.InputChannels,
            ["numClasses"] = spec.NumClasses,
            ["widths"] = new JsonObject([.. spec.Widths.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
            ["layers"] = Layers(description),
            ["normalization"] = new JsonObject
            {
                ["mean"] = new JsonArray([.. normalization.Mean.Select(m => (JsonNode)m)]),
                ["std"] = new JsonArray([.. normalization.Std.Select(s => (JsonNode)s)]),
                ["input"] = "pixels / 255, then (x - mean) / std per channel, NCHW float32",
            },
            ["classNames"] = classNames is null ? null : new JsonArray([.. classNames.Select(n => (JsonNode)n)]),
            ["weights"] = weightsFile,
            ["weightsFormat"] = Name(format),
            ["onnx"] = format != ModelFormat.Onnx ? null : new JsonObject
            {
                ["input"] = $"{Onnx.OnnxExport.Images}: uint8 [batch, {spec.InputChannels}, height, width], raw pixels (the normalisation above is inside the graph)",
                ["outputs"] = new JsonArray(
                    $"{Onnx.OnnxExport.Logits}: float32 [batch, {spec.NumClasses}]",
                    $"{Onnx.OnnxExport.Features}: float32 [batch, {description.FeatureWidth}] (penultimate, k-center's space)",
                    $"{Onnx.OnnxExport.Predicted}: int64 [batch]",
                    "least_confidence, entropy, margin: float64 [batch], higher = more uncertain"),
                ["opset"] = Onnx.OnnxExport.Opset,
                ["batchNorm"] = "folded into the convolutions",
            },
            ["tags"] = new JsonObject([.. (tags ?? new Dictionary<string, string>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    // Every layer with concrete channel counts; the feature layer is marked so loaders can return features.
    private static JsonArray Layers(NetworkDescription d)
    {
        var array = new JsonArray();
        for (var i = 0; i < d.Layers.Count; i++)
        {
            var l = d.Layers[i];
            var o = new JsonObject
            {
                ["kind"] = l.Kind.ToString(),
                ["name"] = l.Name,
                ["inputs"] = new JsonArray([.. l.Inputs.Select(x => (JsonNode)x)]),
                ["channels"] = d.WidthOf(i),
            };
            switch (l.Kind)
            {
                case LayerKind.Conv:
                    o["inChannels"] = d.WidthOf(l.Inputs[0]);
                    o["kernel"] = l.Kernel;
                    o["stride"] = l.Stride;
                    o["padding"] = l.Padding;
                    o["depthwise"] = l.Depthwise;
                    o["bias"] = l.Bias;
                    break;
                case LayerKind.MaxPool:
                    o["kernel"] = l.Kernel;
                    o["stride"] = l.Stride;
                    o["padding"] = l.Padding;
                    break;
                case LayerKind.Linear:
                    o["inChannels"] = d.WidthOf(l.Inputs[0]);
                    break;
                case LayerKind.Dropout:
                    o["rate"] = l.Rate;
                    break;
                case LayerKind.AdaptiveAvgPool:
                    o["size"] = l.Kernel;
                    break;
            }
            if (i == d.FeatureLayer) o["features"] = true;
            array.Add(o);
        }
        return array;
    }

    private static Network CpuCopy(Network model)
    {
        var copy = new Network(model.Spec);
        using var noGrad = TorchSharp.torch.no_grad();
        var target = copy.state_dict();
        foreach (var (name, tensor) in model.state_dict()) target[name].copy_(tensor.cpu());
        return copy;
    }
}
