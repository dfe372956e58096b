using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Training;

/// <summary>Evaluates a network on a labeled image set.</summary>
public static class Evaluator
{
    /// <summary>Top-1 accuracy of <paramref name="model"/> (in eval mode) on <paramref name="set"/>.</summary>
    public static double Accuracy(Network model, ImageSet set, ImageNormalization normalization, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        if (set.Count == 0) throw new ArgumentException("the evaluation set is empty");
        var logits = Logits(model, set, normalization, batchSize, cancellationToken);
        var classes = model.Spec.NumClasses;
        var correct = 0;
        for (var i = 0; i < set.Count; i++)
        {
            var row = logits.AsSpan(i * classes, classes);
            var predicted = 0;
            for (var c = 1; c < classes; c++)
            {
                if (row[c] > row[predicted]) predicted = c; // first maximum, as argmax
            }
            if (predicted == set.Labels[i]) correct++;
        }
        return (double)correct / set.Count;
    }

    /// <summary>Logits of <paramref name="model"/> (eval mode) for every image of <paramref name="set"/>, row-major
    /// [count, classes].</summary>
    public static float[] Logits(Network model, ImageSet set, ImageNormalization normalization, int batchSize = 256, CancellationToken cancellationToken = default)
    {
        var classes = model.Spec.NumClasses;
        var output = new float[(long)set.Count * classes];
        var wasTraining = model.training;
        model.eval();
        try
        {
            var prep = new BatchPreparer(normalization, model.Device);
            using var noGrad = no_grad();
            for (var start = 0; start < set.Count; start += batchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = Math.Min(batchSize, set.Count - start);
                using var scope = NewDisposeScope();
                var bytes = new byte[n * set.ImageBytes];
                Buffer.BlockCopy(set.Pixels, start * set.ImageBytes, bytes, 0, bytes.Length);
                var logits = model.forward(prep.Prepare(bytes, n, set.Channels, set.Height, set.Width)).cpu().data<float>().ToArray();
                Array.Copy(logits, 0, output, (long)start * classes, logits.Length);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return output;
    }
}
