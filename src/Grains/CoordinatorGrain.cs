using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Rounds;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Scoring;
using Orleans.Concurrency;

namespace PruneFuse.Grains;

/// <summary>
/// Where the round loop is; persisted after every step so a restarted coordinator resumes there. The values are
/// stored: never renumber them. <see cref="Rounds.RoundTable"/> says which class runs each one and what follows.
/// </summary>
public enum CoordinatorStep
{
    /// <summary>Create θ0, the plan, the selector's start and the initial labeled set.</summary>
    Setup = 0,
    /// <summary>Train the selector of <see cref="CoordinatorState.Round"/>.</summary>
    TrainSelector = 1,
    /// <summary>Score the pool with <see cref="CoordinatorState.Round"/>'s selector.</summary>
    Score = 2,
    /// <summary>Fuse and train the final network.</summary>
    Fuse = 3,
    /// <summary>Wait for externally imported labels of <see cref="CoordinatorState.AwaitingRound"/>'s
    /// selection.</summary>
    AwaitLabels = 4,
    /// <summary>Nothing left to do.</summary>
    Done = 5,
    /// <summary>Merge the shards' scores into <see cref="CoordinatorState.Round"/>'s selection and commit it.</summary>
    Commit = 6,
    /// <summary>Train the selector on the final labeled set (fusion source and teacher).</summary>
    FinalSelector = 7,
}

/// <summary>The coordinator's persisted state.</summary>
[GenerateSerializer, Alias("prunefuse.CoordinatorState")]
public sealed class CoordinatorState
{
    [Id(0)] public ExperimentSpec? Spec { get; set; }
    [Id(1)] public ExperimentState State { get; set; }
    [Id(2)] public CoordinatorStep Step { get; set; }
    [Id(3)] public int Round { get; set; }
    [Id(4)] public List<RoundRecord> Rounds { get; set; } = [];
    [Id(5)] public FinalResult? Final { get; set; }
    [Id(6)] public string? Error { get; set; }
    [Id(7)] public long SelectorParams { get; set; }
    [Id(8)] public long SelectorMacs { get; set; }
    [Id(9)] public DateTimeOffset StartedAt { get; set; }
    [Id(10)] public DateTimeOffset? EndedAt { get; set; }
    [Id(11)] public int Labeled { get; set; }
    [Id(12)] public SelectorTrainResult? CurrentSelector { get; set; }
    [Id(13)] public ArtifactRef? CurrentLabeled { get; set; }
    [Id(14)] public int AwaitingRound { get; set; }
    [Id(15)] public int TransientFailures { get; set; }
    [Id(16)] public string? LastTransientError { get; set; }
    [Id(17)] public SelectorTrainResult? FinalSelector { get; set; }
    [Id(18)] public string[] Notes { get; set; } = [];
}

