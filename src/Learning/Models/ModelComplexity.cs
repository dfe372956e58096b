namespace PruneFuse.Learning.Models;

/// <summary>Parameters and multiply-accumulates of a network spec at a given input size.</summary>
/// <param name="Parameters">Trainable parameters (conv kernels, BN γ/β, classifier weight and bias).</param>
/// <param name="Macs">Multiply-accumulates of one forward pass of one sample, counting convolutions and the classifier
/// (BN, ReLU, additions and pooling are not counted).</param>
public sealed record ModelComplexity(long Parameters, long Macs)
{
    /// <summary>Output values of every convolution for one sample: what a training step keeps for the backward pass,
    /// per layer.</summary>
    public long ActivationsPerSample { get; init; }

    /// <summary>
    /// A deliberately generous estimate of the bytes one training step of this network needs at
    /// <paramref name="batchSize"/>: float32 weights, gradients and momentum (plus a spare copy), and each
    /// convolution's output kept for backward three times over (convolution, BatchNorm, ReLU) plus its gradient.
    /// Used to refuse specs that cannot fit before a silo tries (and swaps, or dies).
    /// </summary>
    public long TrainingBytes(int batchSize) => checked(4L * (4L * Parameters + 6L * ActivationsPerSample * batchSize));

    /// <summary>Computes the complexity of <paramref name="spec"/> analytically for <paramref name="height"/>×<paramref
    /// name="width"/> inputs.</summary>
    public static ModelComplexity Of(NetworkSpec spec, int height, int width) => Of(spec.Describe(), height, width);

    /// <summary>
    /// Computes the complexity of <paramref name="network"/> for <paramref name="height"/>×<paramref name="width"/>
    /// inputs;
    /// throws naming the layer when the input is too small for the network.
    /// </summary>
    public static ModelComplexity Of(NetworkDescription network, int height, int width)
    {
        var sizes = network.SpatialSizes(height, width);
        var macs = LayerMacs(network, height, width).Sum();
        long parameters = 0, activations = 0;
        for (var i = 1; i < network.Layers.Count; i++)
        {
            var l = network.Layers[i];
            long outCh = network.WidthOf(i);
            long inCh = network.WidthOf(l.Inputs[0]);
            var (h, w) = sizes[i];
            switch (l.Kind)
            {
                case LayerKind.Conv:
                {
                    var perOutput = (l.Depthwise ? 1 : inCh) * l.Kernel * l.Kernel;
                    parameters += outCh * perOutput + (l.Bias ? outCh : 0);
                    activations += outCh * h * w;
                    break;
                }
                case LayerKind.BatchNorm:
                    parameters += 2 * outCh;
                    break;
                case LayerKind.Linear:
                    parameters += inCh * outCh + outCh;
                    if (i < network.Layers.Count - 1) activations += outCh;
                    break;
            }
        }
        return new ModelComplexity(parameters, macs) { ActivationsPerSample = activations };
    }

    /// <summary>Multiply-accumulates per sample of each layer of <paramref name="network"/> (convolutions and linear
    /// layers; 0 for the rest), for <paramref name="height"/>×<paramref name="width"/> inputs.</summary>
    public static long[] LayerMacs(NetworkDescription network, int height, int width)
    {
        var sizes = network.SpatialSizes(height, width);
        var macs = new long[network.Layers.Count];
        for (var i = 1; i < network.Layers.Count; i++)
        {
            var l = network.Layers[i];
            long outCh = network.WidthOf(i);
            long inCh = network.WidthOf(l.Inputs[0]);
            var (h, w) = sizes[i];
            macs[i] = l.Kind switch
            {
                LayerKind.Conv => outCh * (l.Depthwise ? 1 : inCh) * l.Kernel * l.Kernel * h * w,
                LayerKind.Linear => inCh * outCh,
                _ => 0,
            };
        }
        return macs;
    }
}
