namespace PruneFuse.Grains.Interfaces;

/// <summary>A dataset in the artifact store: manifest, pool shards and test shard.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.DatasetInfo")]
public sealed record DatasetInfo
{
    /// <summary>Dataset id.</summary>
    [Id(0)] public string DatasetId { get; init; } = "";

    /// <summary>Pool samples across all shards.</summary>
    [Id(1)] public int PoolSize { get; init; }

    /// <summary>Test samples.</summary>
    [Id(2)] public int TestSize { get; init; }

    /// <summary>Number of pool shards.</summary>
    [Id(3)] public int Shards { get; init; }

    /// <summary>Image channels, height, width.</summary>
    [Id(4)] public int[] Shape { get; init; } = [];

    /// <summary>Classes.</summary>
    [Id(5)] public int Classes { get; init; }

    /// <summary>Class names by label index (empty when the source names none).</summary>
    [Id(6)] public string[] ClassNames { get; init; } = [];

    /// <summary>False for an unlabeled pool (image folder without class sub-folders): experiments need external labels.</summary>
    [Id(7)] public bool PoolLabeled { get; init; } = true;

    /// <summary>Where the dataset came from: <c>fashion-mnist</c> or <c>images</c>.</summary>
    [Id(8)] public string Source { get; init; } = "";
}

/// <summary>An image-folder import: folders on the silo's machine, the stored image size, and the test split.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ImageImportRequest")]
public sealed record ImageImportRequest
{
    /// <summary>Pool folder: one sub-folder per class (labeled) or images only (unlabeled pool).</summary>
    [Id(0)] public string PoolDirectory { get; init; } = "";

    /// <summary>Labeled test folder (one sub-folder per class); empty = hold out <see cref="TestFraction"/> of a labeled pool.</summary>
    [Id(1)] public string TestDirectory { get; init; } = "";

    /// <summary>Fraction of a labeled pool held out as the test set when no test folder is given.</summary>
    [Id(2)] public double TestFraction { get; init; } = 0.2;

    /// <summary>Stored channels: 1 (grayscale) or 3 (RGB).</summary>
    [Id(3)] public int Channels { get; init; } = 3;

    /// <summary>Stored height.</summary>
    [Id(4)] public int Height { get; init; } = 32;

    /// <summary>Stored width.</summary>
    [Id(5)] public int Width { get; init; } = 32;

    /// <summary>Pool shards.</summary>
    [Id(6)] public int Shards { get; init; } = 4;

    /// <summary>Leave unreadable images out (each reported by path) instead of refusing the import.</summary>
    [Id(7)] public bool SkipBad { get; init; }

    /// <summary>Seed of the held-out test split.</summary>
    [Id(8)] public long Seed { get; init; }
}

/// <summary>The outcome of an image-folder import.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ImageImportResult")]
public sealed record ImageImportResult
{
    /// <summary>The imported dataset.</summary>
    [Id(0)] public DatasetInfo Dataset { get; init; } = new();

    /// <summary>Unreadable images left out (with --skip-bad), as "path: reason".</summary>
    [Id(1)] public string[] Skipped { get; init; } = [];

    /// <summary>Files ignored because they are not PNG or JPEG.</summary>
    [Id(2)] public int Ignored { get; init; }

    /// <summary>True when the dataset already existed with this very import (nothing was written).</summary>
    [Id(3)] public bool AlreadyImported { get; init; }
}

/// <summary>Progress of a running import.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ImportProgress")]
public sealed record ImportProgress([property: Id(0)] string Stage, [property: Id(1)] long Done, [property: Id(2)] long Total);

/// <summary>Raw pixels of some pool samples, for previews and labeling tools.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SampleImages")]
public sealed record SampleImages
{
    /// <summary>Sample ids, in the order asked.</summary>
    [Id(0)] public long[] SampleIds { get; init; } = [];

    /// <summary>Image channels, height, width.</summary>
    [Id(1)] public int[] Shape { get; init; } = [];

    /// <summary>uint8 pixels [count, C, H, W].</summary>
    [Id(2)] public byte[] Pixels { get; init; } = [];
}

/// <summary>Imports and describes one dataset (key = dataset id).</summary>
[Alias("prunefuse.IDatasetGrain")]
public interface IDatasetGrain : IGrainWithStringKey
{
    /// <summary>Imports Fashion-MNIST IDX files from a folder on the silo into <paramref name="shards"/> pool shards and a test shard.</summary>
    [ResponseTimeout("00:30:00")]
    Task<DatasetInfo> ImportFashionMnist(string sourceDirectory, int shards, int poolLimit);

