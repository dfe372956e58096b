using System.Collections;
using PruneFuse.Learning.Data;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// θ0 from a supplied checkpoint instead of the seeded initialisation: a safetensors file or a PyTorch state dict
/// written by <c>torch.save(model.state_dict())</c>, e.g. torchvision's pretrained ResNet-18. Keys are the family's
/// state-dict names. Two mismatches are bridged, and said: a classifier for another class count is replaced by the
/// seeded one, and RGB stem weights are summed over their input channels for 1-channel images (a gray image is
/// R = G = B, so the summed kernel computes what the RGB one computed on it). Anything else is refused naming the
/// first key at fault.
/// </summary>
public static class InitialWeights
{
    /// <summary>Reads every tensor of a safetensors or <c>torch.save</c> file; a file of another format is refused by
    /// name.</summary>
    public static Dictionary<string, Tensor> Read(byte[] bytes, string source)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        if (bytes.Length < 8) throw new DataFormatException(source, $"{bytes.Length} bytes is too short for a state dict");
        try
        {
            using var ms = new MemoryStream(bytes, writable: false);
            if (bytes[0] == (byte)'P' && bytes[1] == (byte)'K')
            {
                var table = PyTorchUnpickler.UnpickleStateDict(ms, leaveOpen: true);
                var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (DictionaryEntry e in table)
                {
                    if (e.Key is string k && e.Value is Tensor t) dict[k] = t;
                }
                return dict;
            }
            // safetensors: an 8-byte little-endian header length, then a JSON header that starts with '{'.
            if (bytes.Length > 9 && bytes[8] == (byte)'{')
            {
                return new Dictionary<string, Tensor>(Safetensors.LoadStateDict(ms), StringComparer.Ordinal);
            }
        }
        catch (Exception e) when (e is not DataFormatException and not OutOfMemoryException)
        {
            throw new DataFormatException(source, $"is not a readable state dict ({e.Message})", e);
        }
        throw new DataFormatException(source, "is neither a safetensors file nor a PyTorch state dict written by torch.save(model.state_dict())");
    }

    /// <summary>
    /// Copies <paramref name="state"/> into <paramref name="model"/> (already seeded, so a replaced classifier keeps
    /// its seeded values). Returns one line per bridged mismatch; throws <see cref="ArgumentException"/> naming the
    /// first key that is missing, unexpected or mis-shaped.
    /// </summary>
    public static IReadOnlyList<string> Apply(Network model, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var d = model.Description;
        var expected = d.Shapes();
        var notes = new List<string>();
        var unexpected = state.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (unexpected is not null)
        {
            throw new ArgumentException($"{source}: tensor '{unexpected}' is not part of {model.Spec.Arch} (stem {model.Spec.Stem}); its first tensors are {string.Join(", ", expected.Keys.Take(3))}");
        }
        var classifier = d.Layers[^1].Name;
        var stem = d.Layers.Select((l, i) => (l, i)).First(x => x.l.Kind == LayerKind.Conv && x.l.Inputs[0] == 0).l.Name;
        var target = model.state_dict();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var replaceClassifier = state.TryGetValue(classifier + ".weight", out var fc) && fc.shape.Length == 2 && fc.shape[0] != d.NumClasses && fc.shape[1] == expected[classifier + ".weight"][1];
        if (replaceClassifier)
        {
            notes.Add($"classifier '{classifier}' replaced: {source} has {fc!.shape[0]} classes, the dataset {d.NumClasses}; the new one starts from the seed");
        }
        foreach (var t in d.Tensors)
        {
            var shape = expected[t.Name];
            if (replaceClassifier && (t.Name == classifier + ".weight" || t.Name == classifier + ".bias")) continue;
            if (!state.TryGetValue(t.Name, out var value))
            {
                // Some exporters drop BatchNorm's batch counter; it only matters for BN momentum=None, which we never
                // use.
                if (t.Kind == TensorKind.BatchNormCounter) continue;
                throw new ArgumentException($"{source} has no tensor '{t.Name}' that {model.Spec.Arch} needs (shape [{string.Join(", ", shape)}])");
            }
            if (t.Kind == TensorKind.BatchNormCounter)
            {
                if (value.numel() != 1) throw new ArgumentException($"{source}: '{t.Name}' must be one number, it has {value.numel()}");
                target[t.Name].copy_(value.reshape([]).to_type(ScalarType.Int64));
                continue;
            }
            var v = value.to_type(ScalarType.Float32);
            if (t.Name == stem + ".weight" && v.shape.Length == 4 && v.shape[1] != shape[1] && shape[1] == 1 && v.shape[0] == shape[0] && v.shape[2] == shape[2])
            {
                notes.Add($"stem '{stem}' summed over the {v.shape[1]} input channels of {source} for 1-channel images");
                v = v.sum(1, keepdim: true);
            }
            if (!v.shape.SequenceEqual(shape))
            {
                throw new ArgumentException($"{source}: tensor '{t.Name}' has shape [{string.Join(", ", value.shape)}], {model.Spec.Arch} at these widths needs [{string.Join(", ", shape)}]");
            }
            if (!v.isfinite().all().item<bool>()) throw new ArgumentException($"{source}: tensor '{t.Name}' contains NaN or infinite values");
            target[t.Name].copy_(v);
        }
        return notes;
    }
}
