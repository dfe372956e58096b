using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// What a round step may use: the experiment's persisted state (which it updates in place), the stores and the
/// grain factory. The coordinator builds one per loop run and persists the state after every step.
/// </summary>
public sealed class RoundContext(
    string experimentId, CoordinatorState state, ExperimentStore experiments, TorchWorker compute, ReplicaCache replicas, IGrainFactory grains,
    ComputeSilos silos, ComputeOptions options, Dictionary<int, string> scoringHomes, Func<bool> running, Action<string> reportStage, Action<TrainingProgress?> reportTraining, Action<ScoringProgress?> reportScoring)
{
    /// <summary>How often a running training's progress is fetched for the status.</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);

    /// <summary>The experiment id (validated).</summary>
    public string ExperimentId { get; } = experimentId;

    /// <summary>The persisted state; a step changes it only once its work is done and stored.</summary>
    public CoordinatorState State { get; } = state;

    /// <summary>The experiment's spec.</summary>
    public ExperimentSpec Spec => State.Spec!;

    /// <summary>Typed access to the experiment's and dataset's artifacts.</summary>
    public ExperimentStore Experiments { get; } = experiments;

    /// <summary>This silo's torch worker.</summary>
    public TorchWorker Compute { get; } = compute;

    /// <summary>This silo's loaded networks (use on the torch worker only).</summary>
    public ReplicaCache Replicas { get; } = replicas;

    /// <summary>For calls to selector, scoring-worker and fusion grains.</summary>
    public IGrainFactory Grains { get; } = grains;

    /// <summary>The silos scoring may use now.</summary>
    public ComputeSilos Silos { get; } = silos;

    /// <summary>This silo's compute settings (the work-unit size of the rounds it coordinates).</summary>
    public ComputeOptions Options { get; } = options;

    /// <summary>Which silo scored most of each shard last round, kept in memory so shard caches stay warm.</summary>
    public Dictionary<int, string> ScoringHomes { get; } = scoringHomes;

    /// <summary>False once the experiment was cancelled: a step then returns without changing the state.</summary>
    public bool Running => running();

    /// <summary>Shows what the step is doing now in the experiment's status (display text only).</summary>
    public void Stage(string text) => reportStage(text);

    /// <summary>Shows the pool scoring's per-silo progress in the status (null when scoring ends).</summary>
    public void Scoring(ScoringProgress? progress) => reportScoring(progress);

    /// <summary>
    /// Trains the selector on the current labeled set for <see cref="CoordinatorState.Round"/>, showing its progress
    /// under <paramref name="stage"/>, and makes it the current selector. It starts from <paramref name="startFrom"/>
    /// (a trained selector) or the θ0 slice, for <paramref name="epochs"/> or the spec's selector epochs. False when the
    /// experiment was cancelled meanwhile.
    /// </summary>
    public async Task<bool> TrainSelectorAsync(string stage, CancellationToken cancellationToken, ArtifactRef? startFrom = null, int? epochs = null)
    {
        var grain = Grains.GetGrain<ISelectorGrain>(ExperimentId);
        var request = new SelectorTrainRequest
        {
            ExperimentId = ExperimentId, Round = State.Round, Labeled = State.CurrentLabeled!, StartFrom = startFrom, Epochs = epochs ?? 0, // 0: the grain uses the spec's selector epochs
        };
        var trained = await TrainingAsync(stage, grain.Train(request, cancellationToken), grain.GetTrainingProgress);
        if (!Running) return false;
        State.CurrentSelector = trained;
        return true;
    }

    /// <summary>
    /// Awaits a training call while showing its progress (epoch, loss, accuracy, time left) in the status, fetched
    /// with <paramref name="progress"/> every <see cref="ProgressInterval"/>. A failed or slow fetch only skips an
    /// update: progress is display, never part of the step.
    /// </summary>
    public async Task<T> TrainingAsync<T>(string stage, Task<T> training, Func<Task<TrainingProgress?>> progress)
    {
        Stage(stage);
        var done = new CancellationTokenSource();
        _ = WatchAsync(stage, progress, done);
        try
        {
            return await training;
        }
        finally
        {
            done.Cancel();
            reportTraining(null);
        }
    }

    private async Task WatchAsync(string stage, Func<Task<TrainingProgress?>> progress, CancellationTokenSource done)
    {
        try
        {
            while (!done.IsCancellationRequested)
            {
                await Task.Delay(ProgressInterval, done.Token);
                TrainingProgress? p;
                try
                {
                    p = await progress();
                }
                catch (Exception)
                {
                    continue; // the training's silo may be going away; the step itself reports that
                }
                if (done.IsCancellationRequested || p is null || p.Epoch == 0) continue; // nothing to show before the first epoch ends
                reportTraining(p);
                Stage($"{stage}: {p}");
            }
        }
        catch (OperationCanceledException)
        {
            // the training ended
        }
        finally
        {
            done.Dispose();
        }
    }
}

/// <summary>One step of the round loop, persisted as a <see cref="CoordinatorStep"/> value.</summary>
public interface IRoundStep
{
    /// <summary>
    /// Does the step's work and records its results in <see cref="RoundContext.State"/>. Returns false when the
    /// experiment was cancelled meanwhile (the state is then left as it was). Must be idempotent: a step cut short
    /// by a crash runs again from the same persisted state.
    /// </summary>
    Task<bool> RunAsync(RoundContext context, CancellationToken cancellationToken);
}
