using PruneFuse.Grains.Storage;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Grains;

/// <summary>
/// Owns one pool shard (key "datasetId/index"). Scores its unlabeled samples with the round's selector, using
/// the silo's cached shard data and the silo's replica of the selector, and returns its local top-k.
/// </summary>
[Placement.PreferGpuSilo]
public sealed class PoolShardGrain(ExperimentStore experiments, TorchWorker compute, ShardCache shards, ReplicaCache replicas) : Grain, IPoolShardGrain
{
    private (string DatasetId, int Index) Key()
    {
        var key = this.GetPrimaryKeyString();
        var slash = key.LastIndexOf('/');
        if (slash <= 0 || !int.TryParse(key[(slash + 1)..], out var index) || index < 0)
        {
            throw new ArgumentException($"pool shard key '{key}' must be 'datasetId/index'");
        }
        return (key[..slash], index);
    }

    /// <inheritdoc />
    public async Task<ShardScoreResult> Score(ScoreRequest request, CancellationToken cancellationToken = default)
    {
        var (datasetId, index) = Key();
        var manifest = await experiments.ManifestAsync(datasetId);
        var entry = manifest.Shards.FirstOrDefault(s => s.Index == index)
            ?? throw new ArgumentException($"dataset '{datasetId}' has no shard {index} (it has {manifest.Shards.Length})");
        var allLabeled = await experiments.LabeledAsync(request.Labeled);
        var labeled = new HashSet<long>(allLabeled.Where(id => id >= entry.FirstId && id < entry.FirstId + entry.Count));
        var info = await experiments.ShardInfoAsync(entry.Artifact, cancellationToken);
        // A cached shard is scored from memory; a shard beyond the silo's cache budget is streamed batch by batch.
        // Either way a corrupted shard fails with a DataFormatException naming it (streamed: at its last batch).
        var cached = await shards.CachedShardAsync(info, cancellationToken);
        using var reader = cached is null ? await shards.OpenShardAsync(entry.Artifact, cancellationToken) : null;
        var header = reader?.Header;
        var (channels, height, width) = cached is not null ? (cached.Channels, cached.Height, cached.Width) : (header!.Channels, header.Height, header.Width);
        var metric = ExperimentSetup.ScoringMetric(request.Metric);
        var silo = compute.SiloName;
        if (metric == SelectionMetric.Random || request.Selector is null)
        {
            var r = PoolScorer.RandomTopK(cached?.Ids ?? reader!.Ids, labeled, request.Seed, request.K);
            return new ShardScoreResult { TopK = [.. r.TopK.Select(s => new SampleScore(s.SampleId, s.Score, index))], Scored = r.Scored, Seconds = r.Seconds, Silo = silo };
        }
        var selectorBytes = await experiments.CheckpointAsync(request.Selector.Name, cancellationToken);
        // k-center's local stage measures distance to the whole labeled set, not only this shard's part of it:
        // otherwise a shard picks samples that sit next to another shard's labeled samples.
        var labeledImages = metric == SelectionMetric.KCenter ? await experiments.LabeledImagesAsync(manifest, allLabeled) : null;
        return await compute.Run(ct =>
        {
            using var scorer = replicas.Scorer(request.Selector.Name, request.Selector.ETag, selectorBytes, manifest.Normalization);
            var batches = cached is not null ? PoolScorer.Batches(cached, 128) : reader!.ReadBatches(128);
            if (metric == SelectionMetric.KCenter)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var (candidates, _) = scorer.Features(batches, channels, height, width, labeled, ct);
                var picks = KCenterGreedy.Select(candidates, scorer.Centers(labeledImages!, ct), request.K);
                return new ShardScoreResult
                {
                    // Score = pick order (earlier = better), so the list is sorted best-first like the others.
                    TopK = [.. picks.Select((p, i) => new SampleScore(p.SampleId, picks.Count - i, index))],
                    Features = [.. picks.Select(p => p.Features)],
                    Scored = candidates.Count,
                    Seconds = sw.Elapsed.TotalSeconds,
                    Silo = silo,
                };
            }
            var result = scorer.TopK(batches, channels, height, width, metric, request.K, labeled, request.Seed, ct);
            return new ShardScoreResult { TopK = [.. result.TopK.Select(s => new SampleScore(s.SampleId, s.Score, index, s.Predicted))], Scored = result.Scored, Seconds = result.Seconds, Silo = silo };
        }, cancellationToken);
    }
}
