using TorchSharp;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Fusion;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Training;

namespace PruneFuse.Grains;

/// <summary>Builds the final network (fused, or θ0 for baselines), trains it with distillation, evaluates and stores
/// it.</summary>
[Placement.PreferGpuSilo]
public sealed class FusionGrain(ExperimentStore experiments, TorchWorker compute) : Grain, IFusionGrain
{
    // Written by the compute thread after each epoch, read by interleaved progress queries.
    private TrainingProgress? _progress;

    /// <inheritdoc />
    public Task<TrainingProgress?> GetTrainingProgress() => Task.FromResult(Volatile.Read(ref _progress));

    /// <inheritdoc />
    public async Task<FinalResult> FuseAndTrain(FusionRequest request, CancellationToken cancellationToken = default)
    {
        var id = this.GetPrimaryKeyString();
        Volatile.Write(ref _progress, null); // not the previous run's last epoch
        var (spec, manifest, train, test) = await experiments.TrainingInputsAsync(id, request.Labeled);
        var thetaName = ArtifactLayout.Theta0(id);
        var thetaBytes = await experiments.CheckpointAsync(thetaName, cancellationToken);
        var selectorBytes = request.Selector is null ? null : await experiments.CheckpointAsync(request.Selector.Name, cancellationToken);
        var fuse = spec.Selector == SelectorKind.Pruned && spec.Fusion && request.Selector is not null;
        var distill = spec.Selector == SelectorKind.Pruned && spec.DistillationAlpha > 0 && request.Selector is not null;
        var (result, bytes) = await compute.Run(ct =>
        {
            var (theta0, meta) = Checkpoint.Load(thetaBytes, thetaName);
            Network? selector = null;
            Network model = theta0;
            try
            {
                selector = selectorBytes is null ? null : Checkpoint.Load(selectorBytes, request.Selector!.Name).Model;
                if (fuse)
                {
                    var plan = meta.Plan ?? throw new InvalidOperationException($"{thetaName} has no channel plan to fuse with");
                    model = Fuser.Fuse(theta0, selector!, plan);
                }
                model.to(TorchRuntime.Device);
                selector?.to(TorchRuntime.Device);
                var options = new TrainingOptions
                {
                    Epochs = spec.FinalEpochs, BatchSize = spec.BatchSize, Seed = ExperimentSetup.SeedFor(spec, "final"),
                    Distillation = distill ? new DistillationOptions(spec.DistillationAlpha, spec.DistillationTemperature, spec.DistillationDecay) : null,
                };
                var sw = System.Diagnostics.Stopwatch.StartNew();
                Volatile.Write(ref _progress, new TrainingProgress { Network = "final network", Epochs = options.Epochs });
                var r = Trainer.Train(model, train, options, meta.NormalizationOr(manifest.Normalization), test, distill ? selector : null, e => Volatile.Write(ref _progress, new TrainingProgress
                {
                    Network = "final network", Epoch = e.Epoch + 1, Epochs = options.Epochs, TrainLoss = e.TrainLoss, TestAccuracy = e.TestAccuracy, Seconds = sw.Elapsed.TotalSeconds,
                }), ct);
                var final = new FinalResult
                {
                    Accuracy = r.LastAccuracy ?? 0, BestAccuracy = r.BestAccuracy ?? 0, TrainSeconds = r.TrainSeconds,
                    EpochAccuracies = [.. r.Epochs.Select(e => e.TestAccuracy ?? double.NaN)], Fused = fuse, Checkpoint = ArtifactLayout.Final(id),
                };
                return (final, Checkpoint.Save(model, meta.Plan, new Dictionary<string, string> { ["experiment"] = id, ["role"] = "final" }, meta.Normalization));
            }
            finally
            {
                if (!ReferenceEquals(model, theta0)) model.Dispose();
                theta0.Dispose();
                selector?.Dispose();
            }
        }, cancellationToken);
        await experiments.WriteCheckpointAsync(ArtifactLayout.Final(id), bytes, cancellationToken);
        return result with { Silo = compute.SiloName };
    }
}
