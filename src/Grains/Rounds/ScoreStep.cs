using System.Diagnostics;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// Scores every pool shard with the round's selector, all shards at once, and stores their local top-k lists
/// (<see cref="ArtifactLayout.ShardScores"/>) for the merge. A crash after this step does not score again.
/// </summary>
public sealed class ScoreStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly ScoreStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (id, spec, s) = (c.ExperimentId, c.Spec, c.State);
        var sw = Stopwatch.StartNew();
        var manifest = await c.Experiments.ManifestAsync(spec.DatasetId);
        var request = new ScoreRequest
        {
            ExperimentId = id, Round = s.Round, Selector = s.CurrentSelector?.Checkpoint, Labeled = s.CurrentLabeled!,
            Metric = spec.Metric, K = spec.RoundSize, Seed = ExperimentSetup.SeedFor(spec, "random-metric"),
        };
        var done = new List<ShardScoreResult>();
        c.Stage($"scoring pool (0/{manifest.Shards.Length} shards)");
        c.Scoring(Progress(s.Round, manifest.Shards.Length, sw.Elapsed.TotalSeconds, done));
        async Task<ShardScoreResult> ScoreShard(ShardEntry sh)
        {
            var r = await c.Grains.GetGrain<IPoolShardGrain>($"{spec.DatasetId}/{sh.Index}").Score(request, cancellationToken);
            // Runs on the coordinator's scheduler: no concurrent writers of this list.
            done.Add(r);
            var progress = Progress(s.Round, manifest.Shards.Length, sw.Elapsed.TotalSeconds, done);
            c.Scoring(progress);
            c.Stage($"scoring pool ({done.Count}/{manifest.Shards.Length} shards, {progress.Scored / Math.Max(sw.Elapsed.TotalSeconds, 1e-3):N0} samples/s)");
            return r;
        }
        ShardScoreResult[] results;
        try
        {
            results = await Task.WhenAll(manifest.Shards.Select(ScoreShard));
        }
        finally
        {
            c.Scoring(null);
        }
        if (!c.Running) return false;
        await c.Experiments.WriteShardScoresAsync(id, s.Round, ShardScores.From(results, sw.Elapsed.TotalSeconds), cancellationToken);
        return true;
    }

    /// <summary>The shards' answers so far, grouped by the silo that scored them.</summary>
    public static ScoringProgress Progress(int round, int shards, double seconds, IEnumerable<ShardScoreResult> answered) => new()
    {
        Round = round, Shards = shards, Seconds = seconds,
        Silos = [.. answered.GroupBy(r => r.Silo).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new SiloScoring(g.Key, g.Count(), g.Sum(r => r.Scored), g.Sum(r => r.Seconds)))],
    };
}

/// <summary>A round's stored shard answers: what scoring hands to the merge.</summary>
/// <param name="Seconds">Wall-clock seconds the scoring took.</param>
/// <param name="Shards">One entry per shard.</param>
public sealed record ShardScores(double Seconds, ShardScores.Shard[] Shards)
{
    /// <summary>One shard's answer; k-center features as float32 little-endian bytes, <paramref name="Dimensions"/> per sample.</summary>
    public sealed record Shard(SampleScore[] TopK, long Scored, double Seconds, string Silo, int Dimensions, byte[] Features);

    /// <summary>The stored form of the shards' answers.</summary>
    public static ShardScores From(IReadOnlyList<ShardScoreResult> results, double seconds) => new(seconds, [.. results.Select(r =>
    {
        var d = r.Features.Length > 0 ? r.Features[0].Length : 0;
        var bytes = new byte[r.Features.Length * d * sizeof(float)];
        for (var i = 0; i < r.Features.Length; i++) Buffer.BlockCopy(r.Features[i], 0, bytes, i * d * sizeof(float), d * sizeof(float));
        return new Shard(r.TopK, r.Scored, r.Seconds, r.Silo, d, bytes);
    })]);

    /// <summary>The shards' answers as the grains gave them.</summary>
    public ShardScoreResult[] Results() => [.. Shards.Select(sh => new ShardScoreResult
    {
        TopK = sh.TopK, Scored = sh.Scored, Seconds = sh.Seconds, Silo = sh.Silo,
        Features = [.. Enumerable.Range(0, sh.Dimensions == 0 ? 0 : sh.Features.Length / (sh.Dimensions * sizeof(float))).Select(i =>
        {
            var v = new float[sh.Dimensions];
            Buffer.BlockCopy(sh.Features, i * sh.Dimensions * sizeof(float), v, 0, sh.Dimensions * sizeof(float));
            return v;
        })],
    })];
}
