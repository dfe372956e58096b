using TorchSharp;
using System.Diagnostics;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Training;

namespace PruneFuse.Grains;

/// <summary>Trains the round's selector from its starting weights on the labeled set and stores the
/// checkpoint.</summary>
[Placement.PreferGpuSilo]
public sealed class SelectorGrain(ExperimentStore experiments, TorchWorker compute) : Grain, ISelectorGrain
{
    // Written by the compute thread after each epoch, read by interleaved progress queries.
    private TrainingProgress? _progress;

    /// <inheritdoc />
    public Task<TrainingProgress?> GetTrainingProgress() => Task.FromResult(Volatile.Read(ref _progress));

    /// <inheritdoc />
    public async Task<SelectorTrainResult> Train(SelectorTrainRequest request, CancellationToken cancellationToken = default)
    {
        var id = this.GetPrimaryKeyString();
        Volatile.Write(ref _progress, null); // not the previous run's last epoch
        var (spec, manifest, train, test) = await experiments.TrainingInputsAsync(id, request.Labeled);
        if (request.Epochs < 0) throw new ArgumentException($"selector epochs must not be negative, got {request.Epochs}");
        var epochs = request.Epochs > 0 ? request.Epochs : spec.SelectorEpochs;
        var initName = request.StartFrom?.Name ?? ArtifactLayout.SelectorInit(id);
        var init = await experiments.CheckpointAsync(initName, cancellationToken);
        var (bytes, accuracy, seconds) = await compute.Run(ct =>
        {
            // From its θ0 slice (as SVP retrains every round) or, warm-started, from a stored earlier selector: either
            // way
            // a round's result depends only on stored inputs, so a retried step gives the same checkpoint.
            var (model, meta) = Checkpoint.Load(init, initName);
            using (model)
            {
                model.to(Learning.Runtime.TorchRuntime.Device);
                var options = new TrainingOptions
                {
                    Epochs = epochs, BatchSize = spec.BatchSize, Seed = ExperimentSetup.SeedFor(spec, $"selector-round-{request.Round}"),
                    EvaluateEveryEpoch = false,
                };
                var sw = Stopwatch.StartNew();
                Volatile.Write(ref _progress, new TrainingProgress { Network = "selector", Epochs = options.Epochs });
                var normalization = meta.NormalizationOr(manifest.Normalization);
                Trainer.Train(model, train, options, normalization, progress: e => Volatile.Write(ref _progress, new TrainingProgress
                {
                    Network = "selector", Epoch = e.Epoch + 1, Epochs = options.Epochs, TrainLoss = e.TrainLoss, TestAccuracy = e.TestAccuracy, Seconds = sw.Elapsed.TotalSeconds,
                }), cancellationToken: ct);
                var secs = sw.Elapsed.TotalSeconds;
                var acc = Evaluator.Accuracy(model, test, normalization, cancellationToken: ct);
                var tags = new Dictionary<string, string> { ["experiment"] = id, ["round"] = request.Round.ToString(System.Globalization.CultureInfo.InvariantCulture), ["role"] = "selector" };
                return (Checkpoint.Save(model, meta.Plan, tags, meta.Normalization), acc, secs);
            }
        }, cancellationToken);
        var checkpoint = await experiments.WriteCheckpointAsync(ArtifactLayout.Selector(id, request.Round), bytes, cancellationToken);
        return new SelectorTrainResult
        {
            Checkpoint = checkpoint, Accuracy = accuracy, Seconds = seconds, Silo = compute.SiloName, Epochs = epochs, StartedFrom = request.StartFrom?.Name,
        };
    }
}
