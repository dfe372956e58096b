using PruneFuse.Grains.Interfaces.Security;

namespace PruneFuse.Grains.Interfaces;

/// <summary>Imports and describes one dataset (key = dataset id).</summary>
[Alias("prunefuse.IDatasetGrain")]
public interface IDatasetGrain : IGrainWithStringKey
{
    /// <summary>Imports Fashion-MNIST IDX files from a folder on the silo into <paramref name="shards"/> pool shards and a test shard.</summary>
    [ResponseTimeout("00:30:00")]
    Task<DatasetInfo> ImportFashionMnist(string sourceDirectory, int shards, int poolLimit);

    /// <summary>
    /// Imports a dataset in any format of <see cref="ImportFormats"/> from the silo's file system, streaming it into
    /// shards of at most <see cref="DatasetImportRequest.ShardSize"/> bytes. Unreadable images refuse the import,
    /// naming them, unless <see cref="DatasetImportRequest.SkipBad"/>; a refused or failed import leaves nothing.
    /// The same import again is a no-op; <see cref="DatasetImportRequest.DryRun"/> lists the source and writes nothing.
    /// </summary>
    [ResponseTimeout("1.00:00:00")]
    Task<DatasetImportResult> Import(DatasetImportRequest request);

    /// <summary>Progress of the import running on this grain (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    [ViewerMayCall]
    Task<ImportProgress> GetImportProgress();

    /// <summary>The dataset's description; throws if it was never imported.</summary>
    [ViewerMayCall]
    Task<DatasetInfo> Describe();

    /// <summary>
    /// Where each of at most <c>10,000</c> pool samples came from (relative path, tar member key, array index), in
    /// the order asked; empty strings for a dataset imported without source keys (Fashion-MNIST's IDX files).
    /// </summary>
    [ResponseTimeout("00:05:00")]
    [ViewerMayCall]
    Task<string[]> GetSourceKeys(long[] sampleIds);

    /// <summary>Pixels of at most <c>10,000</c> pool samples, in the order asked; unknown ids are refused by name.</summary>
    [ResponseTimeout("00:05:00")]
    [ViewerMayCall]
    Task<SampleImages> GetSamples(long[] sampleIds);

    /// <summary>
    /// Removes the dataset (manifest first, then its shards). Refused while it is being imported or while a running
    /// experiment uses it; experiments that used it are left as they are.
    /// </summary>
    [ResponseTimeout("00:10:00"), Orleans.Concurrency.AlwaysInterleave]
    Task<Deletion> Delete();
}

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

    /// <summary>Where the dataset came from: <c>fashion-mnist</c> or an import format's name.</summary>
    [Id(8)] public string Source { get; init; } = "";

    /// <summary>Set on an import's answer when the dataset already existed as asked, so nothing was written.</summary>
    [Id(9)] public bool AlreadyImported { get; init; }
}

/// <summary>The formats <see cref="IDatasetGrain.Import"/> reads (the silo's registry holds the same names).</summary>
public static class ImportFormats
{
    /// <summary>Format names, as users pass them to <c>--from</c>.</summary>
    public static readonly IReadOnlyList<string> Names = ["images", "manifest", "cifar", "npy", "webdataset"];

    /// <summary>Resize policies: stretch to the stored size, or scale the shorter side and crop the centre.</summary>
    public static readonly IReadOnlyList<string> ResizePolicies = ["stretch", "shorter-side-crop"];

    /// <summary>Default shard size cap, 256 MB.</summary>
    public const long DefaultShardSize = 256L << 20;
}

/// <summary>An import: the source on the silo's file system, its format, the stored image size and the test
/// split.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.DatasetImportRequest")]
public sealed record DatasetImportRequest
{
    /// <summary>One of <see cref="ImportFormats.Names"/>.</summary>
    [Id(0)] public string Format { get; init; } = "images";

    /// <summary>The pool: a folder, a manifest, a <c>.npy</c>, a <c>.tar</c> or a folder of tars, by format.</summary>
    [Id(1)] public string Source { get; init; } = "";

    /// <summary>A labeled test source of the same format; empty = the format's own test split (CIFAR) or a held-out
    /// <see cref="TestFraction"/> of a labeled pool.</summary>
    [Id(2)] public string TestSource { get; init; } = "";

    /// <summary>Fraction of a labeled pool held out as the test set when there is no test source.</summary>
    [Id(3)] public double TestFraction { get; init; } = 0.2;

    /// <summary>Stored channels: 1 (grayscale) or 3 (RGB).</summary>
    [Id(4)] public int Channels { get; init; } = 3;