    /// <summary>
    /// Imports an image-folder dataset from folders on the silo's machine. Unreadable images refuse the import,
    /// listing their paths, unless <see cref="ImageImportRequest.SkipBad"/>. Same import again: a no-op.
    /// </summary>
    [ResponseTimeout("02:00:00")]
    Task<ImageImportResult> ImportImages(ImageImportRequest request);

    /// <summary>Progress of the import running on this grain (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    Task<ImportProgress> GetImportProgress();

    /// <summary>The dataset's description; throws if it was never imported.</summary>
    Task<DatasetInfo> Describe();

    /// <summary>Pixels of at most <c>10,000</c> pool samples, in the order asked; unknown ids are refused by name.</summary>
    [ResponseTimeout("00:05:00")]
    Task<SampleImages> GetSamples(long[] sampleIds);
}

/// <summary>Owns an experiment: validates its spec, runs the rounds, persists every step (key = experiment id).</summary>
[Alias("prunefuse.ICoordinatorGrain")]
public interface ICoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Validates and starts the experiment; returns at once. Starting the same spec again is a no-op; a different spec for an existing id is refused.</summary>
    Task<ExperimentStatus> Start(ExperimentSpec spec);

    /// <summary>Current status (None for an unknown id).</summary>
    Task<ExperimentStatus> GetStatus();

    /// <summary>Cancels a running experiment.</summary>
    Task<ExperimentStatus> Cancel();

    /// <summary>The samples selected in <paramref name="round"/> (round 0 = the random initial set), best first.</summary>
    Task<SampleScore[]> GetSelection(int round);

    /// <summary>
    /// Imports labels for the round the experiment is waiting on (external label source). Every selected sample
    /// must get exactly one label in the dataset's class range; anything else is refused and nothing changes.
    /// </summary>
    Task<ExperimentStatus> ImportLabels(int round, SampleLabel[] labels);
}

/// <summary>A shard's scoring request for one round.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ScoreRequest")]
public sealed record ScoreRequest
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Round being scored.</summary>
    [Id(1)] public int Round { get; init; }

    /// <summary>The selector checkpoint to score with (null for random selection).</summary>
    [Id(2)] public ArtifactRef? Selector { get; init; }

    /// <summary>The labeled-set artifact for this round (samples to skip).</summary>
    [Id(3)] public ArtifactRef Labeled { get; init; } = new("", "");

    /// <summary>Metric name.</summary>
    [Id(4)] public string Metric { get; init; } = "least-confidence";

    /// <summary>How many to return (the round size).</summary>
    [Id(5)] public int K { get; init; }

    /// <summary>Experiment seed (random metric).</summary>
    [Id(6)] public long Seed { get; init; }
}

/// <summary>A label given to a sample by an external annotator.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SampleLabel")]
public sealed record SampleLabel([property: Id(0)] long SampleId, [property: Id(1)] int Label);

/// <summary>One selected or candidate sample, with the selector's predicted class (−1 when none: random, k-center, initial set).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SampleScore")]
public sealed record SampleScore([property: Id(0)] long SampleId, [property: Id(1)] double Score, [property: Id(2)] int Shard, [property: Id(3)] int Predicted = -1);

/// <summary>A shard's answer: its local top-k (and k-center candidates' features when that metric is used).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ShardScoreResult")]
public sealed record ShardScoreResult
{
    /// <summary>Local top-k, best first.</summary>
    [Id(0)] public SampleScore[] TopK { get; init; } = [];

    /// <summary>Unlabeled samples scored.</summary>
    [Id(1)] public long Scored { get; init; }

    /// <summary>Seconds spent.</summary>
    [Id(2)] public double Seconds { get; init; }

    /// <summary>Features of the k-center candidates, aligned with <see cref="TopK"/> (empty otherwise).</summary>
    [Id(3)] public float[][] Features { get; init; } = [];

    /// <summary>Silo that did the work.</summary>
    [Id(5)] public string Silo { get; init; } = "";
}

/// <summary>Owns one pool shard (key = "datasetId/shardIndex"); scores its unlabeled samples with a round's selector.</summary>
[Alias("prunefuse.IPoolShardGrain")]
public interface IPoolShardGrain : IGrainWithStringKey
{
    /// <summary>Scores the shard's unlabeled samples and returns its local top-k. Cancellation (an experiment cancel, a stopping silo) ends it within a batch.</summary>
    [ResponseTimeout("00:30:00")]
    Task<ShardScoreResult> Score(ScoreRequest request, CancellationToken cancellationToken = default);
}