/// <summary>
/// Owns one experiment: validates the spec, runs setup, the selection rounds and the final training, persisting
/// after each step. Every step is idempotent (same seed and inputs, same artifacts), so a step re-run after a
/// crash changes nothing; a reminder re-activates the coordinator if its silo dies.
/// </summary>
[Reentrant]
public sealed class CoordinatorGrain(
    [PersistentState("experiment", GrainStorage.Name)] IPersistentState<CoordinatorState> state,
    ExperimentStore experiments,
    TorchWorker compute,
    ReplicaCache replicas,
    ComputeOptions computeOptions,
    ComputeSilos computeSilos,
    ILogger<CoordinatorGrain> logger) : Grain, ICoordinatorGrain, IRemindable
{
    private const string ResumeReminder = "resume";

    /// <summary>A step may fail this many times for transient reasons (a silo died, a call timed out) before the
    /// experiment fails.</summary>
    public const int MaxTransientFailures = 5;

    // The grain is reentrant so status queries answer while a step runs; these keep the writers orderly:
    // one gate for every state write (the loop, Cancel, ImportLabels), and flags claimed before any await.
    private Task _writing = Task.CompletedTask;
    private bool _starting;
    private bool _importing;
    private Task? _loop;
    private IGrainTimer? _retry;
    private string? _stage;
    private TrainingProgress? _training;
    private ScoringProgress? _scoring;
    private readonly Dictionary<int, string> _scoringHomes = [];
    private bool _deleting;
    // Cancels the running step: an experiment cancel or this silo stopping. Grain calls carry it, so the step's torch
    // work ends within a batch wherever it runs.
    private CancellationTokenSource? _step;
    // Set once this activation is being deactivated: its loop stops so that only the next activation runs steps.
    private bool _deactivating;
    // Keeps the activation alive while the loop runs, however long a step takes (the loop itself is not a grain call).
    private IGrainTimer? _keepAlive;

    private async Task WriteAsync()
    {
        // The activation's scheduler is single-threaded, so checking and replacing _writing cannot race.
        while (!_writing.IsCompleted)
        {
            try { await _writing; } catch (Exception) { /* that writer reports its own failure */ }
        }
        _writing = state.WriteStateAsync();
        await _writing;
    }

    private bool Running => state.State.State == ExperimentState.Running;

    private string Id => ArtifactName.ValidateId(this.GetPrimaryKeyString(), "experiment id");

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Running)
        {
            // After a restart (in-memory reminders in embedded mode) the reminder must exist again.
            await this.RegisterOrUpdateReminder(ResumeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), cancellationToken);
            EnsureLoop();
        }
    }

    /// <inheritdoc />
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // An activation can be deactivated while its silo lives (idle collection, migration, a management call). The
        // loop is not a grain call and Orleans still runs work scheduled on a deactivated activation, so without this
        // its step's compute would run to the end beside the next activation's run of the same step. Stop it here; the
        // state is the one persisted before the step, and the next activation (woken by a call or the minute reminder)
        // runs that step again.
        if (_loop is { IsCompleted: false } loop)
        {
            _deactivating = true;
            _step?.Cancel();
            logger.LogInformation("experiment {Experiment}: activation deactivating ({Reason}); stopping its step", this.GetPrimaryKeyString(), reason.Description);
            try { await loop.WaitAsync(cancellationToken); }
            catch (OperationCanceledException) { /* deactivation timed out; the step ends within a batch anyway */ }
        }
        _keepAlive?.Dispose();
        _retry?.Dispose();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<ExperimentStatus> Start(ExperimentSpec spec)
    {
        var id = Id;
        if (state.State.Spec is not null)
        {
            if (state.State.Spec == spec) return Status();
            throw new InvalidOperationException($"experiment '{id}' already exists with a different spec; choose another id");
        }
        if (_starting) throw new InvalidOperationException($"experiment '{id}' is being started by another request");
        if (_deleting) throw new InvalidOperationException($"experiment '{id}' is being deleted; start it again once the delete is done");
        _starting = true;
        try
        {
            return await StartAsync(id, spec);
        }
        finally
        {
            _starting = false;
        }
    }

    private async Task<ExperimentStatus> StartAsync(string id, ExperimentSpec spec)
    {
        var manifest = await experiments.ManifestAsync(spec.DatasetId);
        ExperimentSetup.Validate(spec, manifest, computeOptions.MaxSpecMemoryBytes);
        var notes = await InitialWeightsNotesAsync(spec, manifest);
        await experiments.WriteSpecAsync(id, spec);
        state.State.Notes = [.. notes];
        state.State.Spec = spec;
        state.State.State = ExperimentState.Running;
        state.State.Step = CoordinatorStep.Setup;
        state.State.StartedAt = DateTimeOffset.UtcNow;
        await this.RegisterOrUpdateReminder(ResumeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await WriteAsync();
        logger.LogInformation("experiment {Experiment} started: {Selector} selector on {Dataset}, {Arch}, budget {Budget} over {Rounds} rounds, metric {Metric}, seed {Seed}",
            id, spec.Selector.Name(), spec.DatasetId, spec.Arch.Value, spec.Budget, spec.Rounds, spec.Metric.Name(), spec.Seed);
        EnsureLoop();
        return Status();
    }

    /// <inheritdoc />
    public Task<ExperimentStatus> GetStatus() => Task.FromResult(Status());

    /// <inheritdoc />
    public async Task<ExperimentStatus> Cancel()
    {
        if (state.State.State != ExperimentState.Running)
        {
            throw new InvalidOperationException(state.State.Spec is null
                ? $"unknown experiment '{Id}'"
                : $"experiment '{Id}' is {state.State.State.ToString().ToLowerInvariant()}, not running");
        }
        state.State.State = ExperimentState.Cancelled;
        state.State.EndedAt = DateTimeOffset.UtcNow;
        await WriteAsync();
        // Stop the step already running (selector training, scoring, fusion) instead of letting it finish unseen.
        _step?.Cancel();
        logger.LogInformation("experiment {Experiment} cancelled after {Rounds} of {Planned} rounds, in {Step}", Id, state.State.Rounds.Count, state.State.Spec!.Rounds, state.State.Step);
        return Status();
    }

    /// <inheritdoc />
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.State.State == ExperimentState.Running)
        {
            EnsureLoop();
            return;
        }
        var reminder = await this.GetReminder(ResumeReminder);
        if (reminder is not null) await this.UnregisterReminder(reminder);
    }

    /// <inheritdoc />
    public async Task<SampleScore[]> GetSelection(int round)
    {
        var spec = state.State.Spec ?? throw new ArgumentException($"unknown experiment '{Id}'");
        if (round < 0 || round > spec.Rounds) throw new ArgumentException($"round must be in 0..{spec.Rounds}, got {round}");
        return await experiments.SelectionAsync(Id, round) ?? throw new ArgumentException($"experiment '{Id}' has not selected round {round} yet");
    }

    /// <inheritdoc />
    public async Task<ExperimentStatus> ImportLabels(int round, SampleLabel[] labels)
    {
        var s = state.State;
        var spec = s.Spec ?? throw new ArgumentException($"unknown experiment '{Id}'");
        if (spec.LabelSource != LabelSource.External) throw new InvalidOperationException($"experiment '{Id}' takes labels from the dataset, not from imports");
        if (s.State != ExperimentState.Running || s.Step != CoordinatorStep.AwaitLabels)
        {
            throw new InvalidOperationException($"experiment '{Id}' is not waiting for labels (state {s.State.ToString().ToLowerInvariant()}, step {s.Step})");
        }
        if (round != s.AwaitingRound) throw new ArgumentException($"experiment '{Id}' is waiting for the labels of round {s.AwaitingRound}, not round {round}");
        if (_importing) throw new InvalidOperationException($"labels for experiment '{Id}' are being imported by another request");
        _importing = true;
        try
        {
            return await ImportLabelsAsync(round, labels, s, spec);
        }
        finally
        {
            _importing = false;
        }
    }

    private async Task<ExperimentStatus> ImportLabelsAsync(int round, SampleLabel[] labels, CoordinatorState s, ExperimentSpec spec)
    {
        var selected = (await GetSelection(round)).Select(x => x.SampleId).ToHashSet();
        var manifest = await experiments.ManifestAsync(spec.DatasetId);
        var problems = new List<string>();
        var duplicate = labels.GroupBy(l => l.SampleId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) problems.Add($"sample {duplicate.Key} is labeled {duplicate.Count()} times");
        var extra = labels.Select(l => l.SampleId).Where(x => !selected.Contains(x)).Take(5).ToList();
        if (extra.Count > 0) problems.Add($"samples not selected in round {round}: {string.Join(", ", extra)}");
        var missing = selected.Except(labels.Select(l => l.SampleId)).Order().Take(5).ToList();
        if (missing.Count > 0) problems.Add($"{selected.Count - labels.Select(l => l.SampleId).Distinct().Count(x => selected.Contains(x))} selected samples have no label, e.g. {string.Join(", ", missing)}");
        var bad = labels.FirstOrDefault(l => l.Label < 0 || l.Label >= manifest.Classes);
        if (bad is not null) problems.Add($"sample {bad.SampleId} has label {bad.Label}, outside 0..{manifest.Classes - 1}");
        if (problems.Count > 0) throw new ArgumentException("labels refused: " + string.Join("; ", problems));
        await experiments.WriteLabelsAsync(Id, round, labels);
        if (!Running || s.Step != CoordinatorStep.AwaitLabels) throw new InvalidOperationException($"experiment '{Id}' stopped waiting for labels during the import");
        s.Step = RoundTable.Next(CoordinatorStep.AwaitLabels, s);
        await WriteAsync();
        EnsureLoop();
        return Status();
    }

    /// <inheritdoc />
    public async Task<Deletion> Delete()
    {
        var id = Id;
        var s = state.State;
        if (s.State == ExperimentState.Running)
        {
            throw new InvalidOperationException($"experiment '{id}' is running ({s.Step}, round {s.Round} of {s.Spec!.Rounds}); cancel it first: prunefuse experiment cancel {id}");
        }
        if (_starting || _importing || _deleting) throw new InvalidOperationException($"experiment '{id}' is busy with another request; try again");
        _deleting = true;
        try
        {
            // A cancelled step ends within a batch; let it finish writing before its folder goes.
            if (_loop is { IsCompleted: false } loop) await loop;
            var artifacts = await experiments.ExperimentArtifactsAsync(id);
            if (s.Spec is null && artifacts.Count == 0) throw new ArgumentException($"unknown experiment '{id}'");
            // The spec first: the catalog lists experiments by their spec, so a delete cut short is no longer listed,
            // and deleting again removes the rest.
            var spec = ArtifactLayout.Spec(id);
            foreach (var a in artifacts.OrderBy(a => a.Name == spec ? 0 : 1)) await experiments.DeleteAsync(a.Name);
            if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
            await state.ClearStateAsync();
            state.State = new CoordinatorState();
            logger.LogInformation("experiment {Experiment} deleted: {Artifacts} artifacts, {Bytes} bytes", id, artifacts.Count, artifacts.Sum(a => a.Length));
            DeactivateOnIdle();
            return new Deletion(id, artifacts.Count, artifacts.Sum(a => a.Length));
        }
        finally
        {
            _deleting = false;
        }
    }

    // Supplied weights are checked against the network before anything is stored: a wrong key or shape refuses the
    // start.
    private async Task<IReadOnlyList<string>> InitialWeightsNotesAsync(ExperimentSpec spec, Datasets.DatasetManifest manifest)
    {
        var notes = new List<string>();
        if (spec.Normalize == "imagenet")
        {
            var n = Learning.Data.ImageNormalization.ImageNet(manifest.Channels);
            notes.Add($"inputs normalised with ImageNet's statistics (mean {string.Join("/", n.Mean)}, std {string.Join("/", n.Std)}), not the dataset's");
        }
        if (spec.InitialWeights is null) return notes;
        var weights = await experiments.InitialWeightsAsync(spec.InitialWeights);
        try
        {
            notes.AddRange(await compute.Run(_ =>
            {
                var (theta0, applied) = ExperimentSetup.CreateTheta0(spec, manifest, weights);
                theta0.Dispose();
                return applied;
            }));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException("invalid experiment spec: " + e.Message, e);
        }
        return notes;
    }

    private ExperimentStatus Status()
    {
        var s = state.State;
        return new ExperimentStatus
        {
            ExperimentId = this.GetPrimaryKeyString(), State = s.State, Spec = s.Spec, Round = s.Round,
            Stage = _stage ?? (s.Step == CoordinatorStep.AwaitLabels ? $"waiting for labels of round {s.AwaitingRound}" : s.Step.ToString()),
            Labeled = s.Labeled, Rounds = [.. s.Rounds], Final = s.Final, Error = s.Error, SelectorParams = s.SelectorParams,
            SelectorMacs = s.SelectorMacs, StartedAt = s.StartedAt, EndedAt = s.EndedAt,
            // While the full network trains, the selector it fuses is the current one.
            FinalSelectorAccuracy = FinalSelectorOf(s)?.Accuracy, FinalSelectorSeconds = FinalSelectorOf(s)?.Seconds ?? 0,
            FinalSelectorEpochs = FinalSelectorOf(s)?.Epochs ?? 0, FinalSelectorStartedFrom = FinalSelectorOf(s)?.StartedFrom,
            Training = _training, Scoring = _scoring, Notes = s.Notes,
            AwaitingLabelsRound = s.State == ExperimentState.Running && s.Step == CoordinatorStep.AwaitLabels ? s.AwaitingRound : null,
            Warning = s.TransientFailures > 0 ? $"retrying after transient failure {s.TransientFailures}/{MaxTransientFailures}: {s.LastTransientError}" : null,
        };
    }

    private static SelectorTrainResult? FinalSelectorOf(CoordinatorState s) => s.FinalSelector ?? (s.Step == CoordinatorStep.Fuse ? s.CurrentSelector : null);

    private void EnsureLoop()
    {
        if (_loop is { IsCompleted: false } || _deactivating) return;
        _keepAlive ??= this.RegisterGrainTimer(() =>
        {
            if (_loop is { IsCompleted: false }) DelayDeactivation(TimeSpan.FromMinutes(30));
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { KeepAlive = true, Interleave = true });
        _step?.Dispose();
        _step = CancellationTokenSource.CreateLinkedTokenSource(compute.Stopping);
        _loop = RunLoopAsync(_step.Token);
    }

    private async Task RunLoopAsync(CancellationToken cancellationToken)
    {
        var id = Id;
        try
        {
            var context = new RoundContext(id, state.State, experiments, compute, replicas, GrainFactory, computeSilos, computeOptions, _scoringHomes, () => Running, text => _stage = text, p => _training = p, p => _scoring = p);
            while (Running && !_deactivating && state.State.Step is not (CoordinatorStep.Done or CoordinatorStep.AwaitLabels))
            {
                // Keep the activation while the loop runs; a reminder brings it back if the silo dies.
                DelayDeactivation(TimeSpan.FromMinutes(30));
                var s = state.State;
                s.Step = RoundTable.Resume(s.Step, s);
                var step = RoundTable.Runner(s.Step) ?? throw new InvalidOperationException($"no step runs {s.Step}");
                var started = Stopwatch.StartNew();
                var (finished, round) = (s.Step, s.Round);
                // Cancelled while the step ran: keep the cancellation and the state as it was.
                if (!await step.RunAsync(context, cancellationToken) || !Running) break;
                s.Step = RoundTable.Next(s.Step, s);
                // One structured line per step, so the silo's log stream follows every experiment.
                logger.LogInformation("experiment {Experiment}: {Step} (round {Round}) done in {Seconds:F1} s, {Labeled} labeled; next {Next}",
                    id, finished, round, started.Elapsed.TotalSeconds, s.Labeled, s.Step);
                if (s.Step == CoordinatorStep.AwaitLabels)
                {
                    logger.LogInformation("experiment {Experiment} waits for the labels of round {Round}", id, s.AwaitingRound);
                }
                s.TransientFailures = 0;
                if (s.Step == CoordinatorStep.Done)
                {
                    s.State = ExperimentState.Completed;
                    s.EndedAt = DateTimeOffset.UtcNow;
                    await experiments.WriteReportAsync(id, Status());
                    logger.LogInformation("experiment {Experiment} completed: final accuracy {Accuracy:P2} on {Labeled} labels",
                        id, s.Final?.Accuracy ?? 0, s.Labeled);
                }
                await WriteAsync();
            }
        }
        catch (Exception e) when (compute.Stopping.IsCancellationRequested && Running)
        {
            // This silo is stopping: the step was interrupted, not failed. Its state is the one persisted before the
            // step, so a restarted (or another) silo runs the step again; steps are idempotent.
            logger.LogInformation("experiment {Experiment}: {Step} (round {Round}) interrupted by silo shutdown ({Error}); it resumes when a silo wakes the experiment",
                id, state.State.Step, state.State.Round, e.GetType().Name);
        }
        catch (Exception e) when (_deactivating && Running)
        {
            logger.LogInformation("experiment {Experiment}: {Step} (round {Round}) stopped by deactivation ({Error}); the next activation runs it again",
                id, state.State.Step, state.State.Round, e.GetType().Name);
        }
        catch (Exception e) when (IsTransient(e) && Running && state.State.TransientFailures < MaxTransientFailures)
        {
            // A silo died or a call timed out: the step is idempotent, so it simply runs again after a short delay.
            state.State.TransientFailures++;
            state.State.LastTransientError = $"{state.State.Step} (round {state.State.Round}): {e.Message}";
            var delay = RetryDelay(state.State.TransientFailures);
            logger.LogWarning(e, "experiment {Experiment}: transient failure {Count}/{Max} in {Step}; retrying in {Delay} s",
                id, state.State.TransientFailures, MaxTransientFailures, state.State.Step, delay.TotalSeconds);
            await WriteAsync();
            // Retry soon from this activation; the minute reminder stays the backstop if this silo dies too.
            _retry?.Dispose();
            _retry = this.RegisterGrainTimer(() =>
            {
                if (Running) EnsureLoop();
                return Task.CompletedTask;
            }, delay, Timeout.InfiniteTimeSpan);
        }
        catch (Exception e) when (Running)
        {
            logger.LogError(e, "experiment {Experiment} failed in {Step}", id, state.State.Step);
            state.State.State = ExperimentState.Failed;
            state.State.Error = $"{state.State.Step} (round {state.State.Round}): {e.Message}";
            // A failed experiment is not retrying any more: its status must not keep the retry warning.
            state.State.TransientFailures = 0;
            state.State.LastTransientError = null;
            state.State.EndedAt = DateTimeOffset.UtcNow;
            await WriteAsync();
        }
        catch (Exception e)
        {
            // Cancelled meanwhile: the cancellation stands; the step's error is only logged.
            logger.LogInformation(e, "experiment {Experiment}: step {Step} ended after cancellation", id, state.State.Step);
        }
        finally
        {
            _stage = null;
            _training = null;
            _scoring = null;
        }
    }

    /// <summary>Seconds before the n-th consecutive retry: 2, 4, 8, 16, 30 (a lost silo is declared dead within
    /// seconds).</summary>
    private static TimeSpan RetryDelay(int failures) => TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Clamp(failures, 1, 5)));

    /// <summary>Failures that say nothing about the experiment itself: lost silos, timeouts, unavailable
    /// storage.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        TimeoutException or SiloUnavailableException or OrleansMessageRejectionException => true,
        // Not our own cancel (then the experiment is no longer running): a silo that ran the step is stopping.
        OperationCanceledException => true,
        Azure.RequestFailedException r => r.Status is 0 or 408 or 429 or >= 500,
        // A full disk does not heal by waiting seconds: fail at once, naming it.
        IOException io when StorageErrors.IsDiskFull(io) => false,
        IOException io when io is not FileNotFoundException and not PruneFuse.Learning.Data.DataFormatException => true,
        AggregateException a => a.InnerExceptions.All(IsTransient),
        _ => false,
    };
}
