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
    /// Imports an image-folder dataset from folders on the silo's machine. Unreadable images refuse the import,
    /// listing their paths, unless <see cref="ImageImportRequest.SkipBad"/>. Same import again: a no-op.
    /// </summary>
    [ResponseTimeout("02:00:00")]
    Task<ImageImportResult> ImportImages(ImageImportRequest request);

    /// <summary>Progress of the import running on this grain (answers while it runs).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    [ViewerMayCall]
    Task<ImportProgress> GetImportProgress();

    /// <summary>The dataset's description; throws if it was never imported.</summary>
    [ViewerMayCall]
    Task<DatasetInfo> Describe();

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

    /// <summary>Where the dataset came from: <c>fashion-mnist</c> or <c>images</c>.</summary>
    [Id(8)] public string Source { get; init; } = "";

    /// <summary>Set on an import's answer when the dataset already existed as asked, so nothing was written.</summary>
    [Id(9)] public bool AlreadyImported { get; init; }
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