    /// <summary>Stored height.</summary>
    [Id(5)] public int Height { get; init; } = 32;

    /// <summary>Stored width.</summary>
    [Id(6)] public int Width { get; init; } = 32;

    /// <summary>One of <see cref="ImportFormats.ResizePolicies"/>.</summary>
    [Id(7)] public string Resize { get; init; } = "stretch";

    /// <summary>Largest pool shard in bytes (ids, labels and pixels); the shard count follows.</summary>
    [Id(8)] public long ShardSize { get; init; } = ImportFormats.DefaultShardSize;

    /// <summary>Leave unreadable images out (each reported) instead of refusing the import.</summary>
    [Id(9)] public bool SkipBad { get; init; }

    /// <summary>Seed of the held-out test split.</summary>
    [Id(10)] public long Seed { get; init; }

    /// <summary>NumPy: the pool's labels <c>.npy</c> (empty = an unlabeled pool).</summary>
    [Id(11)] public string Labels { get; init; } = "";

    /// <summary>NumPy: the test source's labels <c>.npy</c>.</summary>
    [Id(12)] public string TestLabels { get; init; } = "";

    /// <summary>A text file of class names, one per line by label (NumPy, tar shards, CIFAR).</summary>
    [Id(13)] public string ClassNamesFile { get; init; } = "";

    /// <summary>CIFAR-100: <c>fine</c> or <c>coarse</c> labels (empty = fine).</summary>
    [Id(14)] public string CifarLabels { get; init; } = "";

    /// <summary>List the source and report what would be stored, writing nothing.</summary>
    [Id(15)] public bool DryRun { get; init; }
}

/// <summary>The outcome of an import (or of a dry run).</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.DatasetImportResult")]
public sealed record DatasetImportResult
{
    /// <summary>The imported dataset; for a dry run, what it would be.</summary>
    [Id(0)] public DatasetInfo Dataset { get; init; } = new();

    /// <summary>Unreadable images left out (with --skip-bad), as "source: reason".</summary>
    [Id(1)] public string[] Skipped { get; init; } = [];

    /// <summary>Files ignored because they are not images of the format.</summary>
    [Id(2)] public int Ignored { get; init; }

    /// <summary>True when the dataset already existed with this very import (nothing was written).</summary>
    [Id(3)] public bool AlreadyImported { get; init; }

    /// <summary>True for a dry run: nothing was written.</summary>
    [Id(4)] public bool DryRun { get; init; }

    /// <summary>Bytes stored (or, for a dry run, to be stored) in pool and test shards.</summary>
    [Id(5)] public long StoredBytes { get; init; }

    /// <summary>What the listing left out and why (symbolic links already listed, …).</summary>
    [Id(6)] public string[] Notes { get; init; } = [];

    /// <summary>How source pixels were converted (channels, size, resize policy, alpha).</summary>
    [Id(7)] public string Conversion { get; init; } = "";

    /// <summary>Seconds spent decoding and writing.</summary>
    [Id(8)] public double Seconds { get; init; }

    /// <summary>Each silo's share of the decoding.</summary>
    [Id(9)] public SiloImport[] Silos { get; init; } = [];

    /// <summary>Pool shards an earlier, interrupted run of the same import had written, kept rather than decoded
    /// again.</summary>
    [Id(10)] public int ResumedShards { get; init; }
}

/// <summary>Progress of a running import: the stage, samples done of the total, and the decode rate.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ImportProgress")]
public sealed record ImportProgress([property: Id(0)] string Stage, [property: Id(1)] long Done,
    [property: Id(2)] long Total)
{
    /// <summary>Images decoded per second so far (0 before decoding starts).</summary>
    [Id(3)] public double ImagesPerSecond { get; init; }

    /// <summary>The silo running the import (its dataset grain).</summary>
    [Id(4)] public string Silo { get; init; } = "";

    /// <summary>Each silo's share of the decoding so far.</summary>
    [Id(5)] public SiloImport[] Silos { get; init; } = [];

    /// <summary>Pool shards already written by an earlier run of this import, resumed rather than decoded
    /// again.</summary>
    [Id(6)] public int ResumedShards { get; init; }
}

/// <summary>One silo's share of an import: shards written, images decoded, and its rate while it worked.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.SiloImport")]
public sealed record SiloImport([property: Id(0)] string Silo, [property: Id(1)] int Shards,
    [property: Id(2)] long Images, [property: Id(3)] double ImagesPerSecond);

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
