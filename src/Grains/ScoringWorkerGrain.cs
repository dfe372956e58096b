using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Grains;

/// <summary>
/// One silo's scoring worker (key = the silo's address; always placed there). Scores work units — slices of pool
/// shards — with the silo's cached shard data and its replica of the round's selector, at most
/// <see cref="ComputeOptions.Slots"/> at once, and returns each unit's local top-k.
/// </summary>
[Placement.SiloBoundPlacement]
public sealed class ScoringWorkerGrain(ExperimentStore experiments, TorchWorker compute, ShardCache shards, ReplicaCache replicas, ComputeOptions options)
    : Grain, IScoringWorkerGrain, IDisposable
{
    private const int BatchSize = 128;
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Slots));
    private (string Key, Task<RoundInputs> Inputs)? _round;

    /// <summary>What every unit of one round needs, read once per silo and round instead of once per unit.</summary>
    private sealed record RoundInputs(DatasetManifest Manifest, long[] AllLabeled, HashSet<long> Labeled, byte[]? SelectorBytes, ImageSet? LabeledImages);

    /// <inheritdoc />
    public async Task<UnitScoreResult> Score(ScoreRequest request, WorkUnit unit, CancellationToken cancellationToken = default)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            return await ScoreUnit(request, unit, cancellationToken);
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task<UnitScoreResult> ScoreUnit(ScoreRequest request, WorkUnit unit, CancellationToken cancellationToken)
    {
        var inputs = await InputsAsync(request, cancellationToken);
        var manifest = inputs.Manifest;
        var entry = manifest.Shards.FirstOrDefault(s => s.Index == unit.Shard)
            ?? throw new ArgumentException($"dataset '{request.DatasetId}' has no shard {unit.Shard} (it has {manifest.Shards.Length})");
        if (unit.First < 0 || unit.Count < 0 || unit.First + (long)unit.Count > entry.Count)
        {
            throw new ArgumentException($"work unit {unit.Index} asks for samples {unit.First}..{unit.First + (long)unit.Count} of shard {unit.Shard}, which has {entry.Count}");
        }
        var info = await experiments.ShardInfoAsync(entry.Artifact, cancellationToken);
        // A cached shard is scored from memory; a shard beyond the silo's cache budget is streamed batch by batch
        // (whole, so its checksum is still verified; only the unit's samples are scored). Either way a corrupted
        // shard fails with a DataFormatException naming it.
        var cached = await shards.CachedShardAsync(info, cancellationToken);
        using var reader = cached is null ? await shards.OpenShardAsync(entry.Artifact, cancellationToken) : null;
        var header = reader?.Header;
        var (channels, height, width) = cached is not null ? (cached.Channels, cached.Height, cached.Width) : (header!.Channels, header.Height, header.Width);
        var metric = ExperimentSetup.ScoringMetric(request.Metric);
        var silo = compute.SiloName;
        UnitScoreResult Answer(IEnumerable<SampleScore> topK, long scored, double seconds, float[][]? features = null) => new()
        {
            TopK = [.. topK], Scored = scored, Seconds = seconds, Silo = silo, Unit = unit, Features = features ?? [],
        };
        if (metric == SelectionMetric.Random || request.Selector is null)
        {
            var ids = (cached?.Ids ?? reader!.Ids)[unit.First..(unit.First + unit.Count)];
            var r = PoolScorer.RandomTopK(ids, inputs.Labeled, request.Seed, request.K);
            return Answer(r.TopK.Select(s => new SampleScore(s.SampleId, s.Score, unit.Shard)), r.Scored, r.Seconds);
        }
        IEnumerable<ShardBatch> Batches() => cached is not null
            ? PoolScorer.Batches(cached, BatchSize, unit.First, unit.Count)
            : PoolScorer.Slice(reader!.ReadBatches(BatchSize), unit.First, unit.Count);
        var selector = request.Selector;
        if (metric == SelectionMetric.KCenter)
        {
            return await compute.Run(ct =>
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                using var scorer = replicas.Scorer(selector.Name, selector.ETag, inputs.SelectorBytes!, manifest.Normalization, (manifest.Height, manifest.Width));
                var (candidates, _) = scorer.Features(Batches(), channels, height, width, inputs.Labeled, ct);
                var picks = KCenterGreedy.Select(candidates, scorer.Centers(inputs.LabeledImages!, ct), request.K);
                // Score = pick order (earlier = better), so the list is sorted best-first like the others.
                return Answer(picks.Select((p, i) => new SampleScore(p.SampleId, picks.Count - i, unit.Shard)), candidates.Count,
                    sw.Elapsed.TotalSeconds, [.. picks.Select(p => p.Features)]);
            }, cancellationToken);
        }
        PoolScoreResult Run(PoolScorer scorer, CancellationToken ct) =>
            scorer.TopK(Batches(), channels, height, width, metric, request.K, inputs.Labeled, request.Seed, ct);
        PoolScoreResult result;
        if (options.ScoringEngine == ScoringEngine.Torch)
        {
            result = await compute.Run(ct =>
            {
                using var scorer = replicas.Scorer(selector.Name, selector.ETag, inputs.SelectorBytes!, manifest.Normalization, (manifest.Height, manifest.Width));
                return Run(scorer, ct);
            }, cancellationToken);
        }
        else
        {
            // The ONNX session is built (or found) on the compute thread, which owns libtorch; the scoring itself runs
            // on its own threads so that several slots of this silo score at once.
            var scorer = await compute.Run(_ => replicas.Scorer(selector.Name, selector.ETag, inputs.SelectorBytes!, manifest.Normalization, (manifest.Height, manifest.Width)), cancellationToken);
            using (scorer)
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, compute.Stopping);
                result = await Task.Factory.StartNew(() => Run(scorer, linked.Token), linked.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            }
        }
        return Answer(result.TopK.Select(s => new SampleScore(s.SampleId, s.Score, unit.Shard, s.Predicted)), result.Scored, result.Seconds);
    }

    /// <inheritdoc />
    public void Dispose() => _slots.Dispose();

    private Task<RoundInputs> InputsAsync(ScoreRequest request, CancellationToken cancellationToken)
    {
        var key = $"{request.ExperimentId}/{request.Round}/{request.DatasetId}/{request.Labeled.Name}@{request.Labeled.ETag}/{request.Selector?.Name}@{request.Selector?.ETag}";
        // A failed read is not kept: the next unit reads again.
        if (_round is { } r && r.Key == key && !r.Inputs.IsFaulted && !r.Inputs.IsCanceled) return r.Inputs;
        var task = ReadInputsAsync(request, cancellationToken);
        _round = (key, task);
        return task;
    }

    private async Task<RoundInputs> ReadInputsAsync(ScoreRequest request, CancellationToken cancellationToken)
    {
        var manifest = await experiments.ManifestAsync(request.DatasetId);
        var allLabeled = await experiments.LabeledAsync(request.Labeled);
        var selectorBytes = request.Selector is null || request.Metric == Metric.Random ? null : await experiments.CheckpointAsync(request.Selector.Name, cancellationToken);
        // k-center's local stage measures distance to the whole labeled set, not only this shard's part of it:
        // otherwise a shard picks samples that sit next to another shard's labeled samples.
        var labeledImages = request.Metric == Metric.KCenter && selectorBytes is not null ? await experiments.LabeledImagesAsync(manifest, allLabeled) : null;
        return new RoundInputs(manifest, allLabeled, [.. allLabeled], selectorBytes, labeledImages);
    }
}
