using System.Diagnostics;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Placement;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// Scores the pool with the round's selector, spread over every eligible compute silo in work units
/// (<see cref="WorkUnitQueue"/>): each silo gets as many units at once as it has compute slots and a new one whenever
/// one finishes, so faster silos take more, a silo that joins mid-round takes work, and a silo that leaves loses only
/// its units in flight (they go to others). Stores the units' top-k lists (<see cref="ArtifactLayout.ShardScores"/>)
/// for the merge; a crash after this step does not score again.
/// </summary>
public sealed class ScoreStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly ScoreStep Instance = new();

    /// <summary>How often the step looks for silos that joined (or came back) while units are left.</summary>
    public static readonly TimeSpan MembershipPoll = TimeSpan.FromMilliseconds(500);

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (id, spec, s) = (c.ExperimentId, c.Spec, c.State);
        var manifest = await c.Experiments.ManifestAsync(spec.DatasetId);
        var request = new ScoreRequest
        {
            ExperimentId = id, Round = s.Round, Selector = s.CurrentSelector?.Checkpoint, Labeled = s.CurrentLabeled!,
            Metric = spec.Metric, K = spec.RoundSize, Seed = ExperimentSetup.SeedFor(spec, "random-metric"), DatasetId = spec.DatasetId,
        };
        var units = WorkUnitQueue.Plan(manifest.Shards, c.Options.UnitSamples, wholeShards: spec.Metric == Metric.KCenter && spec.Selector != SelectorKind.Random);
        // Units answered before a restart of this step (its coordinator's silo died, say) count if they answered
        // this very request: same selector and labeled-set versions, metric, k and seed.
        var stamp = StampOf(request);
        var stored = (await c.Experiments.UnitScoresAsync<StoredUnit>(id, s.Round, cancellationToken))
            .Where(u => u.Stamp == stamp && u.Answer.Unit is { } w && w.Index < units.Length && units[w.Index] == w).ToList();
        var round = new UnitRound(c, request, units, manifest.Shards.Length, stamp, stored);
        UnitScoreResult[] results;
        try
        {
            results = await round.RunAsync(cancellationToken);
        }
        finally
        {
            c.Scoring(null);
        }
        if (!c.Running) return false;
        await c.Experiments.WriteShardScoresAsync(id, s.Round, ShardScores.From(results, round.Seconds, round.Progress(), round.Times), cancellationToken);
        await c.Experiments.DeleteUnitScoresAsync(id, s.Round, cancellationToken);
        foreach (var g in results.GroupBy(r => r.Unit!.Shard))
        {
            c.ScoringHomes[g.Key] = g.GroupBy(r => r.Silo).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).First().Key;
        }
        return true;
    }

    /// <summary>What a scoring request's answers depend on; stored with each answered unit.</summary>
    private static string StampOf(ScoreRequest r) =>
        $"{r.Selector?.Name}@{r.Selector?.ETag}|{r.Labeled.Name}@{r.Labeled.ETag}|{r.Metric.Name()}|{r.K}|{r.Seed}";

    /// <summary>One answered work unit as stored while the round is scored.</summary>
    /// <param name="Stamp">The request it answered (selector and labeled-set versions, metric, k, seed).</param>
    /// <param name="Answer">The answer, with its unit, silo and times.</param>
    public sealed record StoredUnit(string Stamp, ShardScores.Shard Answer);

    /// <summary>
    /// One round's dispatch. Runs on the coordinator's single-threaded scheduler, so its fields need no locks.
    /// </summary>
    private sealed class UnitRound
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly RoundContext c;
        private readonly ScoreRequest request;
        private readonly WorkUnit[] units;
        private readonly int shards;
        private readonly string _stamp;
        private readonly int _resumed;
        private readonly WorkUnitQueue _queue;
        private readonly UnitScoreResult?[] _results;
        private readonly (double Started, double Ended)[] _times;

        public UnitRound(RoundContext context, ScoreRequest request, WorkUnit[] units, int shards, string stamp, IReadOnlyList<StoredUnit> stored)
        {
            (c, this.request, this.units, this.shards, _stamp) = (context, request, units, shards, stamp);
            _results = new UnitScoreResult?[units.Length];
            _times = new (double, double)[units.Length];
            foreach (var u in stored)
            {
                var i = u.Answer.Unit!.Index;
                if (_results[i] is not null) continue;
                _results[i] = u.Answer.Result();
                _times[i] = (u.Answer.Started, u.Answer.Ended);
                _resumed++;
            }
            _done = _resumed;
            _queue = new WorkUnitQueue(units.Where(u => _results[u.Index] is null), c.ScoringHomes);
        }
        private readonly Dictionary<string, SiloFigures> _silos = new(StringComparer.Ordinal);
        private readonly HashSet<string> _left = new(StringComparer.Ordinal);
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _done;
        private Exception? _failure;
        private CancellationTokenSource? _stop;
        private CancellationToken _token;
        private bool _finished;

        private sealed class SiloFigures
        {
            public int Loops, InFlight, Units, Lost;
            public long Scored;
            public double? FirstStart;
            public double LastEnd;
        }

        public double Seconds => _clock.Elapsed.TotalSeconds;

        /// <summary>When each unit's answered call started and ended, in seconds since scoring started (coordinator's clock).</summary>
        public IReadOnlyList<(double Started, double Ended)> Times => _times;

        public async Task<UnitScoreResult[]> RunAsync(CancellationToken cancellationToken)
        {
            // A failed unit stops the units still in flight elsewhere: the round fails as a whole.
            using var stop = _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _token = stop.Token;
            Report();
            try
            {
                while (_done < units.Length && _failure is null && !cancellationToken.IsCancellationRequested && c.Running)
                {
                    StartLoops();
                    var changed = _changed.Task;
                    await Task.WhenAny(changed, Task.Delay(MembershipPoll, CancellationToken.None));
                }
            }
            finally
            {
                _finished = true;
                if (_done < units.Length) await stop.CancelAsync();
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (_failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
            return _done < units.Length ? [] : [.. _results.Select(r => r!)];
        }

        /// <summary>Gives every eligible silo as many loops as it has slots, while units are left.</summary>
        private void StartLoops()
        {
            if (_queue.Pending == 0) return;
            var eligible = c.Silos.Eligible().Where(x => !_left.Contains(x.Silo)).ToList();
            if (eligible.Count == 0 && _left.Count > 0)
            {
                // Every eligible silo failed a unit this round, yet some are still members: try them again.
                _left.Clear();
                eligible = [.. c.Silos.Eligible()];
            }
            _queue.AssignHomes(eligible);
            foreach (var (silo, slots) in eligible)
            {
                var f = Figures(silo);
                while (f.Loops < slots && _queue.Pending > 0)
                {
                    f.Loops++;
                    _ = LoopAsync(silo, f);
                }
            }
        }

        private SiloFigures Figures(string silo) => _silos.TryGetValue(silo, out var f) ? f : _silos[silo] = new SiloFigures();

        private async Task LoopAsync(string silo, SiloFigures f)
        {
            try
            {
                var worker = c.Grains.GetGrain<IScoringWorkerGrain>(silo);
                while (_failure is null && !_token.IsCancellationRequested && !_left.Contains(silo) && _queue.Take(silo) is { } unit)
                {
                    f.InFlight++;
                    var started = Seconds;
                    f.FirstStart ??= started;
                    try
                    {
                        var r = await worker.Score(request, unit, _token);
                        var ended = Seconds;
                        await c.Experiments.WriteUnitScoresAsync(c.ExperimentId, request.Round, unit.Index,
                            new StoredUnit(_stamp, ShardScores.Shard.Of(r, started, ended)), _token);
                        _results[unit.Index] = r;
                        _times[unit.Index] = (started, ended);
                        _done++;
                        f.Units++;
                        f.Scored += r.Scored;
                        f.LastEnd = Seconds;
                    }
                    catch (Exception e) when (!_token.IsCancellationRequested && SiloLost(e, silo))
                    {
                        // The silo left (or is leaving): its unit goes back for the others, and it takes no more this round.
                        _queue.Return(unit);
                        f.Lost++;
                        _left.Add(silo);
                    }
                    finally
                    {
                        f.InFlight--;
                        Report();
                    }
                }
            }
            catch (Exception e) when (!_token.IsCancellationRequested)
            {
                _failure ??= e;
                if (!_finished) await _stop!.CancelAsync();
            }
            catch (OperationCanceledException)
            {
                // The step was cancelled: RunAsync reports it.
            }
            finally
            {
                f.Loops--;
                _changed.TrySetResult();
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        // A silo that went away loses its unit to the others; a real error (a corrupted shard) fails the round.
        private bool SiloLost(Exception e, string silo) => c.Silos.Lost(e, silo);

        private void Report()
        {
            if (_finished) return;
            var progress = Progress();
            c.Scoring(progress);
            c.Stage($"scoring pool ({progress.UnitsDone}/{units.Length} units on {progress.Silos.Count(x => x.Units + x.InFlight > 0)} silos, {progress.Scored / Math.Max(Seconds, 1e-3):N0} samples/s)");
        }

        /// <summary>The figures so far, per silo.</summary>
        public ScoringProgress Progress() => new()
        {
            Round = request.Round, Shards = shards, Units = units.Length, Seconds = Seconds, Resumed = _resumed,
            Silos = [.. _silos.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => new SiloScoring(
                x.Key, x.Value.Units, x.Value.Scored, x.Value.FirstStart is { } first ? Math.Max(0, (x.Value.InFlight > 0 ? Seconds : x.Value.LastEnd) - first) : 0,
                x.Value.InFlight, x.Value.Lost))],
        };
    }
}

/// <summary>A round's stored work-unit answers: what scoring hands to the merge.</summary>
/// <param name="Seconds">Wall-clock seconds the scoring took.</param>
/// <param name="Shards">One entry per work unit, in unit order (one per shard for rounds stored before work units).</param>
/// <param name="Silos">Each silo's share of the scoring (null for rounds stored before work units).</param>
public sealed record ShardScores(double Seconds, ShardScores.Shard[] Shards, ScoringProgress? Silos = null)
{
    /// <summary>
    /// One unit's answer; k-center features as float32 little-endian bytes, <paramref name="Dimensions"/> per sample.
    /// <paramref name="Unit"/> says which slice it scored, <paramref name="Started"/> and <paramref name="Ended"/> when
    /// the coordinator sent it and got the answer (seconds since scoring started).
    /// </summary>
    public sealed record Shard(SampleScore[] TopK, long Scored, double Seconds, string Silo, int Dimensions, byte[] Features,
        WorkUnit? Unit = null, double Started = 0, double Ended = 0)
    {
        /// <summary>The stored form of one unit's answer.</summary>
        public static Shard Of(UnitScoreResult r, double started = 0, double ended = 0)
        {
            var d = r.Features.Length > 0 ? r.Features[0].Length : 0;
            var bytes = new byte[r.Features.Length * d * sizeof(float)];
            for (var j = 0; j < r.Features.Length; j++) Buffer.BlockCopy(r.Features[j], 0, bytes, j * d * sizeof(float), d * sizeof(float));
            return new Shard(r.TopK, r.Scored, r.Seconds, r.Silo, d, bytes, r.Unit, started, ended);
        }

        /// <summary>The unit's answer as the grain gave it.</summary>
        public UnitScoreResult Result() => new()
        {
            TopK = TopK, Scored = Scored, Seconds = Seconds, Silo = Silo, Unit = Unit,
            Features = [.. Enumerable.Range(0, Dimensions == 0 ? 0 : Features.Length / (Dimensions * sizeof(float))).Select(i =>
            {
                var v = new float[Dimensions];
                Buffer.BlockCopy(Features, i * Dimensions * sizeof(float), v, 0, Dimensions * sizeof(float));
                return v;
            })],
        };
    }

    /// <summary>The stored form of the units' answers.</summary>
    public static ShardScores From(IReadOnlyList<UnitScoreResult> results, double seconds, ScoringProgress? silos = null,
        IReadOnlyList<(double Started, double Ended)>? times = null) =>
        new(seconds, [.. results.Select((r, i) => times is null ? Shard.Of(r) : Shard.Of(r, times[i].Started, times[i].Ended))], silos);

    /// <summary>The units' answers as the grains gave them.</summary>
    public UnitScoreResult[] Results() => [.. Shards.Select(sh => sh.Result())];
}
