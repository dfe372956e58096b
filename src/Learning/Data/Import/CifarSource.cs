using Microsoft.Win32.SafeHandles;

namespace PruneFuse.Learning.Data.Import;

/// <summary>
/// CIFAR-10/100 binary batches as an import source (format <c>cifar</c>). CIFAR-10: <c>data_batch_*.bin</c> (training)
/// and <c>test_batch.bin</c>, records of 1 label byte + 3,072 pixel bytes, class names from <c>batches.meta.txt</c>.
/// CIFAR-100: <c>train.bin</c> and <c>test.bin</c>, records of a coarse and a fine label byte + 3,072 pixel bytes,
/// names from <c>fine_label_names.txt</c> / <c>coarse_label_names.txt</c>. Pixels are stored R, G, B planes of 32×32.
/// </summary>
public sealed class CifarSource : IImageSource
{
    private const int PixelBytes = 3 * 32 * 32;
    private readonly SafeFileHandle[] _files;
    private readonly string[] _paths;
    private readonly (int File, long Offset)[] _records;
    private readonly int _recordBytes;

    private CifarSource(string folder, string[] paths, int labelBytes, int labelAt, IReadOnlyList<string>? names,
        int classCount)
    {
        Location = folder;
        _paths = paths;
        _recordBytes = labelBytes + PixelBytes;
        _files = [.. paths.Select(p => File.OpenHandle(p))];
        var entries = new List<SourceEntry>();
        var records = new List<(int, long)>();
        try
        {
            for (var f = 0; f < paths.Length; f++)
            {
                var length = RandomAccess.GetLength(_files[f]);
                if (length == 0 || length % _recordBytes != 0)
                {
                    throw new DataFormatException(paths[f],
                        $"is {length} bytes, not a whole number of {_recordBytes}-byte records: truncated or not "
                        + $"CIFAR");
                }
                var label = new byte[labelBytes];
                for (long r = 0, n = length / _recordBytes; r < n; r++)
                {
                    RandomAccess.Read(_files[f], label, r * _recordBytes);
                    if (label[labelAt] >= classCount)
                    {
                        throw new DataFormatException(paths[f],
                            $"record {r} has label {label[labelAt]}, outside 0..{classCount - 1}");
                    }
                    entries.Add(new SourceEntry($"{Path.GetFileName(paths[f])}#{r}", label[labelAt]));
                    records.Add((f, r * _recordBytes + labelBytes));
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        Entries = entries;
        _records = [.. records];
        ClassNames = names ?? [.. Enumerable.Range(0, classCount).Select(i
            => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
    }

    /// <summary>Lists the training (or, with <see cref="SourceLocation.TestSplit"/>, the test) batches of a CIFAR
    /// folder.</summary>
    public static IImageSource Open(SourceLocation location)
    {
        var folder = location.FullPath("CIFAR folder");
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"CIFAR folder not found: {folder}");
        string At(string name) => Path.Combine(folder, name);
        if (File.Exists(At("train.bin")) || File.Exists(At("test.bin")))
        {
            var kind = location.LabelKind ?? "fine";
            if (kind is not ("fine" or "coarse")) throw new ArgumentException($"CIFAR-100 labels are 'fine' or "
                + $"'coarse', got '{kind}'");
            var file = At(location.TestSplit ? "test.bin" : "train.bin");
            if (!File.Exists(file)) throw new FileNotFoundException($"CIFAR-100 folder {folder} has no "
                + $"{Path.GetFileName(file)}", file);
            var classes = kind == "fine" ? 100 : 20;
            return new CifarSource(folder, [file], 2, kind == "fine" ? 1 : 0, Names(At($"{kind}_label_names.txt"),
                classes, location), classes);
        }
        if (location.LabelKind is not null) throw new ArgumentException("--cifar-labels applies to CIFAR-100 "
            + "(train.bin/test.bin) only");
        var batches = location.TestSplit
            ? [At("test_batch.bin")]
            : Directory.GetFiles(folder, "data_batch_*.bin").Order(StringComparer.Ordinal).ToArray();
        if (batches.Length == 0 || !File.Exists(batches[0]))
        {
            throw new FileNotFoundException($"{folder} holds no CIFAR batches: expected data_batch_*.bin and "
                + $"test_batch.bin (CIFAR-10) " +
                "or train.bin and test.bin (CIFAR-100), the 'binary version' downloads", folder);
        }
        return new CifarSource(folder, batches, 1, 0, Names(At("batches.meta.txt"), 10, location), 10);
    }

    private static IReadOnlyList<string>? Names(string file, int classes, SourceLocation location)
    {
        if (!string.IsNullOrEmpty(location.ClassNamesFile)) return location.ClassNamesOr(classes);
        if (!File.Exists(file)) return null;
        var names = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length == classes ? names : throw new DataFormatException(file,
            $"names {names.Length} classes, expected {classes}");
    }

    /// <inheritdoc />
    public string Format => "cifar";

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc />
    public IReadOnlyList<SourceEntry> Entries { get; }

    /// <inheritdoc />
    public void DecodeInto(int index, ImageImportOptions options, Span<byte> destination)
    {
        var (file, offset) = _records[index];
        var pixels = new byte[PixelBytes];
        if (RandomAccess.Read(_files[file], pixels, offset) != PixelBytes)
        {
            throw new DataFormatException(_paths[file], $"record {Entries[index].Key} is cut short");
        }
        ImageDecoder.DecodeRaw(pixels, 3, 32, 32, channelsLast: false, options, destination);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _files) f?.Dispose();
    }
}
