using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// An inference-only copy of a <see cref="ResNet"/> with every BatchNorm folded into the convolution before it
/// (W' = W·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε)). Scoring runs one pass per convolution instead of two, which matters
/// most for narrow (pruned) networks whose passes are memory-bound. Computes the eval-mode network's logits up
/// to float rounding.
/// </summary>
public sealed class FoldedResNet : IDisposable
{
    /// <summary>A convolution with its BatchNorm folded in: 3×3 (padding 1) or a 1×1 projection (padding 0).</summary>
    public sealed record Conv(Tensor Weight, Tensor Bias, long Stride, long Padding);

    /// <summary>A basic block: relu(conv2(relu(conv1(x))) + shortcut(x)), the shortcut an identity when null.</summary>
    public sealed record Block(Conv Conv1, Conv Conv2, Conv? Shortcut);

    private readonly Conv _stem;
    private readonly List<Block> _blocks = [];
    private readonly Tensor _fcWeight;
    private readonly Tensor _fcBias;
    private readonly List<Tensor> _owned = [];

    /// <summary>The stem convolution (followed by relu).</summary>
    public Conv Stem => _stem;

    /// <summary>The blocks in order; global average pooling of the last one's output gives the features.</summary>
    public IReadOnlyList<Block> Blocks => _blocks;

    /// <summary>The classifier [classes, features] and its bias.</summary>
    public (Tensor Weight, Tensor Bias) Classifier => (_fcWeight, _fcBias);

    /// <summary>The spec of the network this was folded from.</summary>
    public ResNetSpec Spec { get; }

    /// <summary>Folds <paramref name="model"/>'s current weights and BN running statistics.</summary>
    public FoldedResNet(ResNet model)
    {
        TorchRuntime.EnsureLoaded();
        Spec = model.Spec;
        var sd = model.state_dict();
        using var noGrad = no_grad();
        Conv Fold(string conv, string bn, long stride, long padding)
        {
            var w = sd[conv + ".weight"].detach();
            var gamma = sd[bn + ".weight"].detach();
            var scale = gamma / (sd[bn + ".running_var"].detach() + 1e-5).sqrt();
            var weight = (w * scale.reshape(-1, 1, 1, 1)).contiguous();
            var bias = (sd[bn + ".bias"].detach() - sd[bn + ".running_mean"].detach() * scale).contiguous();
            _owned.Add(weight);
            _owned.Add(bias);
            return new Conv(weight, bias, stride, padding);
        }
        _stem = Fold("conv1", "bn1", 1, 1);
        for (var s = 1; s <= 3; s++)
        {
            for (var b = 0; b < Spec.BlocksPerStage; b++)
            {
                var p = $"layer{s}.{b}";
                var stride = b == 0 && s > 1 ? 2 : 1;
                _blocks.Add(new Block(
                    Fold($"{p}.conv1", $"{p}.bn1", stride, 1),
                    Fold($"{p}.conv2", $"{p}.bn2", 1, 1),
                    ResNetLayout.HasProjection(s, b) ? Fold($"{p}.downsample.0", $"{p}.downsample.1", stride, 0) : null));
            }
        }
        _fcWeight = sd["fc.weight"].detach().clone();
        _fcBias = sd["fc.bias"].detach().clone();
        _owned.Add(_fcWeight);
        _owned.Add(_fcBias);
    }

    private static Tensor Apply(Conv c, Tensor x) => Convolution.Apply(x, c.Weight, c.Bias, c.Stride, c.Padding);

    /// <summary>Penultimate features [batch, width].</summary>
    public Tensor Features(Tensor input)
    {
        var x = nn.functional.relu(Apply(_stem, input));
        foreach (var b in _blocks)
        {
            var h = Apply(b.Conv1, x).relu_();
            var o = Apply(b.Conv2, h);
            x = o.add_(b.Shortcut is null ? x : Apply(b.Shortcut, x)).relu_();
        }
        return x.mean([2, 3]);
    }

    /// <summary>Logits [batch, classes].</summary>
    public Tensor Forward(Tensor input) => nn.functional.linear(Features(input), _fcWeight, _fcBias);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
    }
}
