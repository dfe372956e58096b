using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Rounds;

/// <summary>Creates θ0, the channel plan's selector start and the initial random labeled set (round 0's selection).</summary>
public sealed class SetupStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly SetupStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (id, spec, s, store) = (c.ExperimentId, c.Spec, c.State, c.Experiments.Store);
        c.Stage("creating θ0 and channel plan");
        var manifest = await c.Experiments.ManifestAsync(spec.DatasetId);
        var networks = await c.Compute.Run(_ => ExperimentSetup.CreateNetworks(spec, manifest), cancellationToken);
        await store.PutBytesAsync(ArtifactLayout.Theta0(id), networks.Theta0, cancellationToken: cancellationToken);
        if (networks.SelectorInit is not null) await store.PutBytesAsync(ArtifactLayout.SelectorInit(id), networks.SelectorInit, cancellationToken: cancellationToken);
        if (!c.Running) return false;
        var initial = ExperimentSetup.InitialLabeled(spec, manifest);
        var labeled = await store.PutBytesAsync(ArtifactLayout.Labeled(id, 1), ExperimentSetup.LabeledToJson(initial), cancellationToken: cancellationToken);
        await store.PutBytesAsync(ArtifactLayout.InitialSelection(id),
            ExperimentSetup.SelectionToJson(initial.Select(x => new SampleScore(x, 0, manifest.Shards.First(sh => x >= sh.FirstId && x < sh.FirstId + sh.Count).Index))), cancellationToken: cancellationToken);
        s.SelectorParams = networks.SelectorParams;
        s.SelectorMacs = networks.SelectorMacs;
        s.CurrentLabeled = new ArtifactRef(labeled.Name, labeled.ETag);
        s.Labeled = initial.Length;
        s.Round = 1;
        s.AwaitingRound = 0;
        return true;
    }
}
