using System.Diagnostics;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Training;

/// <summary>What happened in one epoch.</summary>
/// <param name="Epoch">Zero-based epoch.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="TestAccuracy">Accuracy on the evaluation set after the epoch, or null when not evaluated.</param>
/// <param name="Seconds">Wall-clock seconds of training (not evaluation).</param>
public sealed record EpochResult(int Epoch, double LearningRate, double TrainLoss, double? TestAccuracy, double Seconds);

/// <summary>Outcome of a training run.</summary>
/// <param name="Epochs">Per-epoch results.</param>
/// <param name="LastAccuracy">Accuracy after the last epoch (null without an evaluation set).</param>
/// <param name="BestAccuracy">Best accuracy over evaluated epochs (SVP reports this one).</param>
/// <param name="TrainSeconds">Total training wall-clock seconds, evaluation excluded.</param>
public sealed record TrainingResult(IReadOnlyList<EpochResult> Epochs, double? LastAccuracy, double? BestAccuracy, double TrainSeconds);

/// <summary>
/// Trains a network with the SVP-style recipe, optionally distilling from a teacher. Synchronous by design:
/// TorchSharp's grad mode and dispose scopes are thread-local, so callers run it on a dedicated compute thread.
/// </summary>
public static class Trainer
{
    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/> (every label must be known). With a
    /// <paramref name="teacher"/> and <see cref="TrainingOptions.Distillation"/>, the loss is
    /// (1−α)·CE + α·T²·KL(teacher ‖ student) on the same augmented batch, α following
    /// <see cref="DistillationOptions.AlphaAt"/> epoch by epoch.
    /// </summary>
    public static TrainingResult Train(
        Network model,
        ImageSet train,
        TrainingOptions options,
        ImageNormalization normalization,
        ImageSet? evaluation = null,
        Network? teacher = null,
        Action<EpochResult>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (train.Count == 0) throw new ArgumentException("the training set is empty");
        var unlabeled = Array.FindIndex(train.Labels, l => l < 0 || l >= model.Spec.NumClasses);
        if (unlabeled >= 0)
        {
            throw new ArgumentException($"sample {train.Ids[unlabeled]} has label {train.Labels[unlabeled]}, outside 0..{model.Spec.NumClasses - 1}");
        }
        if (train.Channels != model.Spec.InputChannels)
        {
            throw new ArgumentException($"images have {train.Channels} channels, {model.Spec.Arch} expects {model.Spec.InputChannels}");
        }
        if (options.Distillation is not null && teacher is null) throw new ArgumentException("distillation needs a teacher network");

        var device = model.Device;
        if (teacher is not null && teacher.Device.type != device.type) throw new ArgumentException($"teacher is on {teacher.Device.type}, student on {device.type}");
        var prep = new BatchPreparer(normalization, device);
        using var allPixels = tensor(train.Pixels, dtype: ScalarType.Byte).reshape(train.Count, train.Channels, train.Height, train.Width);
        using var allLabels = tensor(train.Labels.Select(l => (long)l).ToArray());
        var parameters = model.parameters().ToList();
        using var optimizer = optim.SGD(parameters, options.LearningRate, options.Momentum, 0, options.WeightDecay, false, false);
        teacher?.eval();

        var epochs = new List<EpochResult>();
        var total = Stopwatch.StartNew();
        double trainSeconds = 0;
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var lr = LearningRateSchedule.ForEpoch(epoch, options.Epochs, options.LearningRate, options.WarmupLearningRate);
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            // A decayed α of 0 skips the teacher's forward pass (Loss returns plain cross-entropy).
            var distillation = options.Distillation is { } d ? d with { Alpha = d.AlphaAt(epoch, options.Epochs), Decay = 0 } : null;
            var rng = SeededRandom.For(options.Seed, "train-epoch", epoch);
            var order = rng.Permutation(train.Count);
            // Dropout masks come from the seed too (never from torch's global generator, which any thread may use).
            model.SeedDropout(SeededRandom.Derive(options.Seed, "dropout", epoch));
            var sw = Stopwatch.StartNew();
            model.train();
            double lossSum = 0;
            var seen = 0;
            for (var start = 0; start < order.Length; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = Math.Min(options.BatchSize, order.Length - start);
                // BatchNorm cannot train on a batch of one; fold a trailing single sample into nothing.
                if (n == 1 && order.Length > 1) break;
                using var scope = NewDisposeScope();
                var idx = tensor(order.AsSpan(start, n).ToArray().Select(i => (long)i).ToArray());
                var x = prep.Augment(allPixels.index_select(0, idx), options.CropPadding, options.HorizontalFlip, rng);
                var y = allLabels.index_select(0, idx).to(device);
                optimizer.zero_grad();
                var logits = model.forward(x);
                var loss = Loss(logits, y, x, teacher, distillation);
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * n;
                seen += n;
            }
            sw.Stop();
            trainSeconds += sw.Elapsed.TotalSeconds;
            double? acc = null;
            if (evaluation is not null && (options.EvaluateEveryEpoch || epoch == options.Epochs - 1))
            {
                acc = Evaluator.Accuracy(model, evaluation, normalization, cancellationToken: cancellationToken);
            }
            var result = new EpochResult(epoch, lr, seen == 0 ? double.NaN : lossSum / seen, acc, sw.Elapsed.TotalSeconds);
            if (double.IsNaN(result.TrainLoss) && seen > 0)
            {
                throw new InvalidOperationException($"training diverged: loss is NaN in epoch {epoch}");
            }
            epochs.Add(result);
            progress?.Invoke(result);
        }
        var evaluated = epochs.Where(e => e.TestAccuracy.HasValue).ToList();
        return new TrainingResult(
            epochs,
            evaluated.LastOrDefault()?.TestAccuracy,
            evaluated.Count == 0 ? null : evaluated.Max(e => e.TestAccuracy!.Value),
            trainSeconds);
    }

    /// <summary>The training loss: cross-entropy, or the distillation mixture when a teacher is given.</summary>
    public static Tensor Loss(Tensor logits, Tensor labels, Tensor input, Network? teacher, DistillationOptions? distillation)
    {
        var ce = nn.functional.cross_entropy(logits, labels);
        if (distillation is null || teacher is null || distillation.Alpha == 0) return ce;
        Tensor teacherLogits;
        using (no_grad())
        {
            teacherLogits = teacher.forward(input).detach();
        }
        return DistillationLoss(logits, teacherLogits, ce, distillation);
    }

    /// <summary>(1−α)·CE + α·T²·KL(softmax(t/T) ‖ softmax(s/T)), the KL averaged over the batch.</summary>
    public static Tensor DistillationLoss(Tensor studentLogits, Tensor teacherLogits, Tensor crossEntropy, DistillationOptions d)
    {
        var t = d.Temperature;
        var logP = nn.functional.log_softmax(teacherLogits / t, 1);
        var logQ = nn.functional.log_softmax(studentLogits / t, 1);
        var kl = (logP.exp() * (logP - logQ)).sum(1).mean();
        return crossEntropy * (1 - d.Alpha) + kl * (d.Alpha * t * t);
    }
}