/// <summary>A selector training request.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SelectorTrainRequest")]
public sealed record SelectorTrainRequest
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Round (Rounds+1 = the final selector trained on the whole budget).</summary>
    [Id(1)] public int Round { get; init; }

    /// <summary>Labeled set to train on.</summary>
    [Id(2)] public ArtifactRef Labeled { get; init; } = new("", "");
}

/// <summary>A trained selector.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SelectorTrainResult")]
public sealed record SelectorTrainResult
{
    /// <summary>Where the trained selector is.</summary>
    [Id(0)] public ArtifactRef Checkpoint { get; init; } = new("", "");

    /// <summary>Test accuracy of the trained selector.</summary>
    [Id(1)] public double Accuracy { get; init; }

    /// <summary>Training seconds.</summary>
    [Id(2)] public double Seconds { get; init; }

    /// <summary>Silo that trained it.</summary>
    [Id(3)] public string Silo { get; init; } = "";
}

/// <summary>Trains the round's selector network (key = experiment id).</summary>
[Alias("prunefuse.ISelectorGrain")]
public interface ISelectorGrain : IGrainWithStringKey
{
    /// <summary>Trains the selector from its θ0 slice on the labeled set and stores the checkpoint. Cancellation ends it within a batch.</summary>
    [ResponseTimeout("02:00:00")]
    Task<SelectorTrainResult> Train(SelectorTrainRequest request, CancellationToken cancellationToken = default);

    /// <summary>Progress of the training running on this grain, or null when none ran yet (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    Task<TrainingProgress?> GetTrainingProgress();
}

/// <summary>A final-training request.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.FusionRequest")]
public sealed record FusionRequest
{
    /// <summary>Experiment id.</summary>
    [Id(0)] public string ExperimentId { get; init; } = "";

    /// <summary>Final labeled set.</summary>
    [Id(1)] public ArtifactRef Labeled { get; init; } = new("", "");

    /// <summary>Trained selector (teacher and fusion source); null when there is none.</summary>
    [Id(2)] public ArtifactRef? Selector { get; init; }
}

/// <summary>Fuses the selector into θ0 and trains the full network (key = experiment id).</summary>
[Alias("prunefuse.IFusionGrain")]
public interface IFusionGrain : IGrainWithStringKey
{
    /// <summary>Builds the final network (fused or from θ0), trains it with distillation, evaluates and stores it.</summary>
    [ResponseTimeout("04:00:00")]
    Task<FinalResult> FuseAndTrain(FusionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Progress of the final training running on this grain, or null when none ran yet (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    Task<TrainingProgress?> GetTrainingProgress();
}

/// <summary>Lists what the store holds (key: any; stateless).</summary>
[Alias("prunefuse.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    /// <summary>Every imported dataset.</summary>
    Task<DatasetInfo[]> ListDatasets();

    /// <summary>Every experiment with its current status.</summary>
    Task<ExperimentStatus[]> ListExperiments();
}

/// <summary>A trained network exported for use outside .NET: the weights file and its JSON description.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ExportedModel")]
public sealed record ExportedModel
{
    /// <summary>Which network: <c>final</c> (fused and trained) or <c>selector</c> (the last trained selector).</summary>
    [Id(0)] public string Network { get; init; } = "";

    /// <summary>Suggested weights file name, e.g. <c>final.pt</c>.</summary>
    [Id(1)] public string WeightsFile { get; init; } = "";

    /// <summary>The state dict in the requested format.</summary>
    [Id(2)] public byte[] Weights { get; init; } = [];

    /// <summary>Suggested description file name, e.g. <c>final.json</c>.</summary>
    [Id(3)] public string DescriptionFile { get; init; } = "";

    /// <summary>Architecture, widths, normalisation, class names (JSON, format <c>prunefuse-resnet/1</c>).</summary>
    [Id(4)] public string Description { get; init; } = "";

    /// <summary>The checkpoint artifact the export was made from.</summary>
    [Id(5)] public string Source { get; init; } = "";
}

/// <summary>Exports an experiment's trained networks in PyTorch-readable formats (key = experiment id; stateless).</summary>
[Alias("prunefuse.IModelExportGrain")]
public interface IModelExportGrain : IGrainWithStringKey
{
    /// <summary>
    /// Exports <paramref name="network"/> (<c>final</c> or <c>selector</c>) as <paramref name="format"/>
    /// (<c>pytorch</c> or <c>safetensors</c>). Refused, naming the problem, when the network does not exist yet.
    /// </summary>
    [ResponseTimeout("00:05:00")]
    Task<ExportedModel> Export(string network, string format);
}
