using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Scoring;

/// <summary>
/// Scores with a BN-folded snapshot of a TorchSharp network on its device. Call only on one thread (grad mode is
/// thread-local); create a new one after training.
/// </summary>
public sealed class TorchScoringNetwork : IScoringNetwork
{
    private readonly FoldedNetwork _folded;
    private readonly BatchPreparer _prep;

    /// <summary>Folds <paramref name="model"/>'s current weights; inputs are normalised with <paramref
    /// name="normalization"/>.</summary>
    public TorchScoringNetwork(Network model, ImageNormalization normalization)
    {
        _folded = new FoldedNetwork(model);
        _prep = new BatchPreparer(normalization, model.Device);
    }

    /// <inheritdoc />
    public string Engine => "torch";

    /// <inheritdoc />
    /// <remarks>One: grad mode and dispose scopes are thread-local, and libtorch parallelises inside each op.</remarks>
    public int ConcurrentBatches => 1;

    /// <inheritdoc />
    public (double[] Scores, long[] Predicted) Score(byte[] pixels, int count, int channels, int height, int width, SelectionMetric metric)
    {
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        var logits = _folded.Forward(_prep.Prepare(pixels, count, channels, height, width));
        var scores = UncertaintyScores.FromLogits(logits, metric).cpu().data<double>().ToArray();
        // The prediction travels with the selection so labeling tools can show it as a pre-annotation.
        var predicted = logits.argmax(1).cpu().data<long>().ToArray();
        return (scores, predicted);
    }

    /// <inheritdoc />
    public float[] Features(byte[] pixels, int count, int channels, int height, int width, out int dimension) =>
        Rows(_folded.Features, pixels, count, channels, height, width, out dimension);

    /// <inheritdoc />
    public float[] Logits(byte[] pixels, int count, int channels, int height, int width, out int classes) =>
        Rows(_folded.Forward, pixels, count, channels, height, width, out classes);

    // One forward function's output [count, columns] as a row-major array.
    private float[] Rows(Func<Tensor, Tensor> forward, byte[] pixels, int count, int channels, int height, int width, out int columns)
    {
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        var y = forward(_prep.Prepare(pixels, count, channels, height, width)).cpu();
        columns = (int)y.shape[1];
        return y.data<float>().ToArray();
    }

    /// <inheritdoc />
    public void Dispose() => _folded.Dispose();
}
