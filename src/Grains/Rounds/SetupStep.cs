using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Rounds;

/// <summary>Creates θ0, the channel plan's selector start and the initial random labeled set (round 0's
/// selection).</summary>
public sealed class SetupStep : IRoundStep
{
    /// <summary>The one instance (steps hold no state).</summary>
    public static readonly SetupStep Instance = new();

    /// <inheritdoc />
    public async Task<bool> RunAsync(RoundContext c, CancellationToken cancellationToken)
    {
        var (id, spec, s) = (c.ExperimentId, c.Spec, c.State);
        c.Stage("creating θ0 and channel plan");
        var manifest = await c.Experiments.ManifestAsync(spec.DatasetId);
        var weights = spec.InitialWeights is null ? null : await c.Experiments.InitialWeightsAsync(spec.InitialWeights, cancellationToken);
        var networks = await c.Compute.Run(_ => ExperimentSetup.CreateNetworks(spec, manifest, weights), cancellationToken);
        await c.Experiments.WriteCheckpointAsync(ArtifactLayout.Theta0(id), networks.Theta0, cancellationToken);
        if (networks.SelectorInit is not null) await c.Experiments.WriteCheckpointAsync(ArtifactLayout.SelectorInit(id), networks.SelectorInit, cancellationToken);
        if (!c.Running) return false;
        var initial = ExperimentSetup.InitialLabeled(spec, manifest);
        var labeled = await c.Experiments.WriteLabeledAsync(id, 1, initial, cancellationToken);
        await c.Experiments.WriteSelectionAsync(id, 0,
            initial.Select(x => new SampleScore(x, 0, manifest.Shards.First(sh => x >= sh.FirstId && x < sh.FirstId + sh.Count).Index)), cancellationToken);
        s.SelectorParams = networks.SelectorParams;
        s.SelectorMacs = networks.SelectorMacs;
        s.CurrentLabeled = labeled;
        s.Labeled = initial.Length;
        s.Round = 1;
        s.AwaitingRound = 0;
        return true;
    }
}
