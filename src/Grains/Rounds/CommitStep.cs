using System.Diagnostics;
using PruneFuse.Grains.Datasets;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Grains.Rounds;

/// <summary>
/// Merges the shards' stored top-k lists into the round's selection (for k-center: the second, global stage over the
/// shards' candidates), then commits it: the selection, the next labeled set and the round's record.
/// </summary>
public sealed class CommitStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly CommitStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (id, spec, s) = (c.ExperimentId, c.Spec, c.State);
        var sw = Stopwatch.StartNew();
        c.Stage("merging");
        var scores = await c.Experiments.ShardScoresAsync<ShardScores>(id, s.Round, cancellationToken);
        var results = scores.Results();
        var manifest = await c.Experiments.ManifestAsync(spec.DatasetId);
        var selection = await MergeAsync(c, manifest, results, cancellationToken);
        if (!c.Running) return false;
        var previous = await c.Experiments.LabeledAsync(s.CurrentLabeled!);
        var next = previous.Concat(selection.Select(x => x.SampleId)).ToArray();
        if (next.Distinct().Count() != next.Length) throw new InvalidOperationException("a selected sample was already labeled");
        var selectionRef = await c.Experiments.WriteSelectionAsync(id, s.Round, selection, cancellationToken);
        var labeledRef = await c.Experiments.WriteLabeledAsync(id, s.Round + 1, next, cancellationToken);
        if (!c.Running) return false;
        s.Rounds.Add(new RoundRecord
        {
            Round = s.Round, Labeled = next.Length, SelectorAccuracy = s.CurrentSelector?.Accuracy,
            SelectorTrainSeconds = s.CurrentSelector?.Seconds ?? 0, ScoringSeconds = scores.Seconds + sw.Elapsed.TotalSeconds,
            Scored = results.Sum(r => r.Scored), SelectionArtifact = selectionRef.Name,
            SelectorSilo = s.CurrentSelector?.Silo, ScoredOn = [.. results.Select(r => r.Silo).Distinct().Order()],
            SelectorEpochs = s.CurrentSelector?.Epochs ?? 0, SelectorStartedFrom = s.CurrentSelector?.StartedFrom,
            ScoringSilos = scores.Silos?.Silos ?? [], ScoringUnits = scores.Silos?.Units ?? 0,
        });
        s.CurrentLabeled = labeledRef;
        s.Labeled = next.Length;
        s.AwaitingRound = s.Round;
        s.Round++;
        return true;
    }

    private static async Task<List<SampleScore>> MergeAsync(RoundContext c, DatasetManifest manifest, UnitScoreResult[] results, CancellationToken cancellationToken)
    {
        var spec = c.Spec;
        var shardOf = results.SelectMany(r => r.TopK).ToDictionary(x => x.SampleId, x => x.Shard);
        if (spec.Metric == Metric.KCenter && spec.Selector != SelectorKind.Random)
        {
            // Second stage of distributed k-center: greedy over the union of the shards' k candidates, with the whole
            // labeled set as centers. This silo embeds the labeled samples itself, so shard messages stay O(k)
            // instead of carrying every labeled sample's features.
            var candidates = results.SelectMany(r => r.TopK.Zip(r.Features, (t, f) => new KCenterCandidate(t.SampleId, f))).ToList();
            var labeledIds = await c.Experiments.LabeledAsync(c.State.CurrentLabeled!);
            var labeledImages = await c.Experiments.LabeledImagesAsync(manifest, labeledIds);
            var selectorRef = c.State.CurrentSelector!.Checkpoint;
            var selectorBytes = await c.Experiments.CheckpointAsync(selectorRef.Name, cancellationToken);
            var picks = await c.Compute.Run(ct =>
            {
                using var scorer = c.Replicas.Scorer(selectorRef.Name, selectorRef.ETag, selectorBytes, manifest.Normalization, (manifest.Height, manifest.Width));
                return KCenterGreedy.Select(candidates, scorer.Centers(labeledImages, ct), spec.RoundSize);
            }, cancellationToken);
            return [.. picks.Select((p, i) => new SampleScore(p.SampleId, picks.Count - i, shardOf[p.SampleId]))];
        }
        var merged = TopKMerge.Merge([.. results.Select(r => (IReadOnlyList<ScoredSample>)r.TopK.Select(x => new ScoredSample(x.SampleId, x.Score, x.Predicted)).ToList())], spec.RoundSize);
        return [.. merged.Select(m => new SampleScore(m.SampleId, m.Score, shardOf[m.SampleId], m.Predicted))];
    }
}
