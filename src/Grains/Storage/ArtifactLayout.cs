using System.Globalization;

namespace PruneFuse.Grains.Storage;

/// <summary>Where each artifact of a dataset or experiment lives in the store. One place, so names never
/// drift.</summary>
public static class ArtifactLayout
{
    private static string R(int round) => round.ToString("D3", CultureInfo.InvariantCulture);

    /// <summary>The dataset's manifest.</summary>
    public static string DatasetManifest(string datasetId) => $"datasets/{ArtifactName.ValidateId(datasetId, "dataset id")}/manifest.json";

    /// <summary>Pool shard <paramref name="index"/> of a dataset.</summary>
    public static string PoolShard(string datasetId, int index) => $"datasets/{datasetId}/shards/shard-{index.ToString("D4", CultureInfo.InvariantCulture)}.pfs";

    /// <summary>Source keys of pool shard <paramref name="index"/> (where each sample came from).</summary>
    public static string PoolShardKeys(string datasetId, int index)
        => $"datasets/{datasetId}/shards/shard-{index.ToString("D4", CultureInfo.InvariantCulture)}.keys.json";

    /// <summary>Marks pool shard <paramref name="index"/> of an import complete, with its pixel sums (written
    /// last).</summary>
    public static string PoolShardDone(string datasetId, int index)
        => $"datasets/{datasetId}/shards/shard-{index.ToString("D4", CultureInfo.InvariantCulture)}.done.json";

    /// <summary>The import under way for a dataset without a manifest yet, so a rerun of the same import
    /// resumes.</summary>
    public static string ImportInProgress(string datasetId) => $"datasets/{datasetId}/import.json";

    /// <summary>The dataset's test shard.</summary>
    public static string TestShard(string datasetId) => $"datasets/{datasetId}/test.pfs";

    /// <summary>Initial weights uploaded for <c>--init-weights</c>, by the file's SHA-256 (64 lower-case hex
    /// digits).</summary>
    public static string InitialWeights(string sha256) =>
        sha256 is { Length: 64 } && sha256.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f')
            ? $"weights/{sha256}.bin"
            : throw new ArgumentException($"initial weights are named by their SHA-256 (64 lower-case hex digits), got '{sha256}'");

    /// <summary>Folder of an experiment.</summary>
    public static string Experiment(string experimentId) => $"experiments/{ArtifactName.ValidateId(experimentId, "experiment id")}";

    /// <summary>The experiment's spec as JSON.</summary>
    public static string Spec(string experimentId) => $"{Experiment(experimentId)}/spec.json";

    /// <summary>Dense θ0 with the channel plan.</summary>
    public static string Theta0(string experimentId) => $"{Experiment(experimentId)}/checkpoints/theta0.pfc";

    /// <summary>The selector's untrained starting point (θ0 slice, proxy init, or θ0).</summary>
    public static string SelectorInit(string experimentId) => $"{Experiment(experimentId)}/checkpoints/selector-init.pfc";

    /// <summary>Selector trained in <paramref name="round"/>.</summary>
    public static string Selector(string experimentId, int round) => $"{Experiment(experimentId)}/checkpoints/selector-round-{R(round)}.pfc";

    /// <summary>Labeled sample ids before <paramref name="round"/>'s selection (round 1 = the initial set).</summary>
    public static string Labeled(string experimentId, int round) => $"{Experiment(experimentId)}/labeled/before-round-{R(round)}.json";

    /// <summary>Samples selected in <paramref name="round"/>.</summary>
    public static string Selection(string experimentId, int round) => $"{Experiment(experimentId)}/rounds/{R(round)}/selection.json";

    /// <summary>Every shard's local top-k of <paramref name="round"/>, written by scoring and read by the
    /// merge.</summary>
    public static string ShardScores(string experimentId, int round) => $"{Experiment(experimentId)}/rounds/{R(round)}/shard-scores.json";

    /// <summary>
    /// Folder of <paramref name="round"/>'s answered work units while the round is scored: a coordinator restarted
    /// mid-round scores only the units not in it. Removed once <see cref="ShardScores"/> is written.
    /// </summary>
    public static string UnitScoresFolder(string experimentId, int round) => $"{Experiment(experimentId)}/rounds/{R(round)}/units/";

    /// <summary>One answered work unit of <paramref name="round"/> (see <see cref="UnitScoresFolder"/>).</summary>
    public static string UnitScores(string experimentId, int round, int unit) => $"{UnitScoresFolder(experimentId, round)}unit-{unit:D6}.json";

    /// <summary>Externally imported labels of <paramref name="round"/>'s selection (round 0 = the initial
    /// set).</summary>
    public static string Labels(string experimentId, int round) => $"{Experiment(experimentId)}/labels/round-{R(round)}.json";

    /// <summary>The initial labeled set as a selection (round 0).</summary>
    public static string InitialSelection(string experimentId) => Selection(experimentId, 0);

    /// <summary>The final (fused) network.</summary>
    public static string Final(string experimentId) => $"{Experiment(experimentId)}/checkpoints/final.pfc";

    /// <summary>The result report.</summary>
    public static string Report(string experimentId) => $"{Experiment(experimentId)}/reports/result.json";
}
