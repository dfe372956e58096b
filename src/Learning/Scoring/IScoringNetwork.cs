namespace PruneFuse.Learning.Scoring;

/// <summary>
/// A trained network as the pool scorer uses it: uint8 images in, uncertainty scores, predictions or penultimate
/// features out. <see cref="TorchScoringNetwork"/> runs it on libtorch, <see cref="OnnxScoringNetwork"/> on ONNX
/// Runtime; both give the same numbers to float rounding, so the engine is a speed choice, not a method choice.
/// </summary>
public interface IScoringNetwork : IDisposable
{
    /// <summary>Engine name for logs and reports (e.g. "torch", "onnx-cpu", "onnx-cuda").</summary>
    string Engine { get; }

    /// <summary>
    /// How many batches the scorer may hand to this network at once from different threads (1: one at a time,
    /// from one thread).
    /// </summary>
    int ConcurrentBatches { get; }

    /// <summary>
    /// Float64 scores (higher = more uncertain) and predicted classes of <paramref name="count"/> images stored
    /// back to back in <paramref name="pixels"/> (uint8, [count, channels, height, width]).
    /// </summary>
    (double[] Scores, long[] Predicted) Score(byte[] pixels, int count, int channels, int height, int width, SelectionMetric metric);

    /// <summary>Penultimate features of the images, row-major [count, <c>dimension</c>].</summary>
    float[] Features(byte[] pixels, int count, int channels, int height, int width, out int dimension);

    /// <summary>Logits, row-major [count, classes] (for checks and exports).</summary>
    float[] Logits(byte[] pixels, int count, int channels, int height, int width, out int classes);
}
