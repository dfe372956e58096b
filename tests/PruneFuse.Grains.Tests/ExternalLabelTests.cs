using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Tests;

[Collection("cluster")]
public sealed class ExternalLabelTests(ClusterFixture fx)
{
    private async Task WaitForLabelsAsync(ICoordinatorGrain grain, int round)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            var st = await grain.GetStatus();
            if (st.Stage == $"waiting for labels of round {round}") return;
            Assert.True(st.State == ExperimentState.Running, $"experiment ended while waiting for round {round}: {st.State} {st.Error}");
            Assert.True(DateTime.UtcNow < deadline, $"still at '{st.Stage}'");
            await Task.Delay(200);
        }
    }

    /// <summary>The "annotator": true labels read straight from the shard files, as a human would supply them.</summary>
    private Dictionary<long, int> TrueLabels()
    {
        var labels = new Dictionary<long, int>();
        foreach (var f in Directory.GetFiles(Path.Combine(fx.DataRoot, "artifacts", "datasets", ClusterFixture.Dataset, "shards")))
        {
            var (_, set) = PoolShardFormat.ReadFile(f);
            for (var i = 0; i < set.Count; i++) labels[set.Ids[i]] = set.Labels[i];
        }
        return labels;
    }

    [Fact]
    public async Task External_labels_round_trip_and_the_experiment_continues()
    {
        var truth = TrueLabels();
        var spec = ClusterFixture.SmallSpec(seed: 9) with { Rounds = 2, FinalEpochs = 1, LabelSource = LabelSource.External };
        var grain = fx.Client.GetGrain<ICoordinatorGrain>("external-1");
        await grain.Start(spec);
        for (var round = 0; round <= spec.Rounds; round++)
        {
            await WaitForLabelsAsync(grain, round);
            var selection = await grain.GetSelection(round);
            Assert.Equal(round == 0 ? spec.InitialLabeled : spec.RoundSize, selection.Length);
            var labels = selection.Select(s => new SampleLabel(s.SampleId, truth[s.SampleId])).ToArray();

            // Bad imports are refused by name and change nothing.
            var wrongRound = await Assert.ThrowsAsync<ArgumentException>(() => grain.ImportLabels(round + 1, labels));
            Assert.Contains($"waiting for the labels of round {round}", wrongRound.Message);
            var missing = await Assert.ThrowsAsync<ArgumentException>(() => grain.ImportLabels(round, labels[1..]));
            Assert.Contains("have no label", missing.Message);
            var outOfRange = await Assert.ThrowsAsync<ArgumentException>(() => grain.ImportLabels(round, [labels[0] with { Label = 10 }, .. labels[1..]]));
            Assert.Contains("outside 0..9", outOfRange.Message);
            var extra = await Assert.ThrowsAsync<ArgumentException>(() => grain.ImportLabels(round, [.. labels, new SampleLabel(999_999, 1)]));
            Assert.Contains("not selected", extra.Message);
            var waiting = await grain.GetStatus();
            Assert.Equal($"waiting for labels of round {round}", waiting.Stage);
            Assert.Equal(round, waiting.AwaitingLabelsRound);

            await grain.ImportLabels(round, labels);
            Assert.NotEqual(round, (await grain.GetStatus()).AwaitingLabelsRound);
        }
        var done = await fx.WaitAsync("external-1");
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        Assert.Null(done.AwaitingLabelsRound);
        Assert.Equal(2, done.Rounds.Length);
        var store = new FileSystemArtifactStore(Path.Combine(fx.DataRoot, "artifacts"));
        for (var r = 0; r <= 2; r++) Assert.NotNull(await store.GetInfoAsync(ArtifactLayout.Labels("external-1", r)));
    }

    [Fact]
    public async Task Dataset_label_source_refuses_imports()
    {
        var grain = fx.Client.GetGrain<ICoordinatorGrain>("no-imports");
        await grain.Start(ClusterFixture.SmallSpec() with { Rounds = 1, FinalEpochs = 1 });
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => grain.ImportLabels(0, [new SampleLabel(1, 1)]));
        Assert.Contains("takes labels from the dataset", e.Message);
        await fx.WaitAsync("no-imports");
    }
}
