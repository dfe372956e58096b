namespace PruneFuse.Learning.Data.Import;

/// <summary>One sample of a listed source: the key that finds it at the source, and its label (−1 =
/// unlabeled).</summary>
/// <param name="Key">Relative path, manifest path, tar member key or array index, unique within the source.</param>
/// <param name="Label">Class index; −1 = unlabeled; −2 = missing in a labeled source (decoding the sample
/// fails).</param>
public sealed record SourceEntry(string Key, int Label);

/// <summary>
/// A source of images, listed once when opened: its classes, its samples in a stable order, and how to decode
/// one. <see cref="DecodeInto"/> is called from several threads at once.
/// </summary>
public interface IImageSource : IDisposable
{
    /// <summary>The format's registered name (<see cref="ImageSources"/>).</summary>
    string Format { get; }

    /// <summary>Where the source is (a path), for messages.</summary>
    string Location { get; }

    /// <summary>Class names by label; empty for an unlabeled source.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>The samples, in listing order (their ids follow it).</summary>
    IReadOnlyList<SourceEntry> Entries { get; }

    /// <summary>What the listing left out and why (non-image files, symlinks already listed), for the output.</summary>
    IReadOnlyList<string> Notes => [];

    /// <summary>Files left out because they are not images of this format.</summary>
    int Ignored => 0;

    /// <summary>
    /// Decodes entry <paramref name="index"/> into planar [C, H, W] pixels; a bad sample throws
    /// <see cref="DataFormatException"/> (or an I/O error) naming it.
    /// </summary>
    void DecodeInto(int index, ImageImportOptions options, Span<byte> destination);
}

/// <summary>Where a source is and how to read it; which fields matter depends on the format.</summary>
/// <param name="Path">The folder or file.</param>
/// <param name="Labels">A separate labels file (NumPy).</param>
/// <param name="ClassNamesFile">A text file with one class name per line, by label (NumPy, tar shards, CIFAR).</param>
/// <param name="LabelKind">CIFAR-100: <c>fine</c> (100 classes, default) or <c>coarse</c> (20).</param>
/// <param name="TestSplit">Read the source's own test split (CIFAR's test batch) instead of its training split.</param>
public sealed record SourceLocation(string Path, string? Labels = null, string? ClassNamesFile = null,
    string? LabelKind = null, bool TestSplit = false)
{
    /// <summary>The full path; an empty one is refused.</summary>
    public string FullPath(string what) =>
        string.IsNullOrWhiteSpace(Path) ? throw new ArgumentException($"{what} path is empty")
            : System.IO.Path.GetFullPath(Path);

    /// <summary>Class names from <see cref="ClassNamesFile"/>, or 0..count−1 when there is none.</summary>
    public IReadOnlyList<string> ClassNamesOr(int count)
    {
        if (string.IsNullOrEmpty(ClassNamesFile)) return [.. Enumerable.Range(0, count).Select(i
            => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        var file = System.IO.Path.GetFullPath(ClassNamesFile);
        if (!File.Exists(file)) throw new FileNotFoundException($"class names file not found: {file}", file);
        var names = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length < count)
        {
            throw new DataFormatException(file,
                $"names {names.Length} classes, but the labels go up to {count - 1} ({count} classes)");
        }
        return names;
    }
}

/// <summary>A registered import format.</summary>
/// <param name="Name">The name users pass (<c>--from</c>).</param>
/// <param name="Description">One line for help text.</param>
/// <param name="Open">Lists a source.</param>
/// <param name="HasTestSplit">The format carries its own test split (read with <see
/// cref="SourceLocation.TestSplit"/>).</param>
public sealed record ImageSourceFormat(string Name, string Description, Func<SourceLocation, IImageSource> Open,
    bool HasTestSplit = false);

/// <summary>The import formats, by name: adding a format is one file plus one line here.</summary>
public static class ImageSources
{
    /// <summary>Every format.</summary>
    public static IReadOnlyList<ImageSourceFormat> Formats { get; } =
    [
        new("images", "a folder: one sub-folder per class, or images only for an unlabeled pool",
            ImageFolderSource.Open),
        new("manifest", "a CSV or JSONL file of path,label rows (paths relative to the file)", ManifestSource.Open),
        new("cifar", "CIFAR-10/100 binary batches (data_batch_*.bin + test_batch.bin, or train.bin + test.bin)",
            CifarSource.Open, HasTestSplit: true),
        new("npy", "a NumPy uint8 array N×H×W or N×H×W×C, labels in a second .npy (--labels)", NumpySource.Open),
        new("webdataset", "tar shards in the WebDataset layout (key.jpg/png + key.cls): one .tar or a folder of them",
            WebDatasetSource.Open),
    ];

    /// <summary>The format named <paramref name="name"/>; an unknown name is refused with the list.</summary>
    public static ImageSourceFormat Find(string name) =>
        Formats.FirstOrDefault(f => f.Name == name)
        ?? throw new ArgumentException($"unknown import format '{name}'; formats: {string.Join(", "
            + "", Formats.Select(f => f.Name))}");
}
