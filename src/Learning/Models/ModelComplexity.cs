namespace PruneFuse.Learning.Models;

/// <summary>Parameters and multiply-accumulates of a network spec at a given input size.</summary>
/// <param name="Parameters">Trainable parameters (conv kernels, BN γ/β, classifier weight and bias).</param>
/// <param name="Macs">Multiply-accumulates of one forward pass of one sample, counting convolutions and the classifier (BN, ReLU, additions and pooling are not counted).</param>
public sealed record ModelComplexity(long Parameters, long Macs)
{
    /// <summary>Output values of every convolution for one sample: what a training step keeps for the backward pass, per layer.</summary>
    public long ActivationsPerSample { get; init; }

    /// <summary>
    /// A deliberately generous estimate of the bytes one training step of this network needs at
    /// <paramref name="batchSize"/>: float32 weights, gradients and momentum (plus a spare copy), and each
    /// convolution's output kept for backward three times over (convolution, BatchNorm, ReLU) plus its gradient.
    /// Used to refuse specs that cannot fit before a silo tries (and swaps, or dies).
    /// </summary>
    public long TrainingBytes(int batchSize) => checked(4L * (4L * Parameters + 6L * ActivationsPerSample * batchSize));

    /// <summary>Computes the complexity of <paramref name="spec"/> analytically for <paramref name="height"/>×<paramref name="width"/> inputs.</summary>
    public static ModelComplexity Of(ResNetSpec spec, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        long parameters = 0, macs = 0, activations = 0;
        var w = spec.StageWidths;
        void Conv(long inCh, long outCh, int k, int outH, int outW)
        {
            parameters += outCh * inCh * k * k;
            macs += outCh * inCh * k * k * outH * outW;
            activations += outCh * outH * outW;
        }
        void Bn(long ch) => parameters += 2 * ch;

        int h = height, wd = width;
        Conv(spec.InputChannels, w[0], 3, h, wd);
        Bn(w[0]);
        for (var s = 1; s <= 3; s++)
        {
            for (var b = 0; b < spec.BlocksPerStage; b++)
            {
                var stride = b == 0 && s > 1 ? 2 : 1;
                var inCh = b == 0 && s > 1 ? w[s - 2] : w[s - 1];
                var outH = (h - 1) / stride + 1; // 3×3, padding 1 (and 1×1, padding 0) give the same size
                var outW = (wd - 1) / stride + 1;
                var inner = spec.BlockWidths[s - 1][b];
                Conv(inCh, inner, 3, outH, outW);
                Bn(inner);
                Conv(inner, w[s - 1], 3, outH, outW);
                Bn(w[s - 1]);
                if (ResNetLayout.HasProjection(s, b))
                {
                    Conv(inCh, w[s - 1], 1, outH, outW);
                    Bn(w[s - 1]);
                }
                h = outH;
                wd = outW;
            }
        }
        parameters += (long)w[2] * spec.NumClasses + spec.NumClasses;
        macs += (long)w[2] * spec.NumClasses;
        return new ModelComplexity(parameters, macs) { ActivationsPerSample = activations };
    }
}
