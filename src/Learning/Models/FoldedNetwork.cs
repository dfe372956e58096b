using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// An inference-only copy of a <see cref="Network"/> for scoring. Every BatchNorm that directly follows a convolution
/// read by nothing else is folded into it (W' = W·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε)), so scoring runs one pass per
/// convolution instead of two, which matters most for narrow (pruned) networks whose passes are memory-bound. A
/// BatchNorm that cannot fold (as in a pre-activation block, where it follows an addition) stays as a per-channel
/// scale and shift. Dropout is the identity. Computes the eval-mode network's logits up to float rounding.
/// </summary>
public sealed class FoldedNetwork : IDisposable
{
    /// <summary>What one layer of the folded network computes.</summary>
    public abstract record Step(int Input);

    /// <summary>A convolution with its BatchNorm folded in (or its own bias, or none).</summary>
    public sealed record ConvStep(int Input, Tensor Weight, Tensor? Bias, long Stride, long Padding, bool Depthwise) : Step(Input);

    /// <summary>An unfolded BatchNorm: x · scale + shift per channel ([C] each).</summary>
    public sealed record ScaleShiftStep(int Input, Tensor Scale, Tensor Shift) : Step(Input);

    /// <summary>A parameter-free layer (activation, addition, pooling) as described.</summary>
    public sealed record PlainStep(int Input, Layer Layer) : Step(Input);

    /// <summary>A fully connected layer.</summary>
    public sealed record LinearStep(int Input, Tensor Weight, Tensor Bias) : Step(Input);

    /// <summary>The output of the layer it names (a folded BatchNorm, or dropout in eval mode).</summary>
    public sealed record AliasStep(int Input) : Step(Input);

    private readonly Step?[] _steps;
    private readonly int[] _consumers;
    private readonly List<Tensor> _owned = [];

    /// <summary>The spec of the network this was folded from.</summary>
    public NetworkSpec Spec { get; }

    /// <summary>Its description.</summary>
    public NetworkDescription Description { get; }

    /// <summary>One step per description layer (null for the input); an <see cref="AliasStep"/> where a layer folded
    /// away.</summary>
    public IReadOnlyList<Step?> Steps => _steps;

    /// <summary>Folds <paramref name="model"/>'s current weights and BN running statistics.</summary>
    public FoldedNetwork(Network model)
    {
        TorchRuntime.EnsureLoaded();
        Spec = model.Spec;
        var d = Description = model.Description;
        var sd = model.state_dict();
        var layers = d.Layers;
        _steps = new Step?[layers.Count];
        using var noGrad = no_grad();
        Tensor Own(Tensor t)
        {
            _owned.Add(t);
            return t;
        }
        (Tensor Scale, Tensor Shift) Bn(string name)
        {
            var scale = sd[name + ".weight"].detach() / (sd[name + ".running_var"].detach() + 1e-5).sqrt();
            var shift = sd[name + ".bias"].detach() - sd[name + ".running_mean"].detach() * scale;
            return (scale, shift);
        }
        for (var i = 1; i < layers.Count; i++)
        {
            var l = layers[i];
            var input = l.Inputs[0];
            switch (l.Kind)
            {
                case LayerKind.Conv:
                {
                    var w = sd[l.Name + ".weight"].detach();
                    var b = l.Bias ? sd[l.Name + ".bias"].detach() : null;
                    var next = i + 1 < layers.Count ? layers[i + 1] : null;
                    if (next is { Kind: LayerKind.BatchNorm } && next.Inputs[0] == i && d.Consumers[i] == 1)
                    {
                        var (scale, shift) = Bn(next.Name);
                        var weight = (w * scale.reshape(-1, 1, 1, 1)).contiguous();
                        var bias = b is null ? shift.contiguous() : (b * scale + shift).contiguous();
                        _steps[i] = new ConvStep(input, Own(weight), Own(bias), l.Stride, l.Padding, l.Depthwise);
                        _steps[i + 1] = new AliasStep(i);
                        i++;
                    }
                    else
                    {
                        _steps[i] = new ConvStep(input, Own(w.clone()), b is null ? null : Own(b.clone()), l.Stride, l.Padding, l.Depthwise);
                    }
                    break;
                }
                case LayerKind.BatchNorm:
                {
                    var (scale, shift) = Bn(l.Name);
                    _steps[i] = new ScaleShiftStep(input, Own(scale.contiguous()), Own(shift.contiguous()));
                    break;
                }
                case LayerKind.Linear:
                    _steps[i] = new LinearStep(input, Own(sd[l.Name + ".weight"].detach().clone()), Own(sd[l.Name + ".bias"].detach().clone()));
                    break;
                case LayerKind.Dropout:
                    _steps[i] = new AliasStep(input);
                    break;
                default:
                    _steps[i] = new PlainStep(input, l);
                    break;
            }
        }
        // Readers of each computed value, counting through aliases: a value read once may be overwritten in place.
        _consumers = new int[layers.Count];
        for (var i = 1; i < layers.Count; i++)
        {
            if (_steps[i] is AliasStep) continue;
            foreach (var x in layers[i].Inputs) _consumers[Source(x)]++;
        }
    }

    /// <summary>The layer whose computed value layer <paramref name="layer"/>'s output is.</summary>
    public int Source(int layer)
    {
        while (_steps[layer] is AliasStep a) layer = a.Input;
        return layer;
    }

    /// <summary>Penultimate features [batch, width].</summary>
    public Tensor Features(Tensor input) => Run(input, Description.FeatureLayer);

    /// <summary>Logits [batch, classes].</summary>
    public Tensor Forward(Tensor input) => Run(input, _steps.Length - 1);

    private Tensor Run(Tensor input, int to)
    {
        var layers = Description.Layers;
        var values = new Tensor?[to + 1];
        values[0] = input;
        for (var i = 1; i <= to; i++)
        {
            var step = _steps[i]!;
            if (step is AliasStep) continue;
            var src = Source(step.Input);
            var x = values[src]!;
            // Activations and additions overwrite a computed value nobody else reads (never the caller's input).
            var inPlace = src != 0 && _consumers[src] == 1;
            values[i] = step switch
            {
                ConvStep c => Convolution.Apply(x, c.Weight, c.Bias, c.Stride, c.Padding, c.Depthwise),
                ScaleShiftStep s => x.mul(s.Scale.reshape(1, -1, 1, 1)).add_(s.Shift.reshape(1, -1, 1, 1)),
                LinearStep f => nn.functional.linear(x, f.Weight, f.Bias),
                PlainStep p => p.Layer.Kind switch
                {
                    LayerKind.Relu => inPlace ? x.relu_() : x.relu(),
                    LayerKind.Relu6 => inPlace ? x.clamp_(0, 6) : x.clamp(0, 6),
                    LayerKind.Add => inPlace ? x.add_(values[Source(layers[i].Inputs[1])]!) : x.add(values[Source(layers[i].Inputs[1])]!),
                    LayerKind.MaxPool => nn.functional.max_pool2d(x, p.Layer.Kernel, p.Layer.Stride, p.Layer.Padding),
                    LayerKind.GlobalAvgPool => x.mean([2, 3]),
                    LayerKind.AdaptiveAvgPool => nn.functional.adaptive_avg_pool2d(x, [p.Layer.Kernel, p.Layer.Kernel]),
                    LayerKind.Flatten => x.flatten(1),
                    _ => throw new InvalidOperationException($"{p.Layer.Kind} has no folded form"),
                },
                _ => throw new InvalidOperationException(step.GetType().Name),
            };
        }
        return values[Source(to)]!;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
    }
}
